import { Inject, Injectable, Logger, Optional } from '@nestjs/common';
import { DomainError } from '../common/domain-error.js';
import { APP_CONFIG, type AppConfig } from '../config.js';
import { RealtimePublisher } from '../common/realtime.publisher.js';
import type { Db } from '../database/sql.js';
import { rooms } from '../common/rooms.js';
import { MetricsService } from '../metrics/metrics.service.js';
import { toRecordEntry } from './record-entry.mapper.js';
import { verifyChain, type ChainBreak } from './record-hash.js';
import { FaultPoints } from './fault-points.js';
import { RecordRepository, type PreparedBatch } from './record.repository.js';
import type { AppendOutcome, NewEntry, StoredEntry, StoredOutcome } from './record.types.js';

/**
 * The most entries one transaction carries, and the most ciphertext bytes (about 250 of the largest messages: one bind
 * message stays within 8 MB). At the maximum rate a batch is what queued while the one before committed, about 250–300
 * entries on the bench's machine (docs/benchmarks.md, step 18), which the old cap of 256 entries split.
 */
export const MAX_BATCH_ENTRIES = 1024;
export const MAX_BATCH_BYTES = 8 * 2 ** 20;
/** How many batch transactions may be open at once: one committing while the next forms and takes its locks. */
const PIPELINE_DEPTH = 2;
/** RECORD_QUEUE_MAX's default: far above what a healthy node queues (a batch or two, up to MAX_BATCH_ENTRIES entries each). */
const DEFAULT_QUEUE_MAX = 20_000;

/** One `append` or `appendAll`: its entries always travel together, in one transaction. */
interface Pending {
  entries: readonly NewEntry[];
  resolve: (outcomes: AppendOutcome[]) => void;
  reject: (error: unknown) => void;
}

/**
 * The record: every message and system event, appended in order with a hash chain. Appends that
 * arrive while a transaction is committing wait and go together in the next one (group commit):
 * no timer, so a lone append is not delayed, and under load many share one COMMIT.
 */
@Injectable()
export class RecordService {
  private readonly logger = new Logger(RecordService.name);
  private readonly pending: Pending[] = [];
  /** Entries in `pending`; appends beyond `queueMax` are refused (RECORD_QUEUE_MAX, docs/operations.md). */
  private queued = 0;
  private readonly queueMax: number;
  private isFlushing = false;
  /** Whether a batch is being written up to its COMMIT (for the metrics). */
  private isPreparing = false;
  /** Batches whose COMMIT is under way, oldest first. */
  private readonly committing: Promise<void>[] = [];
  /**
   * Settles once the latest batch has committed (or failed) and its callers have been answered; never rejects. The
   * next batch commits, and answers, only after it.
   */
  private answered: Promise<void> = Promise.resolve();
  /** Counts failed batches: a batch begun before a failure is not committed (see `flush`). */
  private failures = 0;
  /** Told, synchronously, of every entry refused or failed (SendLanes keeps the send order with it). */
  private readonly failureListeners: ((entries: readonly NewEntry[]) => void)[] = [];
  /** Told, synchronously, of every entry stored, after its COMMIT (the notification dispatcher). */
  private readonly storedListeners: ((entry: NewEntry, stored: StoredOutcome) => void)[] = [];
  /** Sizes of the batches written, for benchmarks and metrics. */
  readonly batchSizes: number[] = [];

  constructor(
    private readonly repository: RecordRepository,
    private readonly realtime?: RealtimePublisher,
    @Optional() private readonly metrics?: MetricsService,
    @Optional() private readonly faults?: FaultPoints,
    @Optional() @Inject(APP_CONFIG) config?: Pick<AppConfig, 'recordQueueMax'>,
  ) {
    this.queueMax = config?.recordQueueMax ?? DEFAULT_QUEUE_MAX;
    this.metrics?.watchRecordWriter(() => ({ queued: this.queued, inFlight: this.committing.length + (this.isPreparing ? 1 : 0) }));
  }

  /**
   * Appends one entry; resolves only after the transaction that holds it has committed. Every stored
   * entry (message or system event) is then relayed to its conversation's room as `message:relayed`.
   */
  append(entry: NewEntry): Promise<AppendOutcome> {
    return this.enqueue([entry]).then((outcomes) => outcomes[0]!);
  }

  /**
   * Appends several entries in ONE transaction, consecutive and in this order: all are committed or none
   * (every outcome is then known together). The entries are queued synchronously, like `append`'s.
   */
  appendAll(entries: readonly NewEntry[]): Promise<AppendOutcome[]> {
    if (entries.length === 0) return Promise.resolve([]);
    return this.enqueue([...entries]);
  }

