import type { FollowUp, People } from '@parley/protocol';
import { contextPair } from '@parley/ui';
import type { StaffConnection } from '../connection';
import { explain } from '../words';

/** The practice's open follow-ups (the caller's first) with the names of their patients and owners, and marking one done. */
export class FollowUpsState {
  items = $state.raw<FollowUp[]>([]);
  /** Names by user id, from the server (`GET /api/people`). */
  names = $state.raw<Record<string, string>>({});
  notice = $state<string | null>(null);

  constructor(private readonly connection: StaffConnection) {}

  async refresh(): Promise<void> {
    const result = await this.connection.chat.client.request('follow-up:list', {});
    if (!result.ok) {
      this.notice = explain(result.error.code);
      return;
    }
    const items = result.data.followUps;
    const ids = [...new Set(items.flatMap((item) => [item.patientId, item.ownerId]))];
    // The route names up to 100 people at a time.
    const chunks = Array.from({ length: Math.ceil(ids.length / 100) }, (_, i) => ids.slice(i * 100, i * 100 + 100));
    const named = await Promise.all(chunks.map((chunk) => this.connection.request<People>('GET', `/api/people?ids=${chunk.join(',')}`)));
    // Rows and names change together, so a row never shows without its names.
    this.names = Object.assign({}, ...named.map((answer) => (answer.ok ? answer.data.people : {})));
    this.items = items;
  }

  /** A person's name, or a neutral word when the server could not name them (never their id). */
  nameOf(userId: string): string {
    return this.names[userId] ?? 'someone no longer listed';
  }

  async done(followUpId: string): Promise<void> {
    const result = await this.connection.chat.client.request('follow-up:done', { followUpId });
    this.notice = result.ok ? 'Marked as done.' : explain(result.error.code);
    await this.refresh();
  }
}

export const [setFollowUpsState, getFollowUpsState] = contextPair<FollowUpsState>('follow-ups');
