import type { FeedCursorStore } from './conversation-feed.js';

/** A {@link FeedCursorStore} in memory, for tests and the benchmark. */
export class MemoryFeedCursorStore implements FeedCursorStore {
  private readonly lastSeqs = new Map<string, number>();

  /** The stored last seq of a conversation, or null. Never fails. */
  async load(conversationId: string): Promise<number | null> {
    return this.lastSeqs.get(conversationId) ?? null;
  }

  /** Stores a conversation's last seq. Never fails. */
  async save(conversationId: string, lastSeq: number): Promise<void> {
    this.lastSeqs.set(conversationId, lastSeq);
  }
}
