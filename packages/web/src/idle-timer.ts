/** What an {@link IdleTimer} needs. */
export interface IdleTimerOptions {
  /** How long without activity before `onIdle` runs, in milliseconds (> 0). */
  timeoutMs: number;
  /** Runs once each time the page has been idle for `timeoutMs` (e.g. lock the screen). */
  onIdle: () => void;
  /** Where activity is seen (default: `window`). */
  target?: EventTarget;
  /** Events that count as activity (default: pointer, key, touch and wheel). */
  events?: readonly string[];
}

/**
 * Events that mean a person is using the page. Mouse moves are left out (a resting hand on a mouse is
 * not presence), and so is `scroll`: the app scrolls by itself when a message arrives, which must
 * not keep an unattended screen unlocked (a person scrolling fires touch, wheel or key events).
 */
export const ACTIVITY_EVENTS = ['pointerdown', 'keydown', 'touchstart', 'wheel'] as const;

/**
 * Calls `onIdle` after a quiet period (privacy lock for a phone that someone else may pick up).
 * Any activity event restarts the countdown; after it fired, it does not fire again until {@link start} or activity restarts it.
 */
export class IdleTimer {
  private timer: ReturnType<typeof setTimeout> | null = null;
  private isRunning = false;
  private readonly onActivity = (): void => this.touch();

  constructor(private readonly options: IdleTimerOptions) {
    if (!(options.timeoutMs > 0)) throw new RangeError('timeoutMs must be a positive number of milliseconds');
  }

  /** Starts listening and counting; idempotent. */
  start(): void {
    if (this.isRunning) return;
    this.isRunning = true;
    const target = this.target();
    // Capture phase: a component stopping propagation must not keep the page from locking.
    for (const event of this.options.events ?? ACTIVITY_EVENTS) target.addEventListener(event, this.onActivity, { capture: true, passive: true });
    this.arm();
  }

  /** Records activity now: the countdown starts again. Ignored while stopped. */
  touch(): void {
    if (this.isRunning) this.arm();
  }

  /** Stops listening and counting. */
  stop(): void {
    if (!this.isRunning) return;
    this.isRunning = false;
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    const target = this.target();
    for (const event of this.options.events ?? ACTIVITY_EVENTS) target.removeEventListener(event, this.onActivity, { capture: true });
  }

  private arm(): void {
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.timer = null;
      this.options.onIdle();
    }, this.options.timeoutMs);
  }

  private target(): EventTarget {
    return this.options.target ?? window;
  }
}
