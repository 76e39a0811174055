import { randomUUID } from 'node:crypto';
import type { DataSource } from 'typeorm';
import type { TestDatabase } from '@parley/testing';
import { freshDatabase, holdingConversation, lockWaiters } from '../../test/database.js';
import { aConversation, aMessageEntry } from '../../test/factories.records.js';
import { orStillWaiting, waitUntil } from '../../test/wait.js';
import { openDatabase } from '../database/data-source.js';
import { begin } from '../database/sql.js';
import { genesisHash } from './record-hash.js';
import { RecordRepository } from './record.repository.js';
import { RecordService } from './record.service.js';
import type { AppendOutcome, NewEntry, NewMessage } from './record.types.js';

describe(RecordService.name, () => {
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

  const message = (
    conversationId: string,
    patientId: string,
    deviceId: string,
    senderDeviceSeq: number,
    body = `c${senderDeviceSeq}`,
  ): { conversationId: string; message: NewMessage } => ({
    conversationId,
    message: {
      epoch: 1,
      senderUserId: patientId,
      senderDeviceId: deviceId,
      senderRole: 'patient',
      senderDeviceSeq,
      clientMessageId: randomUUID(),
      contentType: 'text',
      ciphertext: Buffer.from(body.padEnd(32, '.')),
      nonce: Buffer.alloc(24, senderDeviceSeq % 256),
    },
  });
  const seqs = async (conversationId: string) =>
    (await dataSource.query(`SELECT seq FROM record_entries WHERE conversation_id = $1 ORDER BY seq`, [conversationId])).map((r: { seq: string }) =>
      Number(r.seq),
    );

  it('gives concurrent appends gap-free sequence numbers in one or a few transactions, and a chain that verifies', async () => {
    const { conversationId, patientId, deviceId } = await aConversation(dataSource);
    const before = sut.batchSizes.length;

    const outcomes = await Promise.all(Array.from({ length: 50 }, (_, i) => sut.append(message(conversationId, patientId, deviceId, i + 1))));

    expect(outcomes.map((o) => (o.status === 'stored' ? o.seq : -1)).sort((a, b) => a - b)).toEqual(Array.from({ length: 50 }, (_, i) => i + 1));
    expect(await seqs(conversationId)).toEqual(Array.from({ length: 50 }, (_, i) => i + 1));
    expect(sut.batchSizes.length - before).toBeLessThan(50);
    expect(await sut.verifyAll()).toEqual([]);
  });

  it('answers a retried send with its original place and writes nothing new', async () => {
    const { conversationId, patientId, deviceId } = await aConversation(dataSource);
    const entry = message(conversationId, patientId, deviceId, 1);

    const first = await sut.append(entry);
    const again = await sut.append(entry);
    const [inSameBatchA, inSameBatchB] = await Promise.all([sut.append(message(conversationId, patientId, deviceId, 2)), sut.append(entry)]);

    expect(first).toMatchObject({ status: 'stored', seq: 1 });
    expect(again).toMatchObject({ status: 'duplicate', seq: 1 });
    expect(inSameBatchA).toMatchObject({ status: 'stored', seq: 2 });
    expect(inSameBatchB).toMatchObject({ status: 'duplicate', seq: 1 });
    expect(await seqs(conversationId)).toEqual([1, 2]);
  });

  it('refuses the same client message id with different content, and a replayed sender sequence, changing nothing', async () => {
    const { conversationId, patientId, deviceId } = await aConversation(dataSource);
    const original = message(conversationId, patientId, deviceId, 1, 'original');
    await sut.append(original);
    const stored = await dataSource.query(`SELECT ciphertext FROM record_entries WHERE conversation_id = $1`, [conversationId]);

    const sameIdOtherContent = await sut.append({ ...original, message: { ...original.message, ciphertext: Buffer.from('other content'.padEnd(32)) } });
    const replayedSeq = await sut.append(message(conversationId, patientId, deviceId, 1, 'replay'));

    expect(sameIdOtherContent).toEqual({ status: 'conflict' });
    expect(replayedSeq).toEqual({ status: 'conflict' });
    expect(await dataSource.query(`SELECT ciphertext FROM record_entries WHERE conversation_id = $1`, [conversationId])).toEqual(stored);
  });

  it('refuses a message to a closed conversation or an epoch that does not exist yet', async () => {
    const open = await aConversation(dataSource);
    const closed = await aConversation(dataSource);
    await dataSource.query(`UPDATE conversations SET status = 'closed' WHERE id = $1`, [closed.conversationId]);

    const toClosed = await sut.append(message(closed.conversationId, closed.patientId, closed.deviceId, 1));
    const futureEpoch = message(open.conversationId, open.patientId, open.deviceId, 1);
    futureEpoch.message.epoch = 2;

    expect(toClosed).toEqual({ status: 'closed' });
    expect(await sut.append(futureEpoch)).toEqual({ status: 'unknown_epoch', currentEpoch: 1 });
    expect(await sut.append(message(randomUUID(), open.patientId, open.deviceId, 1))).toEqual({ status: 'not_found' });
  });

  it('refuses a message under an epoch older than the current one, naming the current one, and stores it once sent under that', async () => {
    const open = await aConversation(dataSource);
    await dataSource.query(`UPDATE conversations SET current_epoch = 3 WHERE id = $1`, [open.conversationId]);
    const stale = message(open.conversationId, open.patientId, open.deviceId, 1);
    stale.message.epoch = 2;

    const refused = await sut.append(stale);
    const resent = await sut.append({ ...stale, message: { ...stale.message, epoch: 3 } });

    expect(refused).toEqual({ status: 'stale_epoch', currentEpoch: 3 });
    expect(resent).toMatchObject({ status: 'stored', seq: 1 });
    expect(await seqs(open.conversationId)).toEqual([1]);
  });

  it('keeps one gap-free chain when two nodes (two pools and writers) append to the same conversation at once', async () => {
    const { conversationId, patientId, deviceId } = await aConversation(dataSource);
    const otherNode = await openDatabase(database.url);
    const other = new RecordService(new RecordRepository(otherNode));
    const secondDevice = randomUUID();
    await dataSource.query(`INSERT INTO devices (id, user_id, label, sign_public_key, box_public_key) VALUES ($1, $2, 'tablet', $3, $3)`, [
      secondDevice,
      patientId,
      Buffer.alloc(32, 9),
    ]);

    await Promise.all(
      Array.from({ length: 40 }, (_, i) =>
        i % 2 === 0 ? sut.append(message(conversationId, patientId, deviceId, i + 1)) : other.append(message(conversationId, patientId, secondDevice, i + 1)),
      ),
    );
    await otherNode.destroy();

    expect(await seqs(conversationId)).toEqual(Array.from({ length: 40 }, (_, i) => i + 1));
    expect(await sut.verifyAll()).toEqual([]);
  });

  it('appends while another transaction holds the conversation for a foreign-key check (a receipt being stored), and waits for one that changes it', async () => {
    const { conversationId, patientId, deviceId } = await aConversation(dataSource);

    let pastReceipt: AppendOutcome | 'still waiting' | undefined;
    await holdingConversation(dataSource, conversationId, 'KEY SHARE', async () => {
      pastReceipt = await orStillWaiting(sut.append(message(conversationId, patientId, deviceId, 1)), 3_000);
    });
    // Another writer (a second node's record writer, a routing pass, a new epoch) holds the head: the append waits for it.
    let behindWriter: Promise<AppendOutcome> | undefined;
    let whileHeld: number[] = [];
    await holdingConversation(dataSource, conversationId, 'NO KEY UPDATE', async () => {
      behindWriter = sut.append(message(conversationId, patientId, deviceId, 2));
      await waitUntil(async () => (await lockWaiters(dataSource)) >= 1, 'the append to wait for the head');
      whileHeld = await seqs(conversationId);
    });

    expect(pastReceipt).toMatchObject({ status: 'stored', seq: 1 });
    expect(whileHeld).toEqual([1]);
    expect(await behindWriter).toMatchObject({ status: 'stored', seq: 2 });
    expect(await sut.verifyAll()).toEqual([]);
  });

  it('cannot be edited or deleted: the database refuses', async () => {
    const { conversationId, patientId, deviceId } = await aConversation(dataSource);
    await sut.append(message(conversationId, patientId, deviceId, 1));

    await expect(dataSource.query(`UPDATE record_entries SET ciphertext = 'x' WHERE conversation_id = $1`, [conversationId])).rejects.toThrow(/append-only/);
    await expect(dataSource.query(`DELETE FROM record_entries WHERE conversation_id = $1`, [conversationId])).rejects.toThrow(/append-only/);
    await expect(dataSource.query(`TRUNCATE record_entries CASCADE`)).rejects.toThrow(/append-only/);
  });

  it('names a break when someone edits the record behind the triggers', async () => {
    const { conversationId, patientId, deviceId } = await aConversation(dataSource);
    await sut.append(message(conversationId, patientId, deviceId, 1));
    await sut.append(message(conversationId, patientId, deviceId, 2));

    await dataSource.transaction(async (db) => {
      await db.query(`ALTER TABLE record_entries DISABLE TRIGGER record_entries_no_update_delete`);
      await db.query(`UPDATE record_entries SET ciphertext = $2 WHERE conversation_id = $1 AND seq = 2`, [conversationId, Buffer.from('x'.repeat(32))]);
      await db.query(`ALTER TABLE record_entries ENABLE TRIGGER record_entries_no_update_delete`);
    });
    const breaks = await sut.verifyAll();

    expect(breaks).toEqual([{ conversationId, seq: 2, reason: 'hash_mismatch' }]);
  });
});

