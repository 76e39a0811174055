import type { FollowUp } from '@parley/protocol';
import { getContext, setContext } from 'svelte';
import type { StaffConnection } from '../connection';
import { explain } from '../words';

/** The practice's open follow-ups (the caller's first), and marking one done. */
export class FollowUpsState {
  items = $state.raw<FollowUp[]>([]);
  notice = $state<string | null>(null);

  constructor(private readonly connection: StaffConnection) {}

  async refresh(): Promise<void> {
    const result = await this.connection.chat.client.request('follow-up:list', {});
    if (result.ok) this.items = result.data.followUps;
    else this.notice = explain(result.error.code);
  }

  async done(followUpId: string): Promise<void> {
    const result = await this.connection.chat.client.request('follow-up:done', { followUpId });
    this.notice = result.ok ? 'Marked as done.' : explain(result.error.code);
    await this.refresh();
  }
}

const KEY = Symbol('follow-ups');
export const setFollowUpsState = (state: FollowUpsState): FollowUpsState => setContext(KEY, state);
export const getFollowUpsState = (): FollowUpsState => getContext<FollowUpsState>(KEY);
