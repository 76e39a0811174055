import { randomUUID } from 'node:crypto';
import type { DataSource } from 'typeorm';
import type { TestDatabase } from '@parley/testing';
import { freshDatabase } from '../../test/database.js';
import { aConversation } from '../../test/factories.records.js';
import { openDatabase } from '../database/data-source.js';
import { RecordRepository } from './record.repository.js';
import { RecordService } from './record.service.js';
import type { AppendOutcome, NewEntry, NewMessage } from './record.types.js';

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

  const message = (
    to: { conversationId: string; patientId: string; deviceId: string },
    senderDeviceSeq: number,
    overrides: Partial<NewMessage> = {},
  ): NewEntry => ({
    conversationId: to.conversationId,
    message: {
      epoch: 1,
      senderUserId: to.patientId,
      senderDeviceId: to.deviceId,
      senderRole: 'patient',
      senderDeviceSeq,
      clientMessageId: randomUUID(),
      contentType: 'text',
      ciphertext: Buffer.from(`message ${senderDeviceSeq}`.padEnd(32, '.')),
      nonce: Buffer.alloc(24, senderDeviceSeq % 256),
      ...overrides,
    },
  });
  const stored = (outcome: AppendOutcome): number => (outcome.status === 'stored' ? outcome.seq : -1);
  const rowsOf = async (conversationId: string): Promise<{ seq: number; senderDeviceSeq: number | null; event: string | null }[]> =>
    (await dataSource.query(`SELECT seq, sender_device_seq, system_event FROM record_entries WHERE conversation_id = $1 ORDER BY seq`, [conversationId])).map(
      (row: { seq: string; sender_device_seq: string | null; system_event: string | null }) => ({
        seq: Number(row.seq),
        senderDeviceSeq: row.sender_device_seq === null ? null : Number(row.sender_device_seq),
        event: row.system_event,
      }),
    );

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

  it('stores none of a group when one of its entries fails, rejects only that group, and writes the batch around it', async () => {
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

  it('answers an empty group at once with no outcomes', async () => {
    await expect(sut.appendAll([])).resolves.toEqual([]);
  });
});