  /**
   * Appends the first entries of conversations created in the caller's transaction `db` (an open): committed with it,
   * not by this writer. Once the caller has committed, it hands the entries and outcomes to `announce`.
   */
  appendToNew(db: Db, conversations: readonly { id: string; patientId: string }[], entries: readonly NewEntry[]): Promise<AppendOutcome[]> {
    return this.repository.appendToNew(db, conversations, entries);
  }

  /** Calls `listener` with the entries of every append refused or batch failed, before their callers hear of it. */
  onEntriesFailed(listener: (entries: readonly NewEntry[]) => void): void {
    this.failureListeners.push(listener);
  }

  /**
   * Calls `listener` with every entry stored by this node and its outcome (its place, its conversation's patient), after
   * its transaction has committed and it was relayed: once per stored entry on the node that appended it (never for a
   * duplicate). A listener must not throw or block.
   */
  onEntryStored(listener: (entry: NewEntry, stored: StoredOutcome) => void): void {
    this.storedListeners.push(listener);
  }

  /** Queues a group synchronously, within the caller's call, so call order is queue order. */
  private enqueue(entries: readonly NewEntry[]): Promise<AppendOutcome[]> {
    // Load shedding: the database is not keeping up; refuse at once, storing nothing, rather than queue without bound.
    if (this.queued + entries.length > this.queueMax) {
      this.metrics?.recordAppendRefused(entries.length);
      this.tellFailed(entries);
      return Promise.reject(new DomainError('rate_limited', 'The server is busy; try again shortly.'));
    }
    this.queued += entries.length;
    return new Promise((resolve, reject) => {
      this.pending.push({ entries, resolve, reject });
      void this.flush();
    });
  }

  /** The next groups to write together: whole groups, within MAX_BATCH_ENTRIES and MAX_BATCH_BYTES unless one group alone is larger. */
  private takeBatch(): Pending[] {
    let size = 0;
    let bytes = 0;
    let count = 0;
    for (const group of this.pending) {
      const groupBytes = group.entries.reduce((sum, entry) => sum + (entry.message?.ciphertext.length ?? 0), 0);
      if (count > 0 && (size + group.entries.length > MAX_BATCH_ENTRIES || bytes + groupBytes > MAX_BATCH_BYTES)) break;
      size += group.entries.length;
      bytes += groupBytes;
      count += 1;
    }
    this.queued -= size;
    return this.pending.splice(0, count);
  }

  /** Entries after `afterSeq`, in order, at most `limit`. */
  entriesAfter(conversationId: string, afterSeq: number, limit: number): Promise<StoredEntry[]> {
    return this.repository.entriesAfter(conversationId, afterSeq, limit);
  }

  /** Checks every conversation's chain; returns the breaks found (empty when the record is intact). */
  async verifyAll(onProgress?: (checked: number) => void): Promise<ChainBreak[]> {
    const breaks: ChainBreak[] = [];
    let afterId = '00000000-0000-0000-0000-000000000000';
    let checked = 0;
    for (;;) {
      const heads = await this.repository.heads(afterId, 500);
      if (heads.length === 0) return breaks;
      for (const head of heads) {
        const problem = verifyChain(head.id, await this.allEntries(head.id), head);
        if (problem) breaks.push(problem);
        checked += 1;
      }
      afterId = heads.at(-1)!.id;
      onProgress?.(checked);
    }
  }

  private async allEntries(conversationId: string): Promise<StoredEntry[]> {
    const entries: StoredEntry[] = [];
    for (let page = await this.repository.entriesAfter(conversationId, 0, 1000); page.length > 0;) {
      entries.push(...page);
      page = await this.repository.entriesAfter(conversationId, page.at(-1)!.seq, 1000);
    }
    return entries;
  }

  /** Once committed, an entry goes to everyone in the conversation's room, on every node. */
  private relay(entry: NewEntry, stored: { seq: number; createdAt: Date; hash: Buffer }): void {
    this.realtime?.publish(rooms.conversation(entry.conversationId), 'message:relayed', toRecordEntry(entry, stored));
  }

  /** The place of a message already stored under this sender device and client message id, if any. */
  findMessage(senderDeviceId: string, clientMessageId: string): Promise<{ seq: number; createdAt: Date } | undefined> {
    return this.repository.findMessage(senderDeviceId, clientMessageId);
  }