describe(RecordRepository.name, () => {
  let database: TestDatabase;
  let dataSource: DataSource;
  let sut: RecordRepository;

  beforeAll(async () => {
    database = await freshDatabase();
    dataSource = await openDatabase(database.url);
    sut = new RecordRepository(dataSource);
  });

  afterAll(async () => {
    await dataSource.destroy();
    await database.drop();
  });

  const message = aMessageEntry;
  const head = async (conversationId: string): Promise<{ lastSeq: number; lastHash: Buffer }> => {
    const [row] = await dataSource.query(`SELECT last_seq, last_hash FROM conversations WHERE id = $1`, [conversationId]);
    return { lastSeq: Number(row.last_seq), lastHash: row.last_hash };
  };
  const entryCount = async (conversationId: string): Promise<number> =>
    Number((await dataSource.query(`SELECT count(*) AS n FROM record_entries WHERE conversation_id = $1`, [conversationId]))[0].n);

  it('appends messages and system entries of several conversations in one batch, in order, chained, and moves each head to its last entry', async () => {
    const a = await aConversation(dataSource);
    const b = await aConversation(dataSource);
    const batch: NewEntry[] = [
      { conversationId: a.conversationId, system: { event: 'opened', data: { topic: 'admin' } } },
      message(a, 1),
      { conversationId: b.conversationId, system: { event: 'marked_urgent', data: {} } },
      { conversationId: a.conversationId, system: { event: 'assigned', data: { clinicianId: randomUUID(), how: 'claim' } } },
    ];

    const outcomes = await sut.appendBatch(batch);

    expect(outcomes.map((outcome) => (outcome.status === 'stored' ? outcome.seq : outcome.status))).toEqual([1, 2, 1, 3]);
    // Each outcome names its own conversation's patient (read with the head), for the stored-entry listeners.
    expect(outcomes.map((outcome) => outcome.status === 'stored' && outcome.patientId)).toEqual([a.patientId, a.patientId, b.patientId, a.patientId]);
    const entries = await sut.entriesAfter(a.conversationId, 0, 10);
    expect(entries.map((entry) => entry.system ?? entry.message)).toEqual([batch[0]!.system, batch[1]!.message, batch[3]!.system]);
    expect(entries.map((entry) => entry.prevHash)).toEqual([genesisHash(a.conversationId), entries[0]!.hash, entries[1]!.hash]);
    expect(await head(a.conversationId)).toEqual({ lastSeq: 3, lastHash: entries[2]!.hash });
    const [urgent] = await sut.entriesAfter(b.conversationId, 0, 10);
    expect(urgent).toMatchObject({ seq: 1, system: { event: 'marked_urgent', data: {} }, prevHash: genesisHash(b.conversationId) });
    expect(await head(b.conversationId)).toEqual({ lastSeq: 1, lastHash: urgent!.hash });
  });

  it("chains a new conversation's first entries in its creator's transaction, naming the patient given; another conversation's are not_found", async () => {
    const existing = await aConversation(dataSource);
    const conversationId = randomUUID();
    const { transaction } = await begin(dataSource, 'SELECT 1');
    await transaction.db.query(
      `INSERT INTO conversations (id, practice_id, patient_id, topic, created_by_device_id, last_hash) VALUES ($1, $2, $3, 'admin', $4, $5)`,
      [conversationId, existing.practiceId, existing.patientId, existing.deviceId, genesisHash(conversationId)],
    );

    const outcomes = await sut.appendToNew(
      transaction.db,
      [{ id: conversationId, patientId: existing.patientId }],
      [
        { conversationId, system: { event: 'opened', data: { topic: 'admin' } } },
        { conversationId: existing.conversationId, system: { event: 'marked_urgent', data: {} } },
      ],
    );
    await transaction.commit();

    expect(outcomes).toEqual([expect.objectContaining({ status: 'stored', seq: 1, patientId: existing.patientId }), { status: 'not_found' }]);
    expect(await head(conversationId)).toEqual({ lastSeq: 1, lastHash: (outcomes[0] as { hash: Buffer }).hash });
    expect(await entryCount(existing.conversationId)).toBe(0);
  });

  it('answers a retry, a reused id or sender sequence, a closed conversation, a future epoch and an unknown conversation without writing or moving a head', async () => {
    const open = await aConversation(dataSource);
    const closed = await aConversation(dataSource);
    const sent = message(open, 1);
    const [stored] = await sut.appendBatch([sent]);
    await dataSource.query(`UPDATE conversations SET status = 'closed' WHERE id = $1`, [closed.conversationId]);
    const before = await head(open.conversationId);

    const outcomes = await sut.appendBatch([
      sent,
      message(open, 2, { clientMessageId: sent.message!.clientMessageId }),
      message(open, 1),
      message(closed, 1),
      message(open, 3, { epoch: 2 }),
      message({ ...open, conversationId: randomUUID() }, 4),
    ]);

    expect(stored).toMatchObject({ status: 'stored', seq: 1 });
    expect(outcomes).toEqual([
      { status: 'duplicate', seq: 1, createdAt: (stored as { createdAt: Date }).createdAt },
      { status: 'conflict' },
      { status: 'conflict' },
      { status: 'closed' },
      { status: 'unknown_epoch', currentEpoch: 1 },
      { status: 'not_found' },
    ]);
    expect(await head(open.conversationId)).toEqual(before);
    expect(await head(closed.conversationId)).toEqual({ lastSeq: 0, lastHash: genesisHash(closed.conversationId) });
    expect(await entryCount(open.conversationId)).toBe(1);
    expect(await entryCount(closed.conversationId)).toBe(0);
  });

  it('still appends a system entry to a closed conversation, after the messages it refuses', async () => {
    const conversation = await aConversation(dataSource);
    await dataSource.query(`UPDATE conversations SET status = 'closed' WHERE id = $1`, [conversation.conversationId]);

    const outcomes = await sut.appendBatch([
      message(conversation, 1),
      { conversationId: conversation.conversationId, system: { event: 'closed', data: { outcome: 'resolved' } } },
    ]);

    expect(outcomes.map((outcome) => outcome.status)).toEqual(['closed', 'stored']);
    expect((await sut.entriesAfter(conversation.conversationId, 0, 10)).map((entry) => entry.system?.event)).toEqual(['closed']);
    expect((await head(conversation.conversationId)).lastSeq).toBe(1);
  });

  it('answers the same client message id sent to two conversations from two nodes at once with one stored and one conflict', async () => {
    const first = await aConversation(dataSource);
    const second = await aConversation(dataSource);
    const otherNode = await openDatabase(database.url);
    const clientMessageId = randomUUID();

    const outcomes = await Promise.all([
      sut.appendBatch([message(first, 1, { clientMessageId })]),
      new RecordRepository(otherNode).appendBatch([message({ ...first, conversationId: second.conversationId }, 1, { clientMessageId })]),
    ]);
    await otherNode.destroy();

    expect(
      outcomes
        .flat()
        .map((outcome) => outcome.status)
        .sort(),
    ).toEqual(['conflict', 'stored']);
    expect((await entryCount(first.conversationId)) + (await entryCount(second.conversationId))).toBe(1);
  });

  it('finds a stored message by its sender device and client message id, and nothing for a system entry or an unknown id', async () => {
    const conversation = await aConversation(dataSource);
    const sent = message(conversation, 1);
    const [stored] = await sut.appendBatch([sent, { conversationId: conversation.conversationId, system: { event: 'marked_urgent', data: {} } }]);

    expect(await sut.findMessage(conversation.deviceId, sent.message!.clientMessageId)).toEqual({
      seq: 1,
      createdAt: (stored as { createdAt: Date }).createdAt,
    });
    expect(await sut.findMessage(conversation.deviceId, randomUUID())).toBeUndefined();
  });

  it('pages the chain heads in conversation id order', async () => {
    const { conversationId } = await aConversation(dataSource);
    await aConversation(dataSource);

    const all = await sut.heads('00000000-0000-0000-0000-000000000000', 1000);
    const page = await sut.heads(conversationId, 1);

    expect(all.map((h) => h.id)).toEqual(all.map((h) => h.id).sort());
    expect(all).toContainEqual({ id: conversationId, lastSeq: 0, lastHash: genesisHash(conversationId) });
    const next = all[all.findIndex((h) => h.id === conversationId) + 1];
    expect(page).toEqual(next ? [next] : []);
  });
});
