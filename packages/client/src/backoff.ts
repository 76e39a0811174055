/** Retry timing shared by the outbox and the feed. */
export interface BackoffOptions {
  /** Delay before the first retry, before jitter. */
  baseMs: number;
  /** Upper bound of any delay. */
  maxMs: number;
}

/** Exponential delay for the given attempt (1-based) with "equal jitter": between half and all of it, so clients that failed together do not retry together. */
export function jitteredDelay(attempt: number, { baseMs, maxMs }: BackoffOptions): number {
  const ceiling = Math.min(maxMs, baseMs * 2 ** Math.max(0, attempt - 1));
  return ceiling / 2 + Math.random() * (ceiling / 2);
}

/**
 * Timers that can all be cut short at once: a reconnect makes waiting out a backoff pointless,
 * and stopping must not leave a loop asleep.
 */
export class Sleeper {
  private readonly wakers = new Set<() => void>();

  /** Resolves after `ms`, or earlier when {@link wakeAll} is called. */
  sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const wake = () => {
        clearTimeout(timer);
        this.wakers.delete(wake);
        resolve();
      };
      const timer = setTimeout(wake, ms);
      this.wakers.add(wake);
    });
  }

  /** Resolves when {@link wakeAll} is called. */
  untilWoken(): Promise<void> {
    return new Promise((resolve) => {
      const wake = () => {
        this.wakers.delete(wake);
        resolve();
      };
      this.wakers.add(wake);
    });
  }

  /** Ends every pending sleep now. */
  wakeAll(): void {
    for (const wake of [...this.wakers]) wake();
  }
}
