import type { CannedReply, CannedReplyRequest } from '@parley/protocol';
import { contextPair } from '@parley/ui';
import type { StaffConnection } from '../connection';
import { explain } from '../words';

/** The practice's canned replies: every clinician inserts them, managers write them. */
export class CannedRepliesState {
  items = $state.raw<CannedReply[]>([]);
  notice = $state<string | null>(null);

  constructor(private readonly connection: StaffConnection) {}

  async refresh(): Promise<void> {
    const result = await this.connection.api.listCannedReplies();
    if (result.ok) this.items = result.data;
    else this.notice = explain(result.error.code);
  }

  async create(body: CannedReplyRequest): Promise<boolean> {
    return this.after(await this.connection.api.createCannedReply(body), 'Canned reply added.');
  }

  async update(id: string, body: CannedReplyRequest): Promise<boolean> {
    return this.after(await this.connection.api.updateCannedReply(id, body), 'Canned reply saved.');
  }

  async remove(id: string): Promise<boolean> {
    return this.after(await this.connection.api.deleteCannedReply(id), 'Canned reply deleted.');
  }

  private async after(result: { ok: boolean; error?: { code: string } }, done: string): Promise<boolean> {
    this.notice = result.ok ? done : explain(result.error?.code ?? 'internal');
    if (result.ok) await this.refresh();
    return result.ok;
  }
}

export const [setCannedRepliesState, getCannedRepliesState] = contextPair<CannedRepliesState>('canned-replies');
