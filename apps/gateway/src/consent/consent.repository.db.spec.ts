import type { TestDatabase } from '@parley/testing';
import type { DataSource } from 'typeorm';
import { freshDatabase } from '../../test/database.js';
import { insertPractice, insertUser } from '../../test/factories.js';
import { openDatabase } from '../database/data-source.js';
import { ConsentRepository } from './consent.repository.js';

describe(ConsentRepository.name, () => {
  let database: TestDatabase;
  let dataSource: DataSource;
  let sut: ConsentRepository;

  beforeAll(async () => {
    database = await freshDatabase();
    dataSource = await openDatabase(database.url);
    sut = new ConsentRepository(dataSource);
  });

  afterAll(async () => {
    await dataSource.destroy();
    await database.drop();
  });

  /** A practice with a manager and a patient, and no terms yet. */
  async function aPractice() {
    const practiceId = (await insertPractice(dataSource)).id;
    return { practiceId, managerId: await insertUser(dataSource, practiceId, ['manager']), patientId: await insertUser(dataSource, practiceId, ['patient']) };
  }
  const at = new Date('2025-03-04T10:00:00Z');

  it('publishes versions 1, 2, … and answers the newest as current', async () => {
    const { practiceId, managerId } = await aPractice();

    const none = await sut.currentTerms(practiceId);
    const published = await Promise.all(['A', 'B', 'C'].map((text) => sut.publish({ practiceId, text, publishedBy: managerId, publishedAt: at })));
    const current = await sut.currentTerms(practiceId);

    expect(none).toBeNull();
    expect(published.map((terms) => terms.version).sort()).toEqual([1, 2, 3]);
    expect(current).toEqual({ version: 3, text: published.find((terms) => terms.version === 3)!.text, publishedAt: at.toISOString(), publishedBy: managerId });
  });

  it('keeps consent per version: accepting the current one once, refusing an old one', async () => {
    const { practiceId, managerId, patientId } = await aPractice();
    await sut.publish({ practiceId, text: 'v1', publishedBy: managerId, publishedAt: at });

    const accepted = await sut.accept({ patientId, practiceId, version: 1, givenAt: at });
    const again = await sut.accept({ patientId, practiceId, version: 1, givenAt: new Date() });
    const stateV1 = await sut.state(patientId, practiceId);
    await sut.publish({ practiceId, text: 'v2', publishedBy: managerId, publishedAt: at });
    const stale = await sut.accept({ patientId, practiceId, version: 1, givenAt: at });
    const stateV2 = await sut.state(patientId, practiceId);
    const latestBefore = await sut.latestConsent(patientId, practiceId);
    await sut.accept({ patientId, practiceId, version: 2, givenAt: at });

    expect(accepted).toEqual({ status: 'accepted', consent: { version: 1, givenAt: at.toISOString() } });
    expect(again).toEqual({ status: 'already_given', consent: { version: 1, givenAt: at.toISOString() } });
    expect(stateV1).toEqual({ currentVersion: 1, hasConsented: true });
    expect(stale).toEqual({ status: 'not_current' });
    expect(stateV2).toEqual({ currentVersion: 2, hasConsented: false });
    expect(latestBefore?.version).toBe(1);
    expect(await sut.state(patientId, practiceId)).toEqual({ currentVersion: 2, hasConsented: true });
    expect(await sut.accept({ patientId, practiceId, version: 3, givenAt: at })).toEqual({ status: 'not_current' });
  });

  it('has nothing to accept and no current version where there are no terms', async () => {
    const { practiceId, patientId } = await aPractice();

    expect(await sut.accept({ patientId, practiceId, version: 1, givenAt: at })).toEqual({ status: 'not_current' });
    expect(await sut.state(patientId, practiceId)).toEqual({ currentVersion: null, hasConsented: false });
  });

  it('refuses to change, delete or truncate terms and consents', async () => {
    const { practiceId, managerId, patientId } = await aPractice();
    await sut.publish({ practiceId, text: 'v1', publishedBy: managerId, publishedAt: at });
    await sut.accept({ patientId, practiceId, version: 1, givenAt: at });

    for (const table of ['practice_terms', 'consents']) {
      await expect(dataSource.query(`UPDATE ${table} SET version = version WHERE practice_id = $1`, [practiceId])).rejects.toThrow(/append-only/);
      await expect(dataSource.query(`DELETE FROM ${table} WHERE practice_id = $1`, [practiceId])).rejects.toThrow(/append-only/);
      await expect(dataSource.query(`TRUNCATE ${table} CASCADE`)).rejects.toThrow(/append-only/);
    }
  });
});
