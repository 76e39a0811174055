import { type ArgumentsHost, Catch, type ExceptionFilter, HttpException, Logger } from '@nestjs/common';
import type { ErrorBody, ErrorCode } from '@parley/protocol';
import type { Response } from 'express';
import { asDomainError, DomainError } from './domain-error.js';

const STATUS_OF: Record<ErrorCode, number> = {
  invalid_payload: 400,
  unauthorized: 401,
  forbidden: 403,
  not_found: 404,
  outside_hours: 409,
  at_capacity: 409,
  patient_limit: 409,
  conflict: 409,
  rate_limited: 429,
  too_large: 413,
  internal: 500,
};

/** Answers every failed HTTP route with `{ error: { code, message } }` from the closed error set. */
@Catch()
export class HttpErrorFilter implements ExceptionFilter {
  private readonly logger = new Logger(HttpErrorFilter.name);

  catch(exception: unknown, host: ArgumentsHost): void {
    const response = host.switchToHttp().getResponse<Response>();
    const error = toErrorBody(exception);
    if (error.code === 'internal') this.logger.error({ err: exception }, 'request failed');
    response.status(STATUS_OF[error.code]).json({ error });
  }
}

function toErrorBody(exception: unknown): ErrorBody {
  const domain = asDomainError(exception);
  if (domain) return domain.toBody();
  if (exception instanceof HttpException) {
    const status = exception.getStatus();
    if (status === 404) return new DomainError('not_found').toBody();
    if (status === 413 || status === 400) return new DomainError('invalid_payload').toBody();
  }
  return new DomainError('internal').toBody();
}
