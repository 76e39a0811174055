import type { OutboxItem, OutboxStore } from '@parley/client';
import { scopeRange, STORES, type WebDatabase } from './web-database.js';

interface OutboxRow {
  scope: string;
  clientMessageId: string;
  item: OutboxItem;
}

/**
 * `@parley/client`'s {@link OutboxStore} in IndexedDB: queued sends survive a reload, a closed tab
 * and an offline period. Items hold ciphertext only (what the server will see anyway).
 */
export class IndexedDbOutboxStore implements OutboxStore {
  /**
   * @param db the shared browser database
   * @param scope whose outbox: the signed-in user's id, so two people on one browser never send each other's items
   */
  constructor(
    private readonly db: WebDatabase,
    private readonly scope: string,
  ) {}

  /** Every stored item of this scope. Rejects when IndexedDB fails. */
  async loadAll(): Promise<OutboxItem[]> {
    const rows = await this.db.getAll<OutboxRow>(STORES.outbox, scopeRange(this.scope));
    return rows.map((row) => row.item);
  }

  /** Inserts or replaces an item; resolves once committed. */
  async put(item: OutboxItem): Promise<void> {
    await this.db.put(STORES.outbox, { scope: this.scope, clientMessageId: item.send.clientMessageId, item } satisfies OutboxRow);
  }

  /** Removes an item; unknown ids are ignored. */
  async delete(clientMessageId: string): Promise<void> {
    await this.db.delete(STORES.outbox, [this.scope, clientMessageId]);
  }
}
