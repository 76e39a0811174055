import { type ArgumentsHost, Catch, Logger, type WsExceptionFilter } from '@nestjs/common';
import type { Ack, ErrorBody } from '@parley/protocol';
import type { Socket } from 'socket.io';
import { DomainError } from './domain-error.js';

/** Answers a failed socket command on its own ack: a DomainError as it is, anything else as `internal` with no detail. */
@Catch()
export class WsErrorFilter implements WsExceptionFilter {
  private readonly logger = new Logger(WsErrorFilter.name);

  catch(exception: unknown, host: ArgumentsHost): void {
    const [socket, , ack, event] = host.getArgs<[Socket, unknown, unknown, unknown]>();
    const error: ErrorBody =
      exception instanceof DomainError
        ? { code: exception.code, message: exception.message, ...(exception.details && { details: exception.details }) }
        : { code: 'internal' as const, message: new DomainError('internal').message };
    if (error.code === 'internal') {
      this.logger.error({ socketId: socket.id, event, err: exception }, 'socket command failed');
    } else {
      this.logger.debug({ socketId: socket.id, event, code: error.code }, 'socket command refused');
    }
    const answer: Ack<never> = { ok: false, error };
    if (typeof ack === 'function') ack(answer);
  }
}
