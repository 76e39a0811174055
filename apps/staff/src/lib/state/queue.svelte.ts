import type { ClinicianState, QueueSnapshot, SetPracticeLimits } from '@parley/protocol';
import { contextPair } from '@parley/ui';
import type { StaffConnection } from '../connection';
import { explain } from '../words';

/** The practice's live queue and every clinician's load, as the server pushes it; availability, claims and (managers) capacity. */
export class QueueState {
  snapshot = $state.raw<QueueSnapshot | null>(null);
  /** Ticks every second so waiting times stay current without a server round trip. */
  now = $state(Date.now());
  notice = $state<string | null>(null);

  readonly me = $derived<ClinicianState | null>(this.snapshot?.clinicians.find((c) => c.clinicianId === this.userId) ?? null);
  /** In queue order, as the server lists it: urgent ones (marked after the red-flag advice) first. */
  readonly waiting = $derived(this.snapshot?.waiting ?? []);
  readonly urgentCount = $derived(this.waiting.filter((entry) => entry.urgentAt !== null).length);
  readonly clinicians = $derived(this.snapshot?.clinicians ?? []);
  readonly limits = $derived<SetPracticeLimits | null>(this.snapshot?.limits ?? null);
  readonly isAvailable = $derived(this.me?.availability === 'available');
  readonly canClaim = $derived(this.me !== null && this.isAvailable && this.me.active < this.me.maxConcurrent);
  readonly longestWaitMs = $derived(this.waiting.reduce((longest, entry) => Math.max(longest, this.now - Date.parse(entry.waitingSince)), 0));

  private timer: ReturnType<typeof setInterval> | undefined;
  private readonly onUpdated = (snapshot: QueueSnapshot) => void (this.snapshot = snapshot);
  private readonly onResync = () => void this.refresh();

  constructor(private readonly connection: StaffConnection) {}

  private get userId(): string {
    return this.connection.signedIn.session.user.id;
  }

  /** Subscribes to the live queue (and re-reads it after a reconnection that lost facts). */
  async start(): Promise<void> {
    this.connection.chat.client.on('queue:updated', this.onUpdated);
    this.connection.chat.client.on('resync-needed', this.onResync);
    this.timer = setInterval(() => (this.now = Date.now()), 1_000);
    await this.refresh();
  }

  stop(): void {
    this.connection.chat.client.off('queue:updated', this.onUpdated);
    this.connection.chat.client.off('resync-needed', this.onResync);
    clearInterval(this.timer);
  }

  async refresh(): Promise<void> {
    const result = await this.connection.chat.client.request('queue:list', {});
    if (result.ok) this.snapshot = result.data;
    else this.notice = explain(result.error.code);
  }

  async setAvailability(availability: 'available' | 'away'): Promise<void> {
    const result = await this.connection.chat.client.request('staff:availability', { availability });
    this.notice = result.ok ? null : explain(result.error.code);
    await this.refresh();
  }

  /** Takes a waiting conversation; the assignment fact opens it. Returns whether the server agreed. */
  async claim(conversationId: string): Promise<boolean> {
    try {
      await this.connection.chat.conversation(conversationId).claim();
      this.notice = null;
      return true;
    } catch (error) {
      this.notice = explain((error as { code?: string }).code ?? 'internal');
      return false;
    }
  }

  /** Managers: a clinician's concurrent and daily caps, live. */
  async setClinicianCaps(clinicianId: string, maxConcurrent: number, dailyMax: number | null): Promise<boolean> {
    const result = await this.connection.chat.client.request('capacity:set-clinician', { clinicianId, maxConcurrent, dailyMax });
    this.notice = result.ok ? 'Saved.' : explain(result.error.code);
    if (result.ok) await this.refresh();
    return result.ok;
  }

  /** Managers: the practice's queue limit, daily demand cap and intake pause, live. */
  async setPracticeLimits(limits: SetPracticeLimits): Promise<boolean> {
    const result = await this.connection.chat.client.request('capacity:set-practice', limits);
    this.notice = result.ok ? 'Saved.' : explain(result.error.code);
    if (result.ok) await this.refresh();
    return result.ok;
  }

  displayNameOf(userId: string): string {
    return this.clinicians.find((c) => c.clinicianId === userId)?.displayName ?? 'a colleague';
  }
}

export const [setQueueState, getQueueState] = contextPair<QueueState>('queue');
