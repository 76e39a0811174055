import { randomUUID } from 'node:crypto';
import type { DataSource } from 'typeorm';
import type { TestDatabase } from '@parley/testing';
import { freshDatabase } from '../../test/database.js';
import { aConversation, aMessageEntry } from '../../test/factories.records.js';
import { openDatabase } from '../database/data-source.js';
import { genesisHash } from './record-hash.js';
import { RecordRepository } from './record.repository.js';

// The record's references, checked once per INSERT statement by a trigger instead of a foreign key per row
// (migration 1765000600000, docs/decisions/0007-record-references-per-statement.md).
describe('the record’s references', () => {
  let database: TestDatabase;
  let dataSource: DataSource;
  let records: RecordRepository;

  beforeAll(async () => {
    database = await freshDatabase();
    dataSource = await openDatabase(database.url);
    records = new RecordRepository(dataSource);
  });

  afterAll(async () => {
    await dataSource.destroy();
    await database.drop();
  });

  const entryCount = async (conversationId: string) =>
    Number((await dataSource.query(`SELECT count(*) AS n FROM record_entries WHERE conversation_id = $1`, [conversationId]))[0].n);

  /** A system entry inserted directly (the writer never names a conversation it did not lock). */
  const insertSystemEntry = (conversationId: string, seq: number, senderUserId: string | null = null) =>
    dataSource.query(
      `INSERT INTO record_entries (conversation_id, seq, kind, sender_user_id, system_event, system_data, created_at, prev_hash, hash)
       VALUES ($1, $2, 'system', $3, 'opened', '{}', now(), $4, $4)`,
      [conversationId, seq, senderUserId, genesisHash(conversationId)],
    );

  it('stores a batch whose conversations, devices and senders exist', async () => {
    const conversation = await aConversation(dataSource);

    const outcomes = await records.appendBatch([aMessageEntry(conversation, 1), aMessageEntry(conversation, 2)]);

    expect(outcomes.map((outcome) => outcome.status)).toEqual(['stored', 'stored']);
    expect(await entryCount(conversation.conversationId)).toBe(2);
  });

  it('refuses a whole batch holding a message from a device that is not its sender’s, or that does not exist, and stores none of it', async () => {
    const conversation = await aConversation(dataSource);
    const other = await aConversation(dataSource);

    const notTheSenders = records.appendBatch([aMessageEntry(conversation, 1), aMessageEntry({ ...conversation, deviceId: other.deviceId }, 2)]);
    await expect(notTheSenders).rejects.toMatchObject({ code: '23503', message: expect.stringMatching(/sender device/) });
    const unknownDevice = records.appendBatch([aMessageEntry({ ...conversation, deviceId: randomUUID() }, 1)]);
    await expect(unknownDevice).rejects.toMatchObject({ code: '23503' });
    const unknownSender = records.appendBatch([aMessageEntry({ ...conversation, patientId: randomUUID() }, 1)]);
    await expect(unknownSender).rejects.toMatchObject({ code: '23503' });

    expect(await entryCount(conversation.conversationId)).toBe(0);
    expect((await records.appendBatch([aMessageEntry(conversation, 1)]))[0]?.status).toBe('stored');
  });

  it('refuses an entry naming a conversation or a sender that does not exist', async () => {
    const missing = randomUUID();
    const conversation = await aConversation(dataSource);

    await expect(insertSystemEntry(missing, 1)).rejects.toMatchObject({ code: '23503', message: expect.stringMatching(/conversation/) });
    await expect(insertSystemEntry(conversation.conversationId, 1, randomUUID())).rejects.toMatchObject({ code: '23503' });
    await expect(insertSystemEntry(conversation.conversationId, 1, conversation.patientId)).resolves.toBeDefined();

    expect(await entryCount(missing)).toBe(0);
    expect(await entryCount(conversation.conversationId)).toBe(1);
  });

  it('never lets a conversation, device or account the record may name go away, nor change its id, while their other columns change as before', async () => {
    const { conversationId, deviceId, patientId } = await aConversation(dataSource);
    const other = await aConversation(dataSource);
    const refused = { code: '23001', message: expect.stringMatching(/referred to by the record/) };

    await expect(dataSource.query(`DELETE FROM conversations WHERE id = $1`, [conversationId])).rejects.toMatchObject(refused);
    await expect(dataSource.query(`DELETE FROM users WHERE id = $1`, [patientId])).rejects.toMatchObject(refused);
    await expect(dataSource.query(`UPDATE conversations SET id = $2 WHERE id = $1`, [conversationId, randomUUID()])).rejects.toMatchObject(refused);
    await expect(dataSource.query(`UPDATE users SET id = $2 WHERE id = $1`, [patientId, randomUUID()])).rejects.toMatchObject(refused);
    // Devices were kept before the record needed it (migration 1763750000000).
    const kept = { code: '23000' };
    await expect(dataSource.query(`DELETE FROM devices WHERE id = $1`, [deviceId])).rejects.toMatchObject(kept);
    await expect(dataSource.query(`UPDATE devices SET user_id = $2 WHERE id = $1`, [deviceId, other.patientId])).rejects.toMatchObject(kept);
    for (const table of ['conversations', 'devices', 'users']) {
      // CASCADE, so that no other table's foreign key refuses first: the named table's own trigger fires first.
      await expect(dataSource.query(`TRUNCATE ${table} CASCADE`)).rejects.toMatchObject(refused);
    }

    await dataSource.query(`UPDATE devices SET revoked_at = now() WHERE id = $1`, [deviceId]);
    await dataSource.query(`UPDATE users SET deactivated_at = now() WHERE id = $1`, [patientId]);
    await dataSource.query(`UPDATE conversations SET status = 'closed', closed_at = now() WHERE id = $1`, [conversationId]);
    expect(await dataSource.query(`SELECT count(*)::int AS n FROM conversations WHERE id = $1 AND status = 'closed'`, [conversationId])).toEqual([{ n: 1 }]);
  });
});
