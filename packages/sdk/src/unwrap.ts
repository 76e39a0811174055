import type { HttpResult } from '@parley/client';
import { AccountFlowError } from './accounts.js';

/** The data of a route's answer, or an AccountFlowError naming the step that failed (internal to this package's flows). */
export function unwrap<T>(result: HttpResult<T>, step: string): T {
  if (result.ok) return result.data;
  throw AccountFlowError.of(result.error, step);
}
