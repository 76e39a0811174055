import type { ErrorCode, JoinedConversation, RecordEntry } from '@parley/protocol';
import { jitteredDelay, Sleeper, type BackoffOptions } from './backoff.js';
import { nextFeedState, RESTING_STATES, STOPPED_OUTCOME, type FeedEffect, type FeedEvent, type FeedState } from './feed-state.js';
import type { ConnectionState, ParleyClient } from './parley-client.js';

/** What a codec gets besides the entry: the latest `conversation:join` answer (envelopes, member devices and their keys). */
export interface EntryContext {
  /** The conversation, its envelopes and its members' devices, as the server last answered them. */
  joined: JoinedConversation;
}

/**
 * Turns a record entry into the app's type: decrypts and verifies in the apps (which compose
 * `@parley/crypto` into it), the identity in tests. Rejecting marks that one entry failed.
 */
export interface EntryCodec<T> {
  /** Opens one entry; rejects (with any error, e.g. a CryptoError) when it cannot. */
  open(entry: RecordEntry, context: EntryContext): Promise<T>;
}

/** Where a feed keeps the last seq it handed to the app (IndexedDB in the web apps). */
export interface FeedCursorStore {
  /** The stored last seq of a conversation, or null when there is none. */
  load(conversationId: string): Promise<number | null>;
  /** Stores a conversation's last seq. */
  save(conversationId: string, lastSeq: number): Promise<void>;
}

/**
 * One step of the record, handed to the app in seq order with no gaps: an opened entry; an entry
 * the codec could not open (`open_failed`, with the codec's error as `cause`); or a range
 * `seq..throughSeq` the server's own sync answer skipped (`missing`).
 */
export type FeedEntry<T> =
  | { ok: true; seq: number; entry: RecordEntry; value: T }
  | { ok: false; seq: number; entry: RecordEntry; error: { code: 'open_failed'; message: string; cause: unknown } }
  | { ok: false; seq: number; throughSeq: number; entry: null; error: { code: 'missing'; message: string } };

/** A failure of the feed itself (not of one entry): the server's refusal of join or sync, a transport failure, a store failure, or `stopped`. */
export interface FeedError {
  code: ErrorCode | 'timeout' | 'disconnected' | 'store_failed' | 'stopped';
  message: string;
}

/** How the first join and sync of a feed ended. */
export type FeedSyncOutcome = { ok: true } | { ok: false; error: FeedError };

/** What a feed needs. */
export interface ConversationFeedOptions<T> {
  /** The connection to join, sync and listen through. */
  client: ParleyClient;
  conversationId: string;
  /** Turns each entry into the app's type. */
  codec: EntryCodec<T>;
  /** Where the last handed-over seq is kept. */
  cursorStore: FeedCursorStore;
  /** Receives every step of the record, strictly in seq order, each exactly once per feed. */
  onEntry: (entry: FeedEntry<T>) => void;
  /** Receives failures that stop the feed until the next reconnection (join refused, …) and store failures. */
  onError?: (error: FeedError) => void;
  /** Entries per `conversation:sync` page (default 200, at most 500). */
  pageSize?: number;
  /** Least time between two delivered receipts (default 1 s). */
  receiptIntervalMs?: number;
  /** Retry timing after a join or sync timed out (default 500 ms doubling to 10 s, jittered). */
  backoff?: BackoffOptions;
}

/** A range the server's sync answer skipped: handed to the app as one `missing` step. */
interface Missing {
  throughSeq: number;
}

type Held = RecordEntry | Missing;

/** Failures worth another try; `unauthorized` too, since the client stops by itself when the session really ended. */
const RETRYABLE: ReadonlySet<FeedError['code']> = new Set(['timeout', 'disconnected', 'rate_limited', 'internal', 'unauthorized']);
const DEFAULT_BACKOFF: BackoffOptions = { baseMs: 500, maxMs: 10_000 };

