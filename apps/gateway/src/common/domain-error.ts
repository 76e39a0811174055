import type { ErrorBody, ErrorCode } from '@parley/protocol';

const DEFAULT_MESSAGES: Record<ErrorCode, string> = {
  invalid_payload: 'The request is not valid.',
  unauthorized: 'Sign in first.',
  forbidden: 'You may not do that.',
  not_found: 'Not found.',
  outside_hours: 'The practice is closed now.',
  at_capacity: 'The practice cannot take new conversations now.',
  patient_limit: "You have reached the practice's limit of online conversations for one patient.",
  conflict: 'That conflicts with what is already stored.',
  rate_limited: 'Too many requests; try again shortly.',
  too_large: "That is over the practice's size limit.",
  internal: 'Something went wrong on our side.',
};

/** A refusal the client can act on: its code goes back on the ack (or HTTP body) as it is. */
export class DomainError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string = DEFAULT_MESSAGES[code],
    /** Facts the client can act on (e.g. `nextOpening` with `outside_hours`); copied into the error body. Ids and times only, never content. */
    readonly details?: Record<string, string | number | boolean | null>,
  ) {
    super(message);
    this.name = 'DomainError';
  }

  /** The error as it goes back to the client, on an ack or in an HTTP body. */
  toBody(): ErrorBody {
    return { code: this.code, message: this.message, ...(this.details && { details: this.details }) };
  }
}

/** What pg-pool and pg say when no connection came within `connectionTimeoutMillis`: the database is saturated, not broken. */
const BUSY_DATABASE = /^(timeout exceeded when trying to connect|Connection terminated due to connection timeout)$/;

/**
 * An exception as a client may see it: a DomainError as it is; a saturated connection pool as
 * `rate_limited` (the client retries shortly, as it would after a flood refusal); anything else null (`internal`).
 */
export function asDomainError(exception: unknown): DomainError | null {
  if (exception instanceof DomainError) return exception;
  if (exception instanceof Error && BUSY_DATABASE.test(exception.message)) return new DomainError('rate_limited', 'The server is busy; try again shortly.');
  return null;
}
