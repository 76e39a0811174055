import { ConversationSend, type ErrorBody, type ErrorCode, type SendResult } from '@parley/protocol';
import { jitteredDelay, Sleeper, type BackoffOptions } from './backoff.js';
import type { ConnectionState, ParleyClient } from './parley-client.js';

/** One message waiting in the outbox: exactly the payload that is (re)sent, so every retry carries the same id and ciphertext. */
export interface OutboxItem {
  /** The exact payload sent, every time. */
  send: ConversationSend;
  /** Position in the outbox across restarts: items of a conversation are sent in this order. */
  order: number;
  /** `pending` is still being sent; `failed` was refused for good and waits for the user to retry or discard it. */
  status: 'pending' | 'failed';
  /** Attempts made in this session. */
  attempts: number;
  /** Why the last attempt did not succeed (for `failed`, why it was refused). */
  lastError: OutboxError | null;
  /** When it was enqueued (ISO 8601), for the UI. */
  enqueuedAt: string;
}

/** Why an attempt failed: the server's error, or a transport failure (`timeout`, `disconnected`). */
export interface OutboxError {
  code: ErrorCode | 'timeout' | 'disconnected';
  message: string;
  /** The server's facts about a refusal (e.g. `nextOpening` with `outside_hours`), kept for the UI. */
  details?: ErrorBody['details'];
}

/** How an enqueued message ended: its place in the record, or the refusal that marked it failed (`stopped` when the outbox stopped first; the item stays stored). */
export type OutboxResult = { ok: true; data: SendResult } | { ok: false; error: ErrorBody | { code: 'stopped'; message: string } };

/** Where the outbox keeps its items (IndexedDB in the web apps): written before the first send, deleted after the server committed it. */
export interface OutboxStore {
  /** Every stored item, pending and failed. */
  loadAll(): Promise<OutboxItem[]>;
  /** Inserts or replaces the item with this `send.clientMessageId`. */
  put(item: OutboxItem): Promise<void>;
  /** Removes the item with this client message id; unknown ids are ignored. */
  delete(clientMessageId: string): Promise<void>;
}

/** What an outbox needs. */
export interface OutboxOptions {
  /** The connection to send through; the outbox waits while it is not online. */
  client: ParleyClient;
  /** Where items live between enqueue and ack, and across restarts. */
  store: OutboxStore;
  /** Retry timing after a timeout or a retryable error (default 500 ms doubling to 10 s, jittered). */
  backoff?: BackoffOptions;
  /** Called after any item was added, changed state or left the outbox. */
  onChange?: () => void;
}

const DEFAULT_BACKOFF: BackoffOptions = { baseMs: 500, maxMs: 10_000 };

interface Waiter {
  promise: Promise<OutboxResult>;
  resolve: (result: OutboxResult) => void;
}

/**
 * Sends messages at least once, in order per conversation, over restarts and reconnections
 * (docs/protocol.md, "Delivery: what a client must do"): each item is stored before its first send and re-sent with the
 * same client message id and ciphertext until the server acks it; a refusal keeps it as failed.
 */
export class Outbox {
  private readonly items = new Map<string, OutboxItem>();
  private readonly waiters = new Map<string, Waiter>();
  /** Enqueues still writing to the store, so a second enqueue of the same id joins the first. */
  private readonly enqueuing = new Map<string, Promise<OutboxResult>>();
  private readonly workers = new Set<string>();
  private readonly sleeper = new Sleeper();
  private readonly backoff: BackoffOptions;
  private nextOrder = 1;
  private started: Promise<void> | null = null;
  private isStopped = false;

  constructor(private readonly options: OutboxOptions) {
    this.backoff = options.backoff ?? DEFAULT_BACKOFF;
  }

  /**
   * Loads the stored items and resumes sending the pending ones; idempotent, and called by {@link enqueue} itself.
   * Rejects when the store cannot be read.
   */
  start(): Promise<void> {
    this.started ??= this.load();
    return this.started;
  }