/**
 * One joined conversation, kept complete and in order (docs/protocol.md, "Delivery: what a client must do"):
 * it subscribes to `message:relayed` before it joins and syncs, merges and de-duplicates by seq, syncs again
 * on a gap and after every reconnection socket.io did not recover, persists the last seq and sends cumulative
 * `delivered` receipts.
 *
 * Its life is a state machine (`feed-state.ts`, {@link nextFeedState}); `transition()` is the only place the
 * state changes, and an event with no row below throws a `FeedTransitionError` (a bug in the feed, never a
 * condition of the network). A "pass" is one join (when asked) and the sync pages after it; only `joining`
 * and `syncing` run one, so two passes never overlap, and what is asked for while one runs is folded into at
 * most one more.
 *
 * | state | event | next state | effects |
 * |---|---|---|---|
 * | idle | start | loading | load the stored cursor |
 * | loading | loaded, client online | queued (join) | subscribe (before any fetch), begin after this turn |
 * | loading | loaded, client not online | offline (join) | subscribe |
 * | queued | begin (end of the turn) | joining, or syncing when no join is owed | start a pass |
 * | queued | resync | queued (join) | (a reconnection's `online` and `resync` make one pass) |
 * | queued | online, gap | queued | |
 * | joining | joined | syncing | keep the answer, hand over what it was waiting for |
 * | joining, syncing | resync | the same, rejoin after | |
 * | joining, syncing | online, gap | the same | (the pass looks for gaps when it ends) |
 * | syncing | synced | live; joining when a rejoin was asked; syncing when a new gap is left | settle `start()`, reset the backoff, start the next pass |
 * | joining, syncing | refused (not retryable) | refused | report, settle `start()` with the error |
 * | joining, syncing | lost (retryable, client not online) | offline | (the reconnection starts the next pass) |
 * | joining, syncing | faulted (retryable, client online) | retrying | wait the jittered backoff |
 * | retrying | backoff-over | joining, or syncing when no join is owed | start a pass |
 * | retrying | resync | retrying (join) | |
 * | retrying | online, gap | retrying | |
 * | live | gap (a relayed entry skipped a seq) | queued (no join) | begin after this turn |
 * | live | resync | queued (join) | begin after this turn |
 * | live | online (a recovered reconnection) | live | |
 * | offline, refused | online, resync | queued (join) | begin after this turn |
 * | offline, refused | gap | queued (join if owed) | begin after this turn |
 * | any but stopped | stop | stopped | unsubscribe, cancel timers, settle `start()` with `stopped` |
 * | stopped | any | stopped | (a pass, backoff or listener under way ends there) |
 *
 * Events: `online` is the client's `state-changed` to online; `resync` is its `resync-needed` or {@link resync};
 * `gap` follows a relayed entry whose predecessors are neither delivered nor held. Entries are handed over by a
 * separate single-flight drain whenever the next seq is held and a join answer exists, in any state but `stopped`:
 * a live entry relayed during a pass is merged by seq with the sync pages, each seq handed over once.
 */
export class ConversationFeed<T> {
  private readonly conversationId: string;
  /** Entries received but not handed over yet, by seq; never holds a seq at or below `delivered`. */
  private readonly held = new Map<number, Held>();
  private readonly sleeper = new Sleeper();
  private readonly backoff: BackoffOptions;
  private state: FeedState = { name: 'idle' };
  private delivered = 0;
  /**
   * How far the delivered receipt may claim: every entry up to here was opened. An entry that could
   * not be opened (or is missing) stops it for good, so a clinician never sees "delivered" for a message
   * the patient's device could not read. Hence `readableThrough < delivered` exactly once that happened.
   */
  private readableThrough = 0;
  private persistedSeq = 0;
  private joinAnswer: JoinedConversation | null = null;
  private started: Promise<FeedSyncOutcome> | null = null;
  private settleStart: (outcome: FeedSyncOutcome) => void = () => undefined;
  /** `resync()` calls waiting for the feed to rest (live, offline, refused or stopped). */
  private readonly restWaiters: (() => void)[] = [];
  /** Failed passes since the last one that succeeded: the backoff's attempt number. */
  private passFailures = 0;
  private drainRun: Promise<void> | null = null;
  private receiptSeq = 0;
  private lastReceiptAt = 0;
  private receiptTimer: ReturnType<typeof setTimeout> | null = null;

  constructor(private readonly options: ConversationFeedOptions<T>) {
    this.conversationId = options.conversationId;
    this.backoff = options.backoff ?? DEFAULT_BACKOFF;
  }

  /** The last seq handed to the app. */
  get lastSeq(): number {
    return this.delivered;
  }

