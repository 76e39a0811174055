import { randomBytes, randomUUID } from 'node:crypto';
import type { TestDatabase } from '@parley/testing';
import type { DataSource } from 'typeorm';
import { freshDatabase } from '../../test/database.js';
import { insertDevice, insertPractice, insertUser } from '../../test/factories.js';
import { openDatabase } from '../database/data-source.js';
import { DashboardRepository } from './dashboard.repository.js';

// 2025-03-31 is the first day of British Summer Time: London is UTC+1 all day.
const DAY_START = new Date('2025-03-30T23:00:00.000Z');
const DAY_END = new Date('2025-03-31T23:00:00.000Z');

describe(DashboardRepository.name, () => {
  let database: TestDatabase;
  let dataSource: DataSource;
  let sut: DashboardRepository;
  let practiceId: string;
  let patientId: string;
  let deviceId: string;
  let clinicianId: string;

  beforeAll(async () => {
    database = await freshDatabase();
    dataSource = await openDatabase(database.url);
    sut = new DashboardRepository(dataSource);
    practiceId = (await insertPractice(dataSource)).id;
    patientId = await insertUser(dataSource, practiceId, ['patient']);
    deviceId = await insertDevice(dataSource, patientId);
    clinicianId = await insertUser(dataSource, practiceId, ['clinician']);
  });

  afterAll(async () => {
    await dataSource.destroy();
    await database.drop();
  });

  /** A conversation opened at `createdAt`; each of `assignedAfterSeconds` is an assignment that many seconds later. */
  async function aConversation(createdAt: string, assignedAfterSeconds: number[], status = 'waiting'): Promise<void> {
    const id = randomUUID();
    const isHeld = assignedAfterSeconds.length > 0 && status !== 'closed';
    await dataSource.query(
      `INSERT INTO conversations (id, practice_id, patient_id, topic, created_by_device_id, last_hash, created_at, queued_at, status, assigned_clinician_id, outcome)
       VALUES ($1, $2, $3, 'admin', $4, $5, $6, $6, $7, $8, $9)`,
      [
        id,
        practiceId,
        patientId,
        deviceId,
        randomBytes(32),
        createdAt,
        isHeld ? 'assigned' : status,
        isHeld ? clinicianId : null,
        status === 'closed' ? 'resolved' : null,
      ],
    );
    const at = (seconds: number | undefined) => (seconds === undefined ? null : new Date(Date.parse(createdAt) + seconds * 1000));
    for (const [index, seconds] of assignedAfterSeconds.entries()) {
      // Only the newest assignment may be live; an earlier one ended when the next began.
      await dataSource.query(
        `INSERT INTO assignments (id, conversation_id, clinician_id, practice_id, how, assigned_at, ended_at) VALUES ($1, $2, $3, $4, 'auto', $5, $6)`,
        [randomUUID(), id, clinicianId, practiceId, at(seconds), at(assignedAfterSeconds[index + 1])],
      );
    }
  }

  it('counts the day’s conversations per local hour, with the median and longest wait to the FIRST assignment', async () => {
    await aConversation('2025-03-30T22:59:00.000Z', [10]); // the day before, local 23:59
    await aConversation('2025-03-31T08:05:00.000Z', [60, 600], 'closed'); // local 09:05, first taken after 1 min
    await aConversation('2025-03-31T08:20:00.000Z', [180]); // local 09:20
    await aConversation('2025-03-31T08:40:00.000Z', [120]); // local 09:40
    await aConversation('2025-03-31T13:00:00.000Z', []); // local 14:00, still waiting
    await aConversation('2025-03-31T22:30:00.000Z', [30]); // local 23:30

    const day = await sut.day(practiceId, DAY_START, DAY_END, 'Europe/London');

    expect(day.hours).toEqual([
      { hour: 9, opened: 3, answered: 3, medianWaitSeconds: 120, longestWaitSeconds: 180 },
      { hour: 14, opened: 1, answered: 0, medianWaitSeconds: null, longestWaitSeconds: null },
      { hour: 23, opened: 1, answered: 1, medianWaitSeconds: 30, longestWaitSeconds: 30 },
    ]);
    expect(day.totals).toEqual({ opened: 5, answered: 4, closed: 1, medianWaitSeconds: 90, longestWaitSeconds: 180 });
  });

  it('answers an empty day with zeros and no hours', async () => {
    const day = await sut.day(practiceId, new Date('2025-01-01T00:00:00Z'), new Date('2025-01-02T00:00:00Z'), 'Europe/London');

    expect(day).toEqual({ hours: [], totals: { opened: 0, answered: 0, closed: 0, medianWaitSeconds: null, longestWaitSeconds: null } });
  });
});
