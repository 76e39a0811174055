import { DomainError } from './domain-error.js';

/**
 * At most `limit` tasks at once; the others wait in memory, in arrival order, and beyond `maxWaiting` are refused
 * `rate_limited` at once. A burst of work that holds a database connection each (opening conversations) then queues
 * here instead of in the pool's queue, where it would crowd out every other query of the node (DB_QUEUE_MAX).
 */
export class ConcurrencyLimit {
  private running = 0;
  private readonly waiting: (() => void)[] = [];

  constructor(
    private readonly limit: number,
    private readonly maxWaiting: number,
  ) {}

  /** Tasks waiting for a turn. */
  get queued(): number {
    return this.waiting.length;
  }

  /** Runs `task` when a turn is free. @throws DomainError `rate_limited` when `maxWaiting` tasks already wait */
  async run<T>(task: () => Promise<T>): Promise<T> {
    if (this.running < this.limit) this.running += 1;
    else if (this.waiting.length >= this.maxWaiting) throw new DomainError('rate_limited', 'The server is busy; try again shortly.');
    else await new Promise<void>((resolve) => this.waiting.push(resolve));
    try {
      return await task();
    } finally {
      // The turn passes straight to the next task waiting, if any.
      const next = this.waiting.shift();
      if (next) next();
      else this.running -= 1;
    }
  }
}
