import { asDomainError, DomainError } from '../common/domain-error.js';

/** Called by a send once its entry is in the record's queue: the next send of its lane may go ahead. */
export type Admit = () => void;

/**
 * The order of one device's sends in one conversation (docs/protocol.md, "Order"). A client may have many sends in
 * flight; each takes its place in its lane the moment the socket delivers it (synchronously, so in the order received)
 * and waits for the send before it to be handed to the record, which stores its queue in order. The checks in between
 * (session, authorisation, hours) may take different times, so without the lane a later send could overtake.
 *
 * When a send fails for a reason a client retries (`rate_limited`, `internal`) before reaching the record, the sends
 * queued behind it fail the same way instead of being stored ahead of it: the client sends them again, in order. A
 * send refused for good (`forbidden`, `conflict`, `invalid_payload`, …) does not hold the others back.
 */
export class SendLanes {
  /** Each lane's last send: resolves true once it reached the record or was refused for good, false when it failed retryably. */
  private readonly tails = new Map<string, Promise<boolean>>();

  /** Lanes with a send under way (for tests and metrics). */
  get size(): number {
    return this.tails.size;
  }

  /** Runs `work` in `key`'s lane, after the sends that entered it before; `work` calls `admit` once its entry is queued. */
  async run<T>(key: string, work: (admit: Admit) => Promise<T>): Promise<T> {
    const previous = this.tails.get(key);
    let settle!: (isInOrder: boolean) => void;
    const settled = new Promise<boolean>((resolve) => (settle = resolve));
    this.tails.set(key, settled);
    try {
      if (previous && !(await previous)) {
        throw new DomainError('rate_limited', 'An earlier message of yours was not stored; send them again in order.');
      }
      const result = await work(() => settle(true));
      settle(true);
      return result;
    } catch (error) {
      settle(!isRetryable(error));
      throw error;
    } finally {
      if (this.tails.get(key) === settled) this.tails.delete(key);
    }
  }
}

/** Whether a client sends the same message again after this failure (it keeps its place in the client's outbox). */
function isRetryable(error: unknown): boolean {
  const code = asDomainError(error)?.code ?? 'internal';
  return code === 'rate_limited' || code === 'internal';
}
