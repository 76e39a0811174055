import { randomUUID } from 'node:crypto';
import type { TestDatabase } from '@parley/testing';
import type { DataSource } from 'typeorm';
import { freshDatabase, lockWaiters } from '../../test/database.js';
import { insertConversation, insertDevice, insertPractice, insertUser } from '../../test/factories.js';
import { waitUntil } from '../../test/wait.js';
import { openDatabase } from '../database/data-source.js';
import { begin, rows, run } from '../database/sql.js';
import { CapacityRepository } from './capacity.repository.js';

const NOW = new Date('2025-03-04T10:00:00.000Z');

describe(CapacityRepository.name, () => {
  let database: TestDatabase;
  let dataSource: DataSource;
  let sut: CapacityRepository;

  beforeAll(async () => {
    database = await freshDatabase();
    dataSource = await openDatabase(database.url);
    sut = new CapacityRepository(dataSource);
  });

  afterAll(async () => {
    await dataSource.destroy();
    await database.drop();
  });

  it('hands back a clinician’s conversations locked in id order, as the record writer locks them: a batch holding one of them waits, never deadlocks', async () => {
    const practiceId = (await insertPractice(dataSource)).id;
    const patientId = await insertUser(dataSource, practiceId, ['patient']);
    const deviceId = await insertDevice(dataSource, patientId);
    const clinicianId = await insertUser(dataSource, practiceId, ['clinician']);
    await run(dataSource, `INSERT INTO clinician_capacity (user_id, practice_id, availability, connected_at) VALUES ($1, $2, 'available', now())`, [
      clinicianId,
      practiceId,
    ]);
    // The OLDER conversation has the LARGER id: oldest-first and id order disagree.
    const [lowId, highId] = [randomUUID(), randomUUID()].sort();
    const opened = { practiceId, patientId, deviceId };
    await insertConversation(dataSource, opened, new Date('2025-03-04T09:00:00.000Z'), clinicianId, highId);
    await insertConversation(dataSource, opened, new Date('2025-03-04T09:30:00.000Z'), clinicianId, lowId);

    // A record batch holding the lower id's row, about to lock the higher one (the writer's own order).
    const batch = await begin(dataSource, `SELECT id FROM conversations WHERE id = '${lowId}' FOR NO KEY UPDATE`);
    const handBack = sut.requeueAllOf(practiceId, clinicianId, NOW);
    try {
      await waitUntil(
        async () => (await lockWaiters(dataSource, '%assigned_clinician_id = $1 AND status IN%')) > 0,
        'the hand-back to wait for the batch’s row',
      );
      // Had the hand-back taken the older (higher-id) row first, this would wait for it while it waits for ours: a
      // deadlock, which PostgreSQL ends after deadlock_timeout by refusing one of the two (40P01).
      await run(batch.transaction.db, `SELECT id FROM conversations WHERE id = '${highId}' FOR NO KEY UPDATE`);
      await batch.transaction.commit();
    } finally {
      await batch.transaction.rollback();
    }

    expect(await handBack).toEqual([
      { conversationId: highId, patientId },
      { conversationId: lowId, patientId },
    ]);
    expect(await rows(dataSource, `SELECT id, status FROM conversations WHERE practice_id = $1 ORDER BY queued_at`, [practiceId])).toEqual([
      { id: highId, status: 'waiting' },
      { id: lowId, status: 'waiting' },
    ]);
  });
});
