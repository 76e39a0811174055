/**
 * One tab per browser holds the live connection (Web Locks API): the lock is held while a promise
 * this tab owns is pending, and the browser frees it when the tab closes or crashes.
 */
export class TabLock {
  private releaseHeld: (() => void) | null = null;
  private pending: AbortController | null = null;

  /** @param name the lock's name, e.g. `parley-patient-connection` */
  constructor(private readonly name: string) {}

  /** Whether this tab holds the lock now. */
  get isHeld(): boolean {
    return this.releaseHeld !== null;
  }

  /** Takes the lock if no other tab holds it; resolves true when this tab holds it (also when it already did). */
  async tryAcquire(): Promise<boolean> {
    if (this.isHeld) return true;
    return this.request({ ifAvailable: true });
  }

  /**
   * Waits until every other tab let go, then takes the lock; resolves true once held, false when
   * {@link release} was called (or `signal` aborted) before that.
   */
  async acquire(signal?: AbortSignal): Promise<boolean> {
    if (this.isHeld) return true;
    const controller = new AbortController();
    this.pending = controller;
    signal?.addEventListener('abort', () => controller.abort(), { once: true });
    try {
      return await this.request({ signal: controller.signal });
    } catch {
      return false;
    } finally {
      if (this.pending === controller) this.pending = null;
    }
  }

  /** Lets go of the lock (or stops waiting for it), so another tab may take it. */
  release(): void {
    this.pending?.abort();
    this.pending = null;
    const release = this.releaseHeld;
    this.releaseHeld = null;
    release?.();
  }

  /** Resolves once the grant callback ran: true when granted, false when `ifAvailable` found it taken. */
  private request(options: LockOptions): Promise<boolean> {
    return new Promise<boolean>((resolveGranted, rejectGranted) => {
      navigator.locks
        .request(this.name, { mode: 'exclusive', ...options }, (lock) => {
          if (!lock) {
            resolveGranted(false);
            return undefined;
          }
          // Holding the lock means keeping this promise pending until release().
          return new Promise<void>((releaseLock) => {
            this.releaseHeld = releaseLock;
            resolveGranted(true);
          });
        })
        .catch(rejectGranted);
    });
  }
}
