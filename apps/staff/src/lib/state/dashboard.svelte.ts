import type { Dashboard } from '@parley/protocol';
import { contextPair } from '@parley/ui';
import type { StaffConnection } from '../connection';
import { explain } from '../words';

/** Managers: today's figures and the per-hour series, re-read whenever the live queue changes (at most once a second). */
export class DashboardState {
  data = $state.raw<Dashboard | null>(null);
  notice = $state<string | null>(null);
  private pending: ReturnType<typeof setTimeout> | undefined;
  private timer: ReturnType<typeof setInterval> | undefined;
  private readonly onUpdated = () => {
    this.pending ??= setTimeout(() => {
      this.pending = undefined;
      void this.refresh();
    }, 1_000);
  };

  constructor(private readonly connection: StaffConnection) {}

  async start(): Promise<void> {
    this.connection.chat.client.on('queue:updated', this.onUpdated);
    // The day's figures move without a queue change too (waits grow, the hour turns).
    this.timer = setInterval(() => void this.refresh(), 60_000);
    await this.refresh();
  }

  stop(): void {
    this.connection.chat.client.off('queue:updated', this.onUpdated);
    clearTimeout(this.pending);
    clearInterval(this.timer);
  }

  async refresh(): Promise<void> {
    const result = await this.connection.chat.client.request('dashboard:get', {});
    if (result.ok) this.data = result.data;
    else this.notice = explain(result.error.code);
  }
}

export const [setDashboardState, getDashboardState] = contextPair<DashboardState>('dashboard');
