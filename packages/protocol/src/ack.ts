import type { ErrorBody } from './errors.js';

/** What every command's acknowledgement carries: its result, or a typed error. */
export type Ack<T> = { ok: true; data: T } | { ok: false; error: ErrorBody };
