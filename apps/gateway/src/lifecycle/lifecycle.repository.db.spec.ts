import type { TestDatabase } from '@parley/testing';
import type { DataSource } from 'typeorm';
import { freshDatabase } from '../../test/database.js';
import { insertConversation, insertDevice, insertPractice, insertUser } from '../../test/factories.js';
import { openDatabase } from '../database/data-source.js';
import { begin } from '../database/sql.js';
import { LifecycleRepository } from './lifecycle.repository.js';

const NOW = new Date('2025-03-04T10:00:00.000Z');
const DAY_START = new Date('2025-03-04T00:00:00.000Z');

describe(LifecycleRepository.name, () => {
  let database: TestDatabase;
  let dataSource: DataSource;
  let sut: LifecycleRepository;
  // Each test has a practice of its own (a patient and two available clinicians, x and y, each with a cap of 1), so
  // no test sees the rows of another.
  let practiceId: string;
  let patientId: string;
  let deviceId: string;
  let x: string;
  let y: string;

  beforeAll(async () => {
    database = await freshDatabase();
    dataSource = await openDatabase(database.url);
    sut = new LifecycleRepository(dataSource);
  });

  beforeEach(async () => {
    practiceId = (await insertPractice(dataSource)).id;
    patientId = await insertUser(dataSource, practiceId, ['patient']);
    deviceId = await insertDevice(dataSource, patientId);
    x = await insertUser(dataSource, practiceId, ['clinician']);
    y = await insertUser(dataSource, practiceId, ['clinician']);
    for (const id of [x, y])
      await dataSource.query(
        `INSERT INTO clinician_capacity (user_id, practice_id, max_concurrent, availability, connected_at) VALUES ($1, $2, 1, 'available', now())`,
        [id, practiceId],
      );
  });

  afterAll(async () => {
    await dataSource.destroy();
    await database.drop();
  });

  /** A conversation of the test's patient opened at `createdAt`, waiting, or assigned to `clinicianId`. */
  const aConversation = (createdAt: Date, clinicianId?: string) => insertConversation(dataSource, { practiceId, patientId, deviceId }, createdAt, clinicianId);

  const queuedAt = async (id: string) => (await dataSource.query(`SELECT queued_at FROM conversations WHERE id = $1`, [id]))[0].queued_at as Date;

  it('puts a requeued conversation 1 ms before the earliest waiting one, and ends its assignment', async () => {
    const waiting = await aConversation(new Date('2025-03-04T09:00:00.000Z'));
    const held = await aConversation(new Date('2025-03-04T09:30:00.000Z'), x);

    const change = await sut.requeue(practiceId, held, { kind: 'assignee', userId: x }, NOW);

    expect(change).toEqual({ practiceId, conversationId: held, patientId, previousClinicianId: x });
    expect((await queuedAt(held)).getTime()).toBe((await queuedAt(waiting)).getTime() - 1);
    expect(await dataSource.query(`SELECT ended_at FROM assignments WHERE conversation_id = $1`, [held])).toEqual([{ ended_at: NOW }]);
  });

  it('refuses a requeue by someone other than the assignee and changes nothing', async () => {
    const id = await aConversation(NOW, x);

    expect(await sut.requeue(practiceId, id, { kind: 'assignee', userId: y }, NOW)).toBe('not_assignee');
    expect(await dataSource.query(`SELECT status, assigned_clinician_id FROM conversations WHERE id = $1`, [id])).toEqual([
      { status: 'assigned', assigned_clinician_id: x },
    ]);
  });

  it('lets exactly one of two concurrent transfers into the last free slot through', async () => {
    await dataSource.query(`UPDATE clinician_capacity SET max_concurrent = 2 WHERE user_id = $1`, [x]);
    const first = await aConversation(NOW, x);
    const second = await aConversation(NOW, x);

    const outcomes = await Promise.all([first, second].map((id) => sut.transferTo(practiceId, id, { kind: 'assignee', userId: x }, y, NOW, DAY_START)));

    expect(outcomes.filter((outcome) => outcome === 'at_cap')).toHaveLength(1);
    expect(await dataSource.query(`SELECT count(*)::int AS n FROM conversations WHERE assigned_clinician_id = $1`, [y])).toEqual([{ n: 1 }]);
    expect(await dataSource.query(`SELECT count(*)::int AS n FROM assignments WHERE clinician_id = $1 AND how = 'transfer' AND ended_at IS NULL`, [y])).toEqual(
      [{ n: 1 }],
    );
  });

  it('closes and holds under the conversation row alone: neither waits for a routing pass holding the clinician rows', async () => {
    const held = await aConversation(NOW, x);
    const closed = await aConversation(NOW, y);
    // A routing pass (or claim, transfer, hand-back) of the practice under way on another connection: its locks held.
    const pass = await begin(dataSource, `SELECT 1 FROM clinician_capacity WHERE practice_id = '${practiceId}' ORDER BY user_id FOR UPDATE`);
    const waitedForThePass = () => new Promise<'waited'>((resolve) => setTimeout(() => resolve('waited'), 5_000));

    try {
      const outcomes = await Promise.race([
        Promise.all([sut.setHold(practiceId, held, x, true), sut.close(practiceId, closed, { kind: 'assignee', userId: y }, 'resolved', undefined, NOW)]),
        waitedForThePass(),
      ]);

      expect(outcomes).not.toBe('waited');
      expect(await dataSource.query(`SELECT id, status FROM conversations WHERE id IN ($1, $2) ORDER BY status`, [closed, held])).toEqual([
        { id: closed, status: 'closed' },
        { id: held, status: 'on_hold' },
      ]);
    } finally {
      await pass.transaction.rollback();
    }
  });

  it('closes with a follow-up in one go, and completes it only once', async () => {
    const id = await aConversation(NOW, y);

    const closed = await sut.close(practiceId, id, { kind: 'assignee', userId: y }, 'follow_up', { dueDate: '2025-03-11', ownerId: x, createdBy: y }, NOW);
    const followUpId = (closed as { followUpId: string }).followUpId;
    const listed = await sut.openFollowUps(practiceId, x);
    const completions = [await sut.completeFollowUp(followUpId, x, NOW), await sut.completeFollowUp(followUpId, x, NOW)];

    expect(await dataSource.query(`SELECT status, outcome, assigned_clinician_id FROM conversations WHERE id = $1`, [id])).toEqual([
      { status: 'closed', outcome: 'follow_up', assigned_clinician_id: null },
    ]);
    expect(listed).toEqual([expect.objectContaining({ id: followUpId, ownerId: x, dueDate: '2025-03-11', patientId, doneAt: null })]);
    expect(completions).toEqual([true, false]);
    expect(await sut.openFollowUps(practiceId, x)).toEqual([]);
  });
});
