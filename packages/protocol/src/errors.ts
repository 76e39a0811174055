/** The closed set of error codes a command's ack or an HTTP route may answer with. */
export const ERROR_CODES = [
  'invalid_payload',
  'unauthorized',
  'forbidden',
  'not_found',
  'outside_hours',
  'at_capacity',
  'patient_limit',
  'conflict',
  'too_large',
  'rate_limited',
  'internal',
] as const;

/** One of {@link ERROR_CODES}. */
export type ErrorCode = (typeof ERROR_CODES)[number];

/** The body of a failed ack or HTTP response: a code a client can act on, and a message for people. */
export interface ErrorBody {
  code: ErrorCode;
  message: string;
  /**
   * Facts a client can act on, e.g. `nextOpening` (an ISO instant) with `outside_hours`, or `limit` ('open' | 'daily')
   * and `max` with `patient_limit`, `limit` ('file' | 'conversation' | 'daily') and `maxBytes` with `too_large`. Ids, codes, numbers and times only, never content.
   */
  details?: Record<string, string | number | boolean | null>;
}
