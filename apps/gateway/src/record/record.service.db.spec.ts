import { randomUUID } from 'node:crypto';
import type { DataSource } from 'typeorm';
import type { TestDatabase } from '@parley/testing';
import { freshDatabase } from '../../test/database.js';
import { deferred } from '../../test/wait.js';
import { aConversation, aMessageEntry } from '../../test/factories.records.js';
import { DomainError } from '../common/domain-error.js';
import { openDatabase } from '../database/data-source.js';
import { verifyChain } from './record-hash.js';
import type { RealtimePublisher } from '../common/realtime.publisher.js';
import { RecordRepository, type PreparedBatch } from './record.repository.js';
import { MAX_BATCH_BYTES, MAX_BATCH_ENTRIES, RecordService } from './record.service.js';
import type { AppendOutcome, NewEntry } from './record.types.js';

describe(`${RecordService.name} batching`, () => {
  let database: TestDatabase;
  let dataSource: DataSource;
  let sut: RecordService;

  beforeAll(async () => {
    database = await freshDatabase();
    dataSource = await openDatabase(database.url);
    sut = new RecordService(new RecordRepository(dataSource));
  });

  afterAll(async () => {
    await dataSource.destroy();
    await database.drop();
  });

  const message = aMessageEntry;
  const stored = (outcome: AppendOutcome): number => (outcome.status === 'stored' ? outcome.seq : -1);
  const rowsOf = async (conversationId: string): Promise<{ seq: number; senderDeviceSeq: number | null; event: string | null }[]> =>
    (await dataSource.query(`SELECT seq, sender_device_seq, system_event FROM record_entries WHERE conversation_id = $1 ORDER BY seq`, [conversationId])).map(
      (row: { seq: string; sender_device_seq: string | null; system_event: string | null }) => ({
        seq: Number(row.seq),
        senderDeviceSeq: row.sender_device_seq === null ? null : Number(row.sender_device_seq),
        event: row.system_event,
      }),
    );

  /**
   * A writer whose first batch's COMMIT fails once `failCommit` settles (`committing` settles when it is under way), and
   * that tells `second.begun` and `second.prepared` of its second batch: tests steer by the batches' own steps, not by
   * sleeps, so a busy machine cannot reorder them.
   */
  const writerFailingFirstCommit = () => {
    const steps = { failCommit: deferred(), committing: deferred(), second: { begun: deferred(), prepared: deferred() } };
    class FailingFirstCommit extends RecordRepository {
      private batches = 0;
      override async prepareBatch(entries: readonly NewEntry[]): Promise<PreparedBatch> {
        const n = (this.batches += 1);
        if (n === 2) steps.second.begun.resolve();
        const prepared = await super.prepareBatch(entries);
        if (n === 2) steps.second.prepared.resolve();
        if (n !== 1) return prepared;
        return {
          ...prepared,
          commit: async () => {
            steps.committing.resolve();
            await steps.failCommit.promise;
            await prepared.rollback();
            throw new Error('connection lost at COMMIT');
          },
        };
      }
    }
    return { writer: new RecordService(new FailingFirstCommit(dataSource)), ...steps };
  };

  it('stores an appendAll group consecutively and in order, between the appends queued before and after it', async () => {
    const conversation = await aConversation(dataSource);
    const { conversationId } = conversation;

    const [before, group, after] = await Promise.all([
      Promise.all([1, 2, 3].map((n) => sut.append(message(conversation, n)))),
      sut.appendAll([
        { conversationId, system: { event: 'opened', data: { topic: 'admin' } } },
        message(conversation, 4),
        { conversationId, system: { event: 'marked_urgent', data: {} } },
      ]),
      Promise.all([5, 6].map((n) => sut.append(message(conversation, n)))),
    ]);

    expect(before.map(stored)).toEqual([1, 2, 3]);
    expect(group.map(stored)).toEqual([4, 5, 6]);
    expect(after.map(stored)).toEqual([7, 8]);
    expect((await rowsOf(conversationId)).map((row) => row.event ?? row.senderDeviceSeq)).toEqual([1, 2, 3, 'opened', 4, 'marked_urgent', 5, 6]);
    expect(await sut.verifyAll()).toEqual([]);
  });

  it('keeps a group larger than one batch whole, in one transaction', async () => {
    const conversation = await aConversation(dataSource);
    const before = sut.batchSizes.length;

    const outcomes = await sut.appendAll(Array.from({ length: 300 }, (_, i) => message(conversation, i + 1)));

    expect(outcomes.map(stored)).toEqual(Array.from({ length: 300 }, (_, i) => i + 1));
    expect(sut.batchSizes.slice(before)).toEqual([300]);
  });

  it('writes a backlog in batches of at most MAX_BATCH_ENTRIES entries, in order', async () => {
    const conversation = await aConversation(dataSource);
    const before = sut.batchSizes.length;
    const count = MAX_BATCH_ENTRIES + 300;

    // The first append starts a batch of its own at once; the rest queue behind it and are taken as the writer allows.
    const outcomes = await Promise.all(Array.from({ length: count }, (_, i) => sut.append(message(conversation, i + 1))));

    expect(outcomes.map(stored)).toEqual(Array.from({ length: count }, (_, i) => i + 1));
    expect(sut.batchSizes.slice(before)).toEqual([1, MAX_BATCH_ENTRIES, count - 1 - MAX_BATCH_ENTRIES]);
  });

  it('cuts a backlog of large messages at MAX_BATCH_BYTES of ciphertext', async () => {
    const conversation = await aConversation(dataSource);
    const before = sut.batchSizes.length;
    const size = 33_000;
    const perBatch = Math.floor(MAX_BATCH_BYTES / size);

    const outcomes = await Promise.all(
      Array.from({ length: perBatch + 45 }, (_, i) => sut.append(message(conversation, i + 1, { ciphertext: Buffer.alloc(size, i) }))),
    );

    expect(outcomes.map(stored)).toEqual(Array.from({ length: perBatch + 45 }, (_, i) => i + 1));
    expect(sut.batchSizes.slice(before)).toEqual([1, perBatch, 44]);
  });

  it('stores none of a group when one of its entries fails, rejects that group (and whatever was queued behind it), and writes on afterwards', async () => {
    const conversation = await aConversation(dataSource);
    const { conversationId } = conversation;
    const broken = message(conversation, 2, { nonce: Buffer.alloc(5) });

    const [alone, group, next] = await Promise.allSettled([
      sut.append(message(conversation, 1)),
      sut.appendAll([{ conversationId, system: { event: 'marked_urgent', data: {} } }, broken]),
      sut.append(message(conversation, 3)),
    ]);

    expect(group.status).toBe('rejected');
    // Entries written in the failed transaction fail with it; those in another one are stored: each stored row is a fulfilled append.
    const fulfilled = [alone, next].flatMap((result) => (result.status === 'fulfilled' ? [result.value] : []));
    const rows = await rowsOf(conversationId);
    expect(rows.map((row) => row.senderDeviceSeq)).not.toContain(2);
    expect(rows.map((row) => row.event)).not.toContain('marked_urgent');
    expect(rows.map((row) => row.seq)).toEqual(fulfilled.map(stored));
    expect(await sut.append(message(conversation, 4))).toMatchObject({ status: 'stored', seq: rows.length + 1 });
    expect(await sut.verifyAll()).toEqual([]);
  });

  /** A repository that notes when each batch starts (BEGIN, head locks) and when it has committed. */
  class ObservedRepository extends RecordRepository {
    readonly events: string[] = [];
    private batches = 0;

    override async prepareBatch(entries: readonly NewEntry[]): Promise<PreparedBatch> {
      const n = (this.batches += 1);
      this.events.push(`started ${n}`);
      const prepared = await super.prepareBatch(entries);
      return {
        ...prepared,
        commit: async () => {
          const outcomes = await prepared.commit();
          this.events.push(`committed ${n}`);
          return outcomes;
        },
      };
    }
  }

  /** Appends `perConversation` messages to each conversation, interleaved, in call order, in waves that form many batches. */
  async function appendInWaves(writer: RecordService, conversations: Awaited<ReturnType<typeof aConversation>>[], perConversation: number, firstSeq = 1) {
    const answered: { conversationId: string; senderDeviceSeq: number; outcome: AppendOutcome }[] = [];
    const calls: Promise<void>[] = [];
    for (let n = firstSeq; n < firstSeq + perConversation; n += 1) {
      for (const conversation of conversations) {
        const entry = message(conversation, n);
        calls.push(writer.append(entry).then((outcome) => void answered.push({ conversationId: conversation.conversationId, senderDeviceSeq: n, outcome })));
      }
      if (n % 5 === 0) await new Promise((resolve) => setImmediate(resolve));
    }
    await Promise.all(calls);
    return answered;
  }

  it('starts the next batch while the previous one commits, and still stores, answers and relays each conversation in append order', async () => {
    const conversations = await Promise.all([1, 2, 3].map(() => aConversation(dataSource)));
    const repository = new ObservedRepository(dataSource);
    const relayed: { room: string; seq: number }[] = [];
    const realtime = { publish: (room: string, _event: string, payload: { seq: number }) => void relayed.push({ room, seq: payload.seq }) };
    const writer = new RecordService(repository, realtime as unknown as RealtimePublisher);

    const answered = await appendInWaves(writer, conversations, 60);

    const startedBeforePreviousCommitted = (event: string, i: number) =>
      event.startsWith('started') && repository.events.slice(i + 1).includes(`committed ${Number(event.split(' ')[1]) - 1}`);
    const overlapped = repository.events.some(startedBeforePreviousCommitted);
    expect(overlapped).toBe(true);
    for (const { conversationId } of conversations) {
      const mine = answered.filter((a) => a.conversationId === conversationId);
      // Answered in seq order, and seq order is append (call) order.
      expect(mine.map((a) => stored(a.outcome))).toEqual(Array.from({ length: 60 }, (_, i) => i + 1));
      expect(mine.map((a) => a.senderDeviceSeq)).toEqual(Array.from({ length: 60 }, (_, i) => i + 1));
      expect((await rowsOf(conversationId)).map((row) => row.senderDeviceSeq)).toEqual(Array.from({ length: 60 }, (_, i) => i + 1));
      expect(relayed.filter((r) => r.room.endsWith(conversationId)).map((r) => r.seq)).toEqual(Array.from({ length: 60 }, (_, i) => i + 1));
      const [head] = await dataSource.query(`SELECT last_seq, last_hash FROM conversations WHERE id = $1`, [conversationId]);
      expect(
        verifyChain(conversationId, await writer.entriesAfter(conversationId, 0, 1000), { lastSeq: Number(head.last_seq), lastHash: head.last_hash }),
      ).toBeUndefined();
    }
  });

  it('stores nothing behind a batch whose COMMIT fails: the next batch, begun already, is rolled back and what was queued fails, all told to the listeners first', async () => {
    const conversation = await aConversation(dataSource);
    // Batch 1's COMMIT fails once the test lets it, after batch 2 has begun and append 3 waits behind both.
    const { writer, failCommit, committing, second: secondBatch } = writerFailingFirstCommit();
    const told: number[] = [];
    const answers: string[] = [];
    writer.onEntriesFailed((entries) => told.push(...entries.map((entry) => entry.message!.senderDeviceSeq)));
    const appendAt = (seq: number) =>
      writer.append(message(conversation, seq)).then(
        () => void answers.push(`stored ${seq}`),
        () => {
          // Told before its caller hears of the failure.
          expect(told).toContain(seq);
          answers.push(`failed ${seq}`);
        },
      );
    const first = appendAt(1); // batch 1: its COMMIT fails
    await committing.promise;
    const second = appendAt(2); // batch 2: begun while batch 1 commits
    await secondBatch.begun.promise;
    const third = appendAt(3); // queued behind both
    failCommit.resolve();
    await Promise.all([first, second, third]);

    expect(answers.sort()).toEqual(['failed 1', 'failed 2', 'failed 3']);
    expect(told.sort()).toEqual([1, 2, 3]);
    expect(await rowsOf(conversation.conversationId)).toEqual([]);
    // Appends after the failure are written again, from seq 1.
    expect(await writer.append(message(conversation, 1))).toMatchObject({ status: 'stored', seq: 1 });
  });

  it('leaves no empty batch behind when a failure fails the queue while the writer waits for a pipeline slot: the next append is stored', async () => {
    const [failing, other] = [await aConversation(dataSource), await aConversation(dataSource)];
    // Batch 2 (another conversation, so no head lock to wait for) is prepared before batch 1's COMMIT fails; append 3 waits for a slot.
    const { writer, failCommit, committing, second: secondBatch } = writerFailingFirstCommit();
    const settled = (append: Promise<AppendOutcome>) => append.then(stored, () => 'failed');
    const first = settled(writer.append(message(failing, 1)));
    await committing.promise;
    const second = settled(writer.append(message(other, 1)));
    await secondBatch.prepared.promise;
    const third = settled(writer.append(message(failing, 2))); // queued: both pipeline slots are taken
    failCommit.resolve();
    const answers = await Promise.all([first, second, third]);

    const next = await settled(writer.append(message(other, 1)));

    expect(answers).toEqual(['failed', 'failed', 'failed']);
    expect(next).toBe(1);
    expect(writer.batchSizes).not.toContain(0);
  });

  it('answers retries queued in later pipelined batches with the original place, and conflicts as conflicts', async () => {
    const conversation = await aConversation(dataSource);
    const originals = Array.from({ length: 40 }, (_, i) => message(conversation, i + 1));

    const firsts = originals.map((entry) => sut.append(entry));
    await new Promise((resolve) => setImmediate(resolve));
    const retries = originals.map((entry) => sut.append(entry));
    const reused = sut.append({
      conversationId: conversation.conversationId,
      message: { ...originals[0]!.message!, ciphertext: Buffer.from('different content'.padEnd(32)) },
    });
    const replayedSeq = sut.append(message(conversation, 2));
    const fresh = sut.append(message(conversation, 41));

    const stores = await Promise.all(firsts);
    expect(stores.map(stored)).toEqual(Array.from({ length: 40 }, (_, i) => i + 1));
    expect(await Promise.all(retries)).toEqual(
      stores.map((outcome) => ({ status: 'duplicate', seq: stored(outcome), createdAt: (outcome as { createdAt: Date }).createdAt })),
    );
    expect(await reused).toEqual({ status: 'conflict' });
    expect(await replayedSeq).toEqual({ status: 'conflict' });
    expect(await fresh).toMatchObject({ status: 'stored', seq: 41 });
    expect((await rowsOf(conversation.conversationId)).length).toBe(41);
  });

  it("keeps every chain gap-free and in each writer's append order when another node's pipelined writer interleaves on the same conversations", async () => {
    const conversations = await Promise.all([1, 2].map(() => aConversation(dataSource)));
    const otherNode = await openDatabase(database.url);
    const other = new RecordService(new RecordRepository(otherNode));
    const tablets = await Promise.all(
      conversations.map(async (conversation) => {
        const deviceId = randomUUID();
        await dataSource.query(`INSERT INTO devices (id, user_id, label, sign_public_key, box_public_key) VALUES ($1, $2, 'tablet', $3, $3)`, [
          deviceId,
          conversation.patientId,
          Buffer.alloc(32, 9),
        ]);
        return { ...conversation, deviceId };
      }),
    );

    const [here, there] = await Promise.all([appendInWaves(sut, conversations, 50), appendInWaves(other, tablets, 50)]);
    await otherNode.destroy();

    expect([...here, ...there].every((a) => a.outcome.status === 'stored')).toBe(true);
    for (const conversation of conversations) {
      const rows = await rowsOf(conversation.conversationId);
      expect(rows.map((row) => row.seq)).toEqual(Array.from({ length: 100 }, (_, i) => i + 1));
      const seqOf = (answers: typeof here) => answers.filter((a) => a.conversationId === conversation.conversationId).map((a) => stored(a.outcome));
      // Each node's own appends keep their call order, and each node answered them in seq order.
      for (const answers of [here, there]) expect(seqOf(answers)).toEqual([...seqOf(answers)].sort((a, b) => a - b));
    }
    expect(await sut.verifyAll()).toEqual([]);
  });

  it('refuses appends beyond RECORD_QUEUE_MAX at once with rate_limited, stores none of them, and takes appends again once the queue drains', async () => {
    const conversation = await aConversation(dataSource);
    const writer = new RecordService(new RecordRepository(dataSource), undefined, undefined, undefined, { recordQueueMax: 10 });
    const entries = Array.from({ length: 30 }, (_, i) => message(conversation, i + 1));

    // The first append starts a batch at once; ten more fill the queue; the rest, and a group that does not fit, are refused.
    const results = entries.map((entry) =>
      writer.append(entry).then(
        (outcome) => ({ outcome }),
        (error: unknown) => ({ error }),
      ),
    );
    const group = await writer.appendAll([message(conversation, 31)]).catch((error: unknown) => error);
    const settled = await Promise.all(results);

    expect(group).toBeInstanceOf(DomainError);
    expect(group).toMatchObject({ code: 'rate_limited' });
    expect(settled.slice(0, 11).map((result) => ('outcome' in result ? stored(result.outcome) : result.error))).toEqual(
      Array.from({ length: 11 }, (_, i) => i + 1),
    );
    expect(settled.slice(11).every((result) => 'error' in result && result.error instanceof DomainError && result.error.code === 'rate_limited')).toBe(true);
    expect((await rowsOf(conversation.conversationId)).map((row) => row.senderDeviceSeq)).toEqual(Array.from({ length: 11 }, (_, i) => i + 1));
    expect(await writer.append(entries[20]!)).toMatchObject({ status: 'stored', seq: 12 });
  });

  it('answers an empty group at once with no outcomes', async () => {
    await expect(sut.appendAll([])).resolves.toEqual([]);
  });
});
