import { Injectable, Logger, type OnApplicationBootstrap, type OnModuleDestroy } from '@nestjs/common';
import { Clock } from '../common/clock.js';
import { HoursService } from './hours.service.js';

// Wakes at least this often: to pick up schedule edits made on another gateway node.
const MAX_SLEEP_MS = 60_000;
// A wake a little after the transition, never before it.
const WAKE_MARGIN_MS = 50;

/**
 * Wakes at each practice's next status change (closing soon, cut-off, closing, opening), as computed
 * from the injected Clock, and has HoursService announce it. Tests move a FakeClock and call `tick()`
 * instead of waiting.
 */
@Injectable()
export class HoursScheduler implements OnApplicationBootstrap, OnModuleDestroy {
  private readonly logger = new Logger(HoursScheduler.name);
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> = Promise.resolve();
  private isStopped = false;

  constructor(
    private readonly hours: HoursService,
    private readonly clock: Clock,
  ) {}

  onApplicationBootstrap(): Promise<void> {
    return this.tick();
  }

  onModuleDestroy(): void {
    this.isStopped = true;
    clearTimeout(this.timer);
  }

  /** Recomputes every practice's status now (announcing changes), then sleeps until the next change. Ticks never overlap. */
  tick(): Promise<void> {
    this.running = this.running.then(() => this.run());
    return this.running;
  }

  private async run(): Promise<void> {
    clearTimeout(this.timer);
    let next: Date | null = null;
    try {
      next = await this.hours.refreshAll();
    } catch (error) {
      this.logger.error({ err: error }, 'opening hours refresh failed');
    }
    if (this.isStopped) return;
    const untilNext = next === null ? MAX_SLEEP_MS : Math.max(next.getTime() - this.clock.now().getTime(), 0) + WAKE_MARGIN_MS;
    this.timer = setTimeout(() => void this.tick(), Math.min(untilNext, MAX_SLEEP_MS));
    // The timer alone must not keep a process (or a test run) alive.
    this.timer.unref();
  }
}
