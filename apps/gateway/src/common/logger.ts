import { pino, type Logger } from 'pino';

/** The process's one structured JSON logger; Nest's Logger writes through it (nestjs-pino). */
export function createLogger(level: string): Logger {
  return pino({
    level,
    base: { service: 'parley-gateway' },
    // Defence in depth: the code logs ids and codes only, but never let a credential through by accident.
    redact: ['req.headers.authorization', 'req.headers.cookie', 'token', 'auth', 'passphrase'],
    serializers: { err: pino.stdSerializers.wrapErrorSerializer(safeError) },
  });
}

/** An error as it reaches the logs: what it is and where it came from, none of the values it carries. */
export interface SafeError extends Record<string, unknown> {
  type: string;
  message: string;
  code?: string | number;
  stack?: string;
}

/**
 * The `err` serialiser of every logger: keeps an error's class, code, message and stack and drops every other
 * field. TypeORM's QueryFailedError carries the query's `parameters` (an NHS number, a date of birth, a backup
 * blob, an auth-key hash) and the driver's `detail` ("Key (nhs_number)=(…) already exists") as enumerable fields,
 * which pino's own serialiser would copy into the log. Takes a raw error or pino's serialised form of one
 * (pino-http wraps it that way); PostgreSQL quotes a rejected value in some messages
 * (`invalid input syntax for type uuid: "…"`), so a database error's quoted values are cut from its message and stack.
 */
export function safeError(value: unknown): SafeError {
  // A thrown string or number is a value like any other.
  if (typeof value !== 'object' || value === null) return { type: value === null ? 'null' : typeof value, message: '' };
  const error = value as { type?: unknown; message?: unknown; code?: unknown; stack?: unknown };
  const isFromDatabase = ['query', 'parameters', 'driverError', 'severity'].some((key) => key in value);
  const scrub = (text: string) => (isFromDatabase ? text.replace(/: ".*?"/g, ': "[value]"') : text);
  // pino's serialised form names the class in `type`; on a raw error `type` may be a field of its own (body-parser's).
  const type = value instanceof Error || typeof error.type !== 'string' ? (value.constructor?.name ?? 'Object') : error.type;
  return {
    type,
    message: scrub(String(error.message ?? '')),
    ...((typeof error.code === 'string' || typeof error.code === 'number') && { code: error.code }),
    ...(typeof error.stack === 'string' && { stack: scrub(error.stack) }),
  };
}
