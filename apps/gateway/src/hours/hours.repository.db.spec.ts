import type { TestDatabase } from '@parley/testing';
import type { DataSource } from 'typeorm';
import { freshDatabase } from '../../test/database.js';
import { insertPractice } from '../../test/factories.js';
import { openDatabase } from '../database/data-source.js';
import { seedAlwaysOpenHours } from './demo-hours.js';
import { HoursRepository } from './hours.repository.js';

describe(HoursRepository.name, () => {
  let database: TestDatabase;
  let dataSource: DataSource;
  let sut: HoursRepository;

  beforeAll(async () => {
    database = await freshDatabase();
    dataSource = await openDatabase(database.url);
    sut = new HoursRepository(dataSource);
  });

  afterAll(async () => {
    await dataSource.destroy();
    await database.drop();
  });

  it('gives a practice without rows the default settings and no schedule', async () => {
    const { id } = await insertPractice(dataSource);

    expect(await sut.hoursOf(id)).toEqual({
      practiceId: id,
      timeZone: 'Europe/London',
      cutoffMinutes: 15,
      closingSoonMinutes: 15,
      replyWindow: 'end_of_day',
      observesBankHolidays: true,
      weekly: [],
      exceptions: [],
    });
    expect(await sut.hoursOf('00000000-0000-4000-8000-000000000000')).toBeNull();
  });

  it('replaces the weekly schedule as a whole, in weekday and start order', async () => {
    const { id } = await insertPractice(dataSource);
    await sut.replaceWeekly(id, [{ weekday: 1, start: 480, end: 720 }]);

    await sut.replaceWeekly(id, [
      { weekday: 2, start: 840, end: 1440 },
      { weekday: 2, start: 480, end: 720 },
      { weekday: 1, start: 0, end: 1440 },
    ]);

    expect((await sut.hoursOf(id))?.weekly).toEqual([
      { weekday: 1, start: 0, end: 1440 },
      { weekday: 2, start: 480, end: 720 },
      { weekday: 2, start: 840, end: 1440 },
    ]);
  });

  it('sets, replaces and removes the exception of a date, loading only those from a given date', async () => {
    const { id } = await insertPractice(dataSource);
    await sut.setException(id, { date: '2026-12-24', label: 'Early close', intervals: [{ start: 480, end: 720 }] });
    await sut.setException(id, { date: '2026-12-25', label: 'Closed', intervals: [] });

    await sut.setException(id, { date: '2026-12-25', label: 'Cover', intervals: [{ start: 600, end: 720 }] });
    const fromChristmas = await sut.hoursOf(id, '2026-12-25');
    const isRemoved = await sut.removeException(id, '2026-12-24');
    const isRemovedAgain = await sut.removeException(id, '2026-12-24');

    expect(fromChristmas?.exceptions).toEqual([{ date: '2026-12-25', label: 'Cover', intervals: [{ start: 600, end: 720 }] }]);
    expect([isRemoved, isRemovedAgain]).toEqual([true, false]);
    expect((await sut.hoursOf(id))?.exceptions.map((exception) => exception.date)).toEqual(['2026-12-25']);
  });

  it('changes only the named settings, the time zone on the practice itself', async () => {
    const { id } = await insertPractice(dataSource);

    await sut.updateSettings(id, { cutoffMinutes: 30 });
    await sut.updateSettings(id, { replyWindow: 'none', timeZone: 'Europe/Dublin' });

    expect(await sut.hoursOf(id)).toMatchObject({
      timeZone: 'Europe/Dublin',
      cutoffMinutes: 30,
      closingSoonMinutes: 15,
      replyWindow: 'none',
      observesBankHolidays: true,
    });
  });

  it('refuses an interval the schema would refuse, at the database too', async () => {
    const { id } = await insertPractice(dataSource);

    await expect(sut.replaceWeekly(id, [{ weekday: 1, start: 720, end: 480 }])).rejects.toThrow(/check constraint/);
    await expect(sut.replaceWeekly(id, [{ weekday: 0, start: 0, end: 60 }])).rejects.toThrow(/check constraint/);
    expect((await sut.hoursOf(id))?.weekly).toEqual([]);
  });

  it('lets one caller only claim the announcement of a closing', async () => {
    const { id } = await insertPractice(dataSource);
    const closedAt = new Date('2026-11-23T18:30:00Z');

    const claims = await Promise.all([sut.claimClosing(id, closedAt), sut.claimClosing(id, closedAt), sut.claimClosing(id, closedAt)]);

    expect(claims.filter(Boolean)).toHaveLength(1);
  });

  it('opens the demo practice around the clock, bank holidays included', async () => {
    const { id } = await insertPractice(dataSource);

    await seedAlwaysOpenHours(dataSource, id);

    const hours = await sut.hoursOf(id);
    expect(hours?.weekly).toEqual([1, 2, 3, 4, 5, 6, 7].map((weekday) => ({ weekday, start: 0, end: 1440 })));
    expect(hours?.observesBankHolidays).toBe(false);
    expect((await sut.allHours('2026-01-01')).map((practice) => practice.practiceId)).toContain(id);
  });
});
