import type { LoggerService } from '@nestjs/common';
import { pino, type Level, type Logger } from 'pino';
import { pinoHttp, type HttpLogger } from 'pino-http';

/** The process's one structured JSON logger; Nest's Logger writes through it (PinoNestLogger). */
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

/**
 * Nest's logger service over the process's pino logger: `new Logger('Drain').log({ unanswered: 3 }, 'drained')` writes
 * `{"context":"Drain","unanswered":3,"msg":"drained"}`. No request context is carried into these lines: keeping one
 * needs an AsyncLocalStorage, which on Node 20 turns on promise hooks for every promise of the process once first used
 * (nestjs-pino did, at the first HTTP request) and cost the message path about a sixth of its CPU (docs/benchmarks.md).
 * Request lines carry their id (httpLogger).
 */
export class PinoNestLogger implements LoggerService {
  constructor(private readonly logger: Logger) {}

  verbose(message: unknown, ...params: unknown[]): void {
    this.write('trace', message, params);
  }

  debug(message: unknown, ...params: unknown[]): void {
    this.write('debug', message, params);
  }

  log(message: unknown, ...params: unknown[]): void {
    this.write('info', message, params);
  }

  warn(message: unknown, ...params: unknown[]): void {
    this.write('warn', message, params);
  }

  error(message: unknown, ...params: unknown[]): void {
    this.write('error', message, params);
  }

  fatal(message: unknown, ...params: unknown[]): void {
    this.write('fatal', message, params);
  }

  /** Nest passes the context last; its own exception handlers call `error(message, stack, context)`. */
  private write(level: Level, message: unknown, params: unknown[]): void {
    if (!this.logger.isLevelEnabled(level)) return;
    const fields: Record<string, unknown> = {};
    const rest = params.slice(0, -1);
    if (params.length > 0) fields.context = params[params.length - 1];
    if (message instanceof Error) {
      this.logger[level]({ ...fields, err: message }, ...(rest as []));
    } else if (typeof message === 'object' && message !== null) {
      this.logger[level]({ ...fields, ...message }, ...(rest as []));
    } else if (level === 'error' && rest.length === 1 && typeof rest[0] === 'string' && /\n\s*at /.test(rest[0])) {
      this.logger.error({ ...fields, err: Object.assign(new Error(String(message)), { stack: rest[0] }) });
    } else {
      this.logger[level](fields, String(message), ...(rest as []));
    }
  }
}

/** One line per HTTP request: its id, method, path and status; no headers, query strings or bodies. */
export function httpLogger(logger: Logger): HttpLogger {
  return pinoHttp({
    logger,
    genReqId: (request) => request.headers['x-request-id']?.toString().slice(0, 64) || crypto.randomUUID(),
    autoLogging: { ignore: (request) => request.url?.startsWith('/health') ?? false },
    quietReqLogger: true,
    serializers: {
      req: (request: { id: unknown; method: string; url: string }) => ({ id: request.id, method: request.method, path: request.url.split('?')[0] }),
      res: (response: { statusCode: number }) => ({ statusCode: response.statusCode }),
      // pino-http sets its own error serialiser on the logger: keep ours.
      err: safeError,
    },
  });
}