  /**
   * Stores a message, then sends it; resolves once the server committed it (`isDuplicate` when an earlier attempt already had),
   * or with the refusal that marked it failed: `conflict`, `invalid_payload`, `forbidden`, `not_found`, `outside_hours`, `at_capacity`, or `stopped`.
   * Timeouts, disconnections, `rate_limited`, `internal` and `unauthorized` are retried, with the same payload.
   * A payload that breaks the protocol's schema resolves as `invalid_payload` without being stored.
   * Enqueueing a client message id already in the outbox returns that item's outcome. Rejects only when the store cannot be written.
   */
  async enqueue(send: ConversationSend): Promise<OutboxResult> {
    const checked = ConversationSend.safeParse(send);
    if (!checked.success) return { ok: false, error: { code: 'invalid_payload', message: 'the message does not match the protocol schema' } };
    await this.start();
    if (this.isStopped) return stoppedResult();
    const existing = this.items.get(send.clientMessageId);
    if (existing) return this.outcomeOf(existing);
    const inProgress = this.enqueuing.get(send.clientMessageId);
    if (inProgress) return inProgress;

    const stored = this.store(send);
    this.enqueuing.set(send.clientMessageId, stored);
    try {
      return await stored;
    } finally {
      this.enqueuing.delete(send.clientMessageId);
    }
  }

  /** The pending and failed items of a conversation, in sending order (copies). */
  itemsOf(conversationId: string): OutboxItem[] {
    return [...this.items.values()]
      .filter((item) => item.send.conversationId === conversationId)
      .sort((a, b) => a.order - b.order)
      .map((item) => ({ ...item }));
  }

  /** Sends a failed item again, with the same id and ciphertext; resolves like {@link enqueue}. Resolves as `not_found` for an id that is not a failed item. */
  async retry(clientMessageId: string): Promise<OutboxResult> {
    await this.start();
    const item = this.items.get(clientMessageId);
    if (!item || item.status !== 'failed') return { ok: false, error: { code: 'not_found', message: 'no failed item with this client message id' } };
    item.status = 'pending';
    item.lastError = null;
    await this.options.store.put(item);
    const outcome = this.outcomeOf(item);
    this.changed();
    this.work(item.send.conversationId);
    return outcome;
  }

  /** Removes a failed item at the user's request; resolves false when the id is not a failed item (pending items cannot be recalled). */
  async discard(clientMessageId: string): Promise<boolean> {
    await this.start();
    const item = this.items.get(clientMessageId);
    if (!item || item.status !== 'failed') return false;
    await this.options.store.delete(clientMessageId);
    this.items.delete(clientMessageId);
    this.changed();
    return true;
  }

  /** Stops sending: outcomes still awaited resolve as `stopped`; stored items stay for the next outbox over the same store. */
  stop(): void {
    this.isStopped = true;
    this.options.client.off('state-changed', this.onStateChanged);
    this.sleeper.wakeAll();
    for (const [clientMessageId, waiter] of this.waiters) {
      this.waiters.delete(clientMessageId);
      waiter.resolve(stoppedResult());
    }
  }

  /** Persists first, then sends: a message the store did not take is reported to the caller, never sent unsaved. */
  private async store(send: ConversationSend): Promise<OutboxResult> {
    const item: OutboxItem = { send, order: this.nextOrder++, status: 'pending', attempts: 0, lastError: null, enqueuedAt: new Date().toISOString() };
    await this.options.store.put(item);
    this.items.set(send.clientMessageId, item);
    const outcome = this.outcomeOf(item);
    this.changed();
    this.work(send.conversationId);
    return outcome;
  }

  private readonly onStateChanged = (state: ConnectionState): void => {
    // A fresh connection is the best moment to retry: do not wait out a backoff.
    if (state === 'online') this.sleeper.wakeAll();
  };

