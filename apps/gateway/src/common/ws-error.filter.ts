import { type ArgumentsHost, Catch, Logger, type WsExceptionFilter } from '@nestjs/common';
import type { Ack, ErrorBody } from '@parley/protocol';
import type { Socket } from 'socket.io';
import { asDomainError, DomainError } from './domain-error.js';

const logger = new Logger('WsErrorFilter');

/** Answers a failed socket command on its own ack: a DomainError as it is, a busy database as `rate_limited`, anything else as `internal` with no detail. */
@Catch()
export class WsErrorFilter implements WsExceptionFilter {
  catch(exception: unknown, host: ArgumentsHost): void {
    const [socket, , ack, event] = host.getArgs<[Socket, unknown, unknown, unknown]>();
    answerFailure(socket, event, exception, ack);
  }
}

/** The filter's answer, for a handler the socket calls directly (`conversation:send`): logged and acked the same way. */
export function answerFailure(socket: Socket, event: unknown, exception: unknown, ack: unknown): void {
  const domain = asDomainError(exception);
  const error: ErrorBody = (domain ?? new DomainError('internal')).toBody();
  if (error.code === 'internal') {
    logger.error({ socketId: socket.id, event, err: exception }, 'socket command failed');
  } else if (domain !== exception) {
    logger.warn({ socketId: socket.id, event, code: error.code, reason: (exception as Error).message }, 'socket command refused: database busy');
  } else {
    logger.debug({ socketId: socket.id, event, code: error.code }, 'socket command refused');
  }
  const answer: Ack<never> = { ok: false, error };
  if (typeof ack === 'function') ack(answer);
}
