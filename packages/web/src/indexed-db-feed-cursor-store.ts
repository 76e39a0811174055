import type { FeedCursorStore } from '@parley/client';
import { STORES, type WebDatabase } from './web-database.js';

interface CursorRow {
  scope: string;
  conversationId: string;
  lastSeq: number;
}

/** `@parley/client`'s {@link FeedCursorStore} in IndexedDB: after a reload a feed syncs from where it stopped. */
export class IndexedDbFeedCursorStore implements FeedCursorStore {
  /** @param scope whose cursors: the signed-in user's id (or device id) */
  constructor(
    private readonly db: WebDatabase,
    private readonly scope: string,
  ) {}

  /** The stored last seq of a conversation, or null. */
  async load(conversationId: string): Promise<number | null> {
    const row = await this.db.get<CursorRow>(STORES.cursors, [this.scope, conversationId]);
    return row?.lastSeq ?? null;
  }

  /** Stores a conversation's last seq; resolves once committed. */
  async save(conversationId: string, lastSeq: number): Promise<void> {
    await this.db.put(STORES.cursors, { scope: this.scope, conversationId, lastSeq } satisfies CursorRow);
  }
}