  private async load(): Promise<void> {
    this.options.client.on('state-changed', this.onStateChanged);
    const stored = await this.options.store.loadAll();
    for (const item of stored.sort((a, b) => a.order - b.order)) {
      this.items.set(item.send.clientMessageId, { ...item, attempts: 0 });
      this.nextOrder = Math.max(this.nextOrder, item.order + 1);
    }
    if (stored.length > 0) this.changed();
    for (const conversationId of new Set(stored.map((item) => item.send.conversationId))) this.work(conversationId);
  }

  /** Starts the conversation's sending loop unless it runs already: one loop per conversation keeps its messages in order. */
  private work(conversationId: string): void {
    if (this.workers.has(conversationId) || this.isStopped) return;
    this.workers.add(conversationId);
    void this.sendAll(conversationId).finally(() => this.workers.delete(conversationId));
  }

  private async sendAll(conversationId: string): Promise<void> {
    for (;;) {
      if (this.isStopped) return;
      // Failed items do not hold back later ones: the user decides about them.
      const next = this.itemsOf(conversationId).find((item) => item.status === 'pending');
      if (!next) return;
      const item = this.items.get(next.send.clientMessageId);
      if (item) await this.deliver(item);
    }
  }

  /** Sends one item until it is acked or refused for good. */
  private async deliver(item: OutboxItem): Promise<void> {
    const { client } = this.options;
    while (!this.isStopped) {
      if (client.connectionState !== 'online') {
        await this.sleeper.untilWoken();
        continue;
      }
      item.attempts += 1;
      const result = await client.request('conversation:send', item.send);
      if (result.ok) {
        this.items.delete(item.send.clientMessageId);
        // Not fatal if this fails: a restart re-sends the item and the server answers it as a duplicate.
        await this.options.store.delete(item.send.clientMessageId).catch(() => undefined);
        this.settle(item, { ok: true, data: result.data });
        return;
      }
      const { code, message } = result.error;
      const details = 'details' in result.error ? result.error.details : undefined;
      item.lastError = details === undefined ? { code, message } : { code, message, details };
      // `unauthorized` means the session ended: the item stays pending for the next session's outbox.
      if (code === 'timeout' || code === 'disconnected' || code === 'rate_limited' || code === 'internal' || code === 'unauthorized') {
        this.changed();
        // Offline, the loop waits for the reconnection instead; a backoff still applies if the state has not caught up yet.
        if (code !== 'disconnected' || client.connectionState === 'online') await this.sleeper.sleep(jitteredDelay(item.attempts, this.backoff));
        continue;
      }
      // A retry cannot fix any other refusal (conflict, invalid_payload, forbidden, not_found, …): keep it, visibly failed.
      item.status = 'failed';
      // Kept in memory even if the store write fails, so the UI still shows it.
      await this.options.store.put(item).catch(() => undefined);
      this.settle(item, { ok: false, error: item.lastError as ErrorBody });
      return;
    }
  }

  private outcomeOf(item: OutboxItem): Promise<OutboxResult> {
    // A failed item's error is a server refusal, never a transport failure (those are retried).
    if (item.status === 'failed' && item.lastError) return Promise.resolve({ ok: false, error: item.lastError as ErrorBody });
    const existing = this.waiters.get(item.send.clientMessageId);
    if (existing) return existing.promise;
    let resolve!: (result: OutboxResult) => void;
    const promise = new Promise<OutboxResult>((settle) => (resolve = settle));
    this.waiters.set(item.send.clientMessageId, { promise, resolve });
    return promise;
  }

  private settle(item: OutboxItem, result: OutboxResult): void {
    const waiter = this.waiters.get(item.send.clientMessageId);
    this.waiters.delete(item.send.clientMessageId);
    waiter?.resolve(result);
    this.changed();
  }

  private changed(): void {
    try {
      this.options.onChange?.();
    } catch (error) {
      queueMicrotask(() => {
        throw error;
      });
    }
  }
}

function stoppedResult(): OutboxResult {
  return { ok: false, error: { code: 'stopped', message: 'the outbox stopped; the message stays stored' } };
}
