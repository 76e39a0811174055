import type { TestDatabase } from '@parley/testing';
import type { DataSource } from 'typeorm';
import { freshDatabase } from '../../test/database.js';
import { insertPractice, insertUser } from '../../test/factories.js';
import { openDatabase } from '../database/data-source.js';
import { PracticeSettingsRepository } from './practice-settings.repository.js';

describe(PracticeSettingsRepository.name, () => {
  let database: TestDatabase;
  let dataSource: DataSource;
  let sut: PracticeSettingsRepository;

  beforeAll(async () => {
    database = await freshDatabase();
    dataSource = await openDatabase(database.url);
    sut = new PracticeSettingsRepository(dataSource);
  });

  afterAll(async () => {
    await dataSource.destroy();
    await database.drop();
  });

  const at = new Date('2025-03-04T10:00:00Z');

  it('has no categories until set, then keeps exactly the last list in its order', async () => {
    const practiceId = (await insertPractice(dataSource)).id;
    const other = (await insertPractice(dataSource)).id;
    await sut.replaceCategories(other, [{ slug: 'admin', label: 'Admin', isEnabled: true }]);

    const before = await sut.categories(practiceId);
    await sut.replaceCategories(practiceId, [
      { slug: 'other', label: 'Other', isEnabled: true },
      { slug: 'appointment', label: 'Appointments', isEnabled: false },
    ]);
    await sut.replaceCategories(practiceId, [
      { slug: 'test-results', label: 'Results', isEnabled: true },
      { slug: 'other', label: 'Anything else', isEnabled: false },
    ]);

    expect(before).toEqual([]);
    expect(await sut.categories(practiceId)).toEqual([
      { slug: 'test-results', label: 'Results', isEnabled: true },
      { slug: 'other', label: 'Anything else', isEnabled: false },
    ]);
    expect(await sut.categories(other)).toEqual([{ slug: 'admin', label: 'Admin', isEnabled: true }]);
  });

  it('refuses a slug outside the topic pattern', async () => {
    const practiceId = (await insertPractice(dataSource)).id;

    await expect(sut.replaceCategories(practiceId, [{ slug: 'Not A Slug', label: 'x', isEnabled: true }])).rejects.toThrow(/check constraint/);
  });

  it('changes only the texts given, and clears one with null', async () => {
    const { id: practiceId } = await insertPractice(dataSource, 'Riverside Surgery');
    const managerId = await insertUser(dataSource, practiceId, ['manager']);

    const initial = await sut.texts(practiceId);
    await sut.updateTexts(practiceId, { practicePhone: '01632 960001' }, managerId, at);
    await sut.updateTexts(practiceId, { acknowledgementTemplate: 'Reply {replyTime}; 999 / 111.' }, managerId, at);
    const both = await sut.texts(practiceId);
    await sut.updateTexts(practiceId, { practicePhone: null }, managerId, at);

    expect(initial).toEqual({ practiceName: 'Riverside Surgery', practicePhone: null, acknowledgementTemplate: null });
    expect(both).toEqual({ practiceName: 'Riverside Surgery', practicePhone: '01632 960001', acknowledgementTemplate: 'Reply {replyTime}; 999 / 111.' });
    expect(await sut.texts(practiceId)).toEqual({
      practiceName: 'Riverside Surgery',
      practicePhone: null,
      acknowledgementTemplate: 'Reply {replyTime}; 999 / 111.',
    });
  });

  it('answers null for an unknown practice', async () => {
    expect(await sut.texts('00000000-0000-4000-8000-000000000000')).toBeNull();
  });
});