  /**
   * The highest seq through which every entry was opened and handed to the app: the most a delivered or
   * read receipt may claim. It stops before the first entry that could not be opened or is missing, for good
   * in this feed (receipts are cumulative, so any later receipt would claim that entry too).
   */
  get readableSeq(): number {
    return this.readableThrough;
  }

  /** The latest `conversation:join` answer, or null before the first one. */
  get joined(): JoinedConversation | null {
    return this.joinAnswer;
  }

  /**
   * Loads the last seq, subscribes, then joins and syncs; resolves when that first sync is complete, or with the refusal that ended it
   * (`forbidden`, `not_found`, … or `stopped`). Transient failures are retried, so it waits while the client is offline. Idempotent.
   */
  start(): Promise<FeedSyncOutcome> {
    if (!this.started) {
      this.started = new Promise<FeedSyncOutcome>((resolve) => (this.settleStart = resolve));
      if (this.state.name === 'stopped') this.settleStart(STOPPED_OUTCOME);
      else this.transition({ type: 'start' });
    }
    return this.started;
  }

  /** Re-joins and syncs now (e.g. when the app comes back to the foreground), starting the feed if need be; resolves when that pass ends. */
  async resync(): Promise<void> {
    if (this.state.name === 'idle' || this.state.name === 'loading') {
      await this.start();
      return;
    }
    this.transition({ type: 'resync' });
    if (RESTING_STATES.has(this.state.name)) return;
    await new Promise<void>((resolve) => this.restWaiters.push(resolve));
  }

  /** Unsubscribes and stops syncing, receipts and retries; entries still being opened are not handed over. */
  stop(): void {
    this.transition({ type: 'stop' });
  }

  private get isStopped(): boolean {
    return this.state.name === 'stopped';
  }

  /** The one place the feed's state changes: the next state comes from the table above, then its effects run in order. */
  private transition(event: FeedEvent): void {
    const { state, effects } = nextFeedState(this.state, event);
    this.state = state;
    for (const effect of effects) this.run(effect);
    if (RESTING_STATES.has(this.state.name)) for (const wake of this.restWaiters.splice(0)) wake();
  }

  private run(effect: FeedEffect): void {
    const { client } = this.options;
    switch (effect.type) {
      case 'load-cursor':
        void this.loadCursor();
        return;
      case 'subscribe':
        // Subscribed before fetching: a fact relayed between the join and the sync answer is merged, not lost.
        client.on('message:relayed', this.onRelayed);
        client.on('resync-needed', this.onResyncNeeded);
        client.on('state-changed', this.onStateChanged);
        return;
      case 'begin-soon':
        // Waits for the rest of this turn: a reconnection raises state-changed and resync-needed together.
        queueMicrotask(() => this.transition({ type: 'begin' }));
        return;
      case 'pass':
        void this.pass(effect.withJoin);
        return;
      case 'reset-backoff':
        this.passFailures = 0;
        return;
      case 'back-off':
        this.passFailures += 1;
        void this.sleeper.sleep(jitteredDelay(this.passFailures, this.backoff)).then(() => this.transition({ type: 'backoff-over' }));
        return;
      case 'report':
        this.report(effect.error);
        return;
      case 'settle':
        this.settleStart(effect.outcome);
        return;
      case 'shut-down':
        client.off('message:relayed', this.onRelayed);
        client.off('resync-needed', this.onResyncNeeded);
        client.off('state-changed', this.onStateChanged);
        if (this.receiptTimer !== null) clearTimeout(this.receiptTimer);
        this.sleeper.wakeAll();
        this.settleStart(STOPPED_OUTCOME);
        return;
    }
  }

  private async loadCursor(): Promise<void> {
    try {
      this.delivered = this.persistedSeq = (await this.options.cursorStore.load(this.conversationId)) ?? 0;
      this.readableThrough = this.delivered;
    } catch {
      this.report({ code: 'store_failed', message: 'the last seq could not be loaded; syncing from the start' });
    }
    this.transition({ type: 'loaded', isOnline: this.options.client.connectionState === 'online' });
  }

  private readonly onRelayed = (entry: RecordEntry): void => {
    if (this.isStopped || entry.conversationId !== this.conversationId || !isSeq(entry.seq)) return;
    if (entry.seq <= this.delivered || this.holds(entry.seq)) return;
    this.held.set(entry.seq, entry);
    void this.drain().then(() => {
      // Something was relayed that this socket missed (a pass under way looks for gaps itself when it ends).
      if (this.hasGap()) this.transition({ type: 'gap' });
    });
  };

