import { type ArgumentsHost, Catch, Logger, type WsExceptionFilter } from '@nestjs/common';
import type { Ack, ErrorBody } from '@parley/protocol';
import type { Socket } from 'socket.io';
import { asDomainError, DomainError } from './domain-error.js';

/** Answers a failed socket command on its own ack: a DomainError as it is, a busy database as `rate_limited`, anything else as `internal` with no detail. */
@Catch()
export class WsErrorFilter implements WsExceptionFilter {
  private readonly logger = new Logger(WsErrorFilter.name);

  catch(exception: unknown, host: ArgumentsHost): void {
    const [socket, , ack, event] = host.getArgs<[Socket, unknown, unknown, unknown]>();
    const domain = asDomainError(exception);
    const error: ErrorBody = (domain ?? new DomainError('internal')).toBody();
    if (error.code === 'internal') {
      this.logger.error({ socketId: socket.id, event, err: exception }, 'socket command failed');
    } else if (domain !== exception) {
      this.logger.warn({ socketId: socket.id, event, code: error.code, reason: (exception as Error).message }, 'socket command refused: database busy');
    } else {
      this.logger.debug({ socketId: socket.id, event, code: error.code }, 'socket command refused');
    }
    const answer: Ack<never> = { ok: false, error };
    if (typeof ack === 'function') ack(answer);
  }
}