  /**
   * The writer: forms a batch from the queue, writes it up to its COMMIT (head locks taken, rows inserted), then
   * lets the COMMIT run while the next batch forms and starts on another connection (PIPELINE_DEPTH transactions
   * at most). A later batch sharing a conversation waits on its head lock for the earlier COMMIT, so sequence numbers
   * follow append order; callers are answered and entries relayed batch after batch, in that order.
   */
  private async flush(): Promise<void> {
    if (this.isFlushing) return;
    this.isFlushing = true;
    try {
      while (this.pending.length > 0) {
        while (this.committing.length >= PIPELINE_DEPTH) await this.committing[0];
        // A batch that failed meanwhile failed the whole queue (markFailed): an empty batch would count as one more failure
        // and roll back the next append's batch, begun after every caller had heard.
        if (this.pending.length === 0) break;
        const batch = this.takeBatch();
        const entries = batch.flatMap((group) => group.entries);
        this.batchSizes.push(entries.length);
        this.metrics?.recordBatchWritten(entries.length);
        if (this.batchSizes.length > 10_000) this.batchSizes.splice(0, 5_000);
        let prepared: PreparedBatch;
        const failuresBefore = this.failures;
        this.isPreparing = true;
        try {
          prepared = await this.repository.prepareBatch(entries);
        } catch (error) {
          this.fail(batch, error);
          continue;
        } finally {
          this.isPreparing = false;
        }
        const answered = this.finish(batch, prepared, this.answered, failuresBefore);
        this.answered = answered;
        this.committing.push(answered);
        void answered.then(() => this.committing.splice(this.committing.indexOf(answered), 1));
      }
    } finally {
      this.isFlushing = false;
    }
  }

  /**
   * Commits a prepared batch once the batch before it has committed and been answered — or rolls it back when a batch
   * failed since this one began: it may hold a later message of a device whose earlier one just failed, which must not
   * be stored first (docs/protocol.md, "Order"). Then answers its callers and relays its entries.
   */
  private async finish(batch: Pending[], prepared: PreparedBatch, previous: Promise<void>, failuresBefore: number): Promise<void> {
    let outcomes: AppendOutcome[];
    try {
      await previous;
      if (this.failures !== failuresBefore) {
        await prepared.rollback();
        throw new Error('not committed: a batch before it failed');
      }
      outcomes = await prepared.commit();
      this.faults?.hit('record.after-commit');
    } catch (error) {
      this.markFailed(batch, error);
      this.reject(batch, error);
      return;
    }
    let index = 0;
    for (const group of batch) {
      const mine = outcomes.slice(index, index + group.entries.length);
      this.announce(group.entries, mine);
      index += group.entries.length;
      group.resolve(mine);
    }
  }

  /**
   * After COMMIT: each stored entry to its conversation's room, then to the stored-entry listeners. For this writer's
   * batches, and for a transaction committed outside it (`appendToNew`).
   */
  announce(entries: readonly NewEntry[], outcomes: readonly AppendOutcome[]): void {
    entries.forEach((entry, i) => {
      const outcome = outcomes[i]!;
      if (outcome.status !== 'stored') return;
      try {
        this.relay(entry, outcome);
      } catch (error) {
        // Stored and committed: the caller is still answered; a lost relay is caught up by sync.
        this.logger.error({ err: error }, 'relay failed');
      }
      for (const listener of this.storedListeners) {
        try {
          listener(entry, outcome);
        } catch (error) {
          this.logger.error({ err: error }, 'stored-entry listener failed');
        }
      }
    });
  }

  /** Nothing of a failed batch committed: every caller gets the error and nobody is acked. */
  private fail(batch: Pending[], error: unknown): void {
    this.markFailed(batch, error);
    this.reject(batch, error);
  }

  /**
   * What a failure changes at once, before any caller hears of it: later batches begun already will not commit, what is
   * still queued fails too (appended after the failed entries, it must not overtake them), and the listeners are told.
   */
  private markFailed(batch: Pending[], error: unknown): void {
    this.failures += 1;
    const queued = this.pending.splice(0);
    this.queued = 0;
    for (const group of [...batch, ...queued]) this.tellFailed(group.entries);
    for (const group of queued) group.reject(error);
  }

  private reject(batch: Pending[], error: unknown): void {
    this.logger.error({ err: error, size: batch.reduce((size, group) => size + group.entries.length, 0) }, 'record batch failed');
    this.metrics?.recordBatchFailed();
    for (const group of batch) group.reject(error);
  }

  private tellFailed(entries: readonly NewEntry[]): void {
    for (const listener of this.failureListeners) listener(entries);
  }
}