  private readonly onResyncNeeded = (): void => {
    this.transition({ type: 'resync' });
  };

  private readonly onStateChanged = (state: ConnectionState): void => {
    // A reconnection socket.io recovered raises no resync-needed, yet a pass it cut off still has to run.
    if (state === 'online') this.transition({ type: 'online' });
  };

  /** One pass: join (when asked), then sync pages from the first seq neither delivered nor held; ends with one of `synced`, `refused`, `lost`, `faulted`. */
  private async pass(withJoin: boolean): Promise<void> {
    const { client } = this.options;
    const hadGap = this.hasGap();
    const deliveredBefore = this.delivered;
    if (withJoin) {
      const joined = await client.request('conversation:join', { conversationId: this.conversationId });
      if (this.isStopped) return;
      if (!joined.ok) return this.passFailed(joined.error);
      this.joinAnswer = joined.data;
      this.transition({ type: 'joined' });
      // Facts relayed while joining were waiting for the context the codec needs.
      void this.drain();
    }
    let afterSeq = this.contiguousSeq();
    for (;;) {
      const page = await client.request('conversation:sync', { conversationId: this.conversationId, afterSeq, limit: this.options.pageSize ?? 200 });
      if (this.isStopped) return;
      if (!page.ok) return this.passFailed(page.error);
      const lastMerged = this.merge(afterSeq, page.data.entries);
      void this.drain();
      if (!page.data.hasMore || lastMerged === afterSeq) break;
      afterSeq = lastMerged;
    }
    await this.drain();
    let isGapLeft = false;
    if (this.hasGap()) {
      // A gap that a sync started after it was seen did not fill is the server withholding entries: report it rather than wait forever.
      if (hadGap && this.delivered === deliveredBefore) {
        this.markMissing(this.delivered + 1, Math.min(...this.held.keys()) - 1);
        await this.drain();
      } else {
        isGapLeft = true;
      }
    }
    this.scheduleReceipt();
    this.transition({ type: 'synced', isGapLeft });
  }

  /** Failures worth another try are retried after a backoff while online, and by the reconnection otherwise. */
  private passFailed(error: FeedError): void {
    if (!RETRYABLE.has(error.code)) this.transition({ type: 'refused', error });
    else if (this.options.client.connectionState !== 'online') this.transition({ type: 'lost' });
    else this.transition({ type: 'faulted' });
  }

  /** Adds a sync page to the held entries; seqs the page skips are missing by the server's own answer. Returns the last seq merged. */
  private merge(afterSeq: number, entries: readonly RecordEntry[]): number {
    let cursor = afterSeq;
    for (const entry of [...entries].sort((a, b) => a.seq - b.seq)) {
      if (entry.conversationId !== this.conversationId || !isSeq(entry.seq) || entry.seq <= cursor) continue;
      if (entry.seq > cursor + 1) this.markMissing(cursor + 1, entry.seq - 1);
      if (entry.seq > this.delivered && !this.holds(entry.seq)) this.held.set(entry.seq, entry);
      cursor = entry.seq;
    }
    return cursor;
  }

  /** Hands held entries to the app while the next seq is there; one drain runs at a time and re-checks before it ends. */
  private drain(): Promise<void> {
    this.drainRun ??= this.runDrain();
    return this.drainRun;
  }

  private async runDrain(): Promise<void> {
    await Promise.resolve();
    try {
      while (!this.isStopped && this.joinAnswer) {
        const seq = this.delivered + 1;
        const next = this.held.get(seq);
        if (next === undefined) {
          if (this.readableThrough > this.persistedSeq) await this.persist();
          // Checked again after the await, and nothing awaits between this check and clearing drainRun.
          if (this.held.has(this.delivered + 1)) continue;
          break;
        }
        const step = await this.open(seq, next, this.joinAnswer);
        if (this.isStopped) return;
        this.held.delete(seq);
        // Readable so far (nothing failed before) and opened: receipts may claim it.
        const isReadable = step.ok && this.readableThrough === this.delivered;
        this.delivered = step.ok || step.entry ? seq : step.throughSeq;
        if (isReadable) this.readableThrough = this.delivered;
        for (const key of this.held.keys()) if (key <= this.delivered) this.held.delete(key);
        try {
          this.options.onEntry(step);
        } catch (error) {
          queueMicrotask(() => {
            throw error;
          });
        }
      }
    } finally {
      this.drainRun = null;
    }
    this.scheduleReceipt();
  }

