import { pino, type Logger } from 'pino';

/** The process's one structured JSON logger; Nest's Logger writes through it (nestjs-pino). */
export function createLogger(level: string): Logger {
  return pino({
    level,
    base: { service: 'parley-gateway' },
    // Defence in depth: the code logs ids and codes only, but never let a credential through by accident.
    redact: ['req.headers.authorization', 'req.headers.cookie', 'token', 'auth', 'passphrase'],
  });
}
