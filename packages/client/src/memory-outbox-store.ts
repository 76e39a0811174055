import type { OutboxItem, OutboxStore } from './outbox.js';

/** An {@link OutboxStore} in memory, for tests and the benchmark. Items are copied in and out, as a real store would. */
export class MemoryOutboxStore implements OutboxStore {
  private readonly items = new Map<string, OutboxItem>();

  /** Every stored item. Never fails. */
  async loadAll(): Promise<OutboxItem[]> {
    return [...this.items.values()].map((item) => structuredClone(item));
  }

  /** Inserts or replaces an item. Never fails. */
  async put(item: OutboxItem): Promise<void> {
    this.items.set(item.send.clientMessageId, structuredClone(item));
  }

  /** Removes an item; unknown ids are ignored. Never fails. */
  async delete(clientMessageId: string): Promise<void> {
    this.items.delete(clientMessageId);
  }
}