  private async open(seq: number, held: Held, joined: JoinedConversation): Promise<FeedEntry<T>> {
    if (!('seq' in held)) {
      return {
        ok: false,
        seq,
        throughSeq: held.throughSeq,
        entry: null,
        error: { code: 'missing', message: `the server has no entries ${seq}..${held.throughSeq}` },
      };
    }
    try {
      return { ok: true, seq, entry: held, value: await this.options.codec.open(held, { joined }) };
    } catch (cause) {
      const message = cause instanceof Error ? cause.message : 'the codec could not open this entry';
      return { ok: false, seq, entry: held, error: { code: 'open_failed', message, cause } };
    }
  }

  /**
   * Stores how far the feed got, but never past an entry it could not open: after a restart that entry is
   * fetched and tried again (its key may have arrived), and the restarted feed cannot claim it as delivered.
   */
  private async persist(): Promise<void> {
    const lastSeq = this.readableThrough;
    try {
      await this.options.cursorStore.save(this.conversationId, lastSeq);
      this.persistedSeq = Math.max(this.persistedSeq, lastSeq);
    } catch {
      // Not retried until the next entry: at worst a restart hands some entries over again.
      this.persistedSeq = Math.max(this.persistedSeq, lastSeq);
      this.report({ code: 'store_failed', message: 'the last seq could not be stored' });
    }
  }

  /** Sends the cumulative delivered receipt at most once per interval; a failed one is sent again after the next entry or pass. */
  private scheduleReceipt(): void {
    if (this.receiptTimer !== null || this.isStopped || this.readableThrough <= this.receiptSeq) return;
    const interval = this.options.receiptIntervalMs ?? 1_000;
    const wait = Math.max(0, this.lastReceiptAt + interval - Date.now());
    this.receiptTimer = setTimeout(() => {
      this.receiptTimer = null;
      void this.sendReceipt();
    }, wait);
  }

  private async sendReceipt(): Promise<void> {
    const upToSeq = this.readableThrough;
    if (this.isStopped || upToSeq <= this.receiptSeq || this.options.client.connectionState !== 'online') return;
    this.lastReceiptAt = Date.now();
    const result = await this.options.client.request('conversation:receipt', { conversationId: this.conversationId, kind: 'delivered', upToSeq });
    if (result.ok) this.receiptSeq = Math.max(this.receiptSeq, upToSeq);
  }

  /** Marks the seqs in [from, to] that are not held as missing, as ranges. */
  private markMissing(from: number, to: number): void {
    let start = Math.max(from, this.delivered + 1);
    const inside = [...this.held.keys()].filter((key) => key >= start && key <= to).sort((a, b) => a - b);
    for (const key of inside) {
      if (key > start) this.held.set(start, { throughSeq: key - 1 });
      start = this.lastSeqOf(key) + 1;
    }
    if (start <= to) this.held.set(start, { throughSeq: to });
  }

  /** The highest seq such that everything up to it is delivered or held. */
  private contiguousSeq(): number {
    let seq = this.delivered;
    while (this.held.has(seq + 1)) seq = this.lastSeqOf(seq + 1);
    return seq;
  }

  /** Whether a seq is held, itself or inside a missing range. */
  private holds(seq: number): boolean {
    if (this.held.has(seq)) return true;
    for (const [key, held] of this.held) if (!('seq' in held) && key <= seq && seq <= held.throughSeq) return true;
    return false;
  }

  private hasGap(): boolean {
    return this.held.size > 0 && !this.held.has(this.delivered + 1);
  }

  private lastSeqOf(key: number): number {
    const held = this.held.get(key);
    return held === undefined || 'seq' in held ? key : held.throughSeq;
  }

  private report(error: FeedError): void {
    try {
      this.options.onError?.(error);
    } catch (thrown) {
      queueMicrotask(() => {
        throw thrown;
      });
    }
  }
}

function isSeq(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 1;
}
