import type { TestDatabase } from '@parley/testing';
import type { DataSource } from 'typeorm';
import { freshDatabase } from '../../test/database.js';
import { openDatabase } from '../database/data-source.js';
import { AuthAttemptsRepository, type AttemptLimit } from './auth-attempts.repository.js';

describe(AuthAttemptsRepository.name, () => {
  let database: TestDatabase;
  let dataSource: DataSource;
  let sut: AuthAttemptsRepository;

  beforeAll(async () => {
    database = await freshDatabase();
    dataSource = await openDatabase(database.url);
    sut = new AuthAttemptsRepository(dataSource);
  });

  afterAll(async () => {
    await dataSource.destroy();
    await database.drop();
  });

  const limit = (subject: string, windowMinutes = 15): AttemptLimit => ({ scope: 'account', subject, limit: 5, windowMinutes });

  it('counts each subject’s attempts inside its window, the new one included', async () => {
    await sut.recordAndCount([limit('a')]);
    await dataSource.query(`INSERT INTO auth_attempts (scope, subject, created_at) VALUES ('account', 'a', now() - interval '20 minutes')`);

    const { ids, counts } = await sut.recordAndCount([limit('a'), { scope: 'ip', subject: '10.0.0.1', limit: 20, windowMinutes: 15 }, limit('a', 30)]);

    expect(ids).toHaveLength(3);
    expect(counts).toEqual([3, 1, 4]);
  });

  it('says how old the oldest attempt in the window is, and the newest one before this attempt', async () => {
    await dataSource.query(
      `INSERT INTO auth_attempts (scope, subject, created_at) VALUES ('account', 'ages', now() - interval '10 minutes'), ('account', 'ages', now() - interval '30 seconds')`,
    );

    const { oldestAgeSeconds, previousAgeSeconds } = await sut.recordAndCount([limit('ages'), limit('alone')]);

    expect(oldestAgeSeconds[0]).toBeGreaterThanOrEqual(600);
    expect(oldestAgeSeconds[0]).toBeLessThan(610);
    expect(previousAgeSeconds[0]).toBeGreaterThanOrEqual(30);
    expect(previousAgeSeconds[0]).toBeLessThan(40);
    expect(previousAgeSeconds[1]).toBeNull();
  });

  it('sees every concurrent attempt, so parallel guesses cannot all pass', async () => {
    const results = await Promise.all(Array.from({ length: 12 }, () => sut.recordAndCount([limit('burst')])));

    const counts = results.map((result) => result.counts[0]).sort((x, y) => x! - y!);

    expect(counts.at(-1)).toBe(12);
    expect(counts.filter((count) => count! <= 5).length).toBeLessThanOrEqual(5);
  });

  it('forgets attempts by id and by subject, and prunes rows older than a day', async () => {
    const { ids } = await sut.recordAndCount([limit('forget-me'), limit('forget-me')]);
    await dataSource.query(`INSERT INTO auth_attempts (scope, subject, created_at) VALUES ('ip', 'stale', now() - interval '2 days')`);

    await sut.forget([ids[0]!]);
    const afterForget = (await sut.recordAndCount([limit('forget-me')])).counts[0];
    await sut.forgetSubject('account', 'forget-me');
    const [stale] = await dataSource.query(`SELECT count(*)::int AS n FROM auth_attempts WHERE subject = 'stale'`);
    const [remaining] = await dataSource.query(`SELECT count(*)::int AS n FROM auth_attempts WHERE subject = 'forget-me'`);

    expect(afterForget).toBe(2);
    expect(stale.n).toBe(0);
    expect(remaining.n).toBe(0);
  });
});
