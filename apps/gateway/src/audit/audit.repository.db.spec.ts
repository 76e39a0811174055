import { randomUUID } from 'node:crypto';
import type { TestDatabase } from '@parley/testing';
import type { DataSource } from 'typeorm';
import { freshDatabase } from '../../test/database.js';
import { insertDevice, insertPractice, insertUser } from '../../test/factories.js';
import { openDatabase } from '../database/data-source.js';
import { AuditRepository, type NewAuditEvent } from './audit.repository.js';

describe(AuditRepository.name, () => {
  let database: TestDatabase;
  let dataSource: DataSource;
  let sut: AuditRepository;
  let practiceId: string;
  let managerId: string;
  let deviceId: string;
  let patientId: string;

  beforeAll(async () => {
    database = await freshDatabase();
    dataSource = await openDatabase(database.url);
    sut = new AuditRepository(dataSource);
    practiceId = (await insertPractice(dataSource)).id;
    managerId = await insertUser(dataSource, practiceId, ['manager']);
    deviceId = await insertDevice(dataSource, managerId);
    patientId = await insertUser(dataSource, practiceId, ['patient']);
  });

  afterAll(async () => {
    await dataSource.destroy();
    await database.drop();
  });

  const anEvent = (overrides: Partial<NewAuditEvent> = {}): NewAuditEvent => ({
    practiceId,
    actorUserId: managerId,
    actorDeviceId: deviceId,
    action: 'hours.changed',
    subjectUserId: null,
    conversationId: null,
    data: {},
    createdAt: new Date('2025-03-04T10:00:00Z'),
    ...overrides,
  });

  it('stores an event as given and reads it back', async () => {
    const conversationId = randomUUID();

    await sut.append(anEvent({ action: 'conversation.read', subjectUserId: patientId, conversationId, data: { seq: 3, roles: ['clinician'] } }));
    const [found] = await sut.find(practiceId, { conversationId }, 10);

    expect(found).toEqual({
      id: expect.stringMatching(/^[0-9]+$/),
      actorUserId: managerId,
      actorDeviceId: deviceId,
      action: 'conversation.read',
      subjectUserId: patientId,
      conversationId,
      data: { seq: 3, roles: ['clinician'] },
      createdAt: '2025-03-04T10:00:00.000Z',
    });
  });

  it('filters by actor, patient, action and time, newest first, and pages with an id', async () => {
    const practice = (await insertPractice(dataSource)).id;
    const clinicianId = await insertUser(dataSource, practice, ['clinician']);
    const patient = await insertUser(dataSource, practice, ['patient']);
    const at = (hour: number) => new Date(`2025-03-05T${String(hour).padStart(2, '0')}:00:00Z`);
    await sut.append(
      anEvent({ practiceId: practice, actorUserId: clinicianId, actorDeviceId: null, action: 'conversation.read', subjectUserId: patient, createdAt: at(9) }),
    );
    await sut.append(
      anEvent({ practiceId: practice, actorUserId: null, actorDeviceId: null, action: 'conversation.assigned', subjectUserId: patient, createdAt: at(10) }),
    );
    await sut.append(anEvent({ practiceId: practice, actorUserId: clinicianId, actorDeviceId: null, action: 'conversation.closed', createdAt: at(11) }));
    const actions = async (filter: Parameters<AuditRepository['find']>[1], limit = 10) =>
      (await sut.find(practice, filter, limit)).map((event) => event.action);

    expect(await actions({})).toEqual(['conversation.closed', 'conversation.assigned', 'conversation.read']);
    expect(await actions({ actorUserId: clinicianId })).toEqual(['conversation.closed', 'conversation.read']);
    expect(await actions({ subjectUserId: patient })).toEqual(['conversation.assigned', 'conversation.read']);
    expect(await actions({ action: 'conversation.assigned' })).toEqual(['conversation.assigned']);
    expect(await actions({ from: at(10), to: at(11) })).toEqual(['conversation.assigned']);
    const [newest] = await sut.find(practice, {}, 1);
    expect(await actions({ beforeId: newest!.id })).toEqual(['conversation.assigned', 'conversation.read']);
    expect(await actions({}, 1)).toEqual(['conversation.closed']);
  });

  it('orders by event number, not by its decimal text, across 9 → 10 and beyond', async () => {
    const practice = (await insertPractice(dataSource)).id;
    for (let i = 0; i < 12; i += 1) await sut.append(anEvent({ practiceId: practice, data: { i } }));

    const newestFirst = await sut.find(practice, {}, 20);
    const secondPage = await sut.find(practice, { beforeId: newestFirst[4]!.id }, 20);

    expect(newestFirst.map((event) => event.data['i'])).toEqual([11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0]);
    expect(secondPage.map((event) => event.data['i'])).toEqual([6, 5, 4, 3, 2, 1, 0]);
  });

  it('filters by part of a name of who acted or of the patient, any case, taking % and _ literally', async () => {
    const practice = (await insertPractice(dataSource)).id;
    const actor = await insertUser(dataSource, practice, ['clinician']);
    const patient = await insertUser(dataSource, practice, ['patient']);
    await dataSource.query(`UPDATE users SET display_name = $2 WHERE id = $1`, [patient, 'Priya Fair_weather']);
    await sut.append(anEvent({ practiceId: practice, actorUserId: actor, subjectUserId: patient }));
    await sut.append(anEvent({ practiceId: practice, actorUserId: actor, subjectUserId: null }));

    expect(await sut.find(practice, { subjectName: 'FAIR_W' }, 10)).toHaveLength(1);
    expect(await sut.find(practice, { subjectName: 'Fair%' }, 10)).toHaveLength(0);
    expect(await sut.names(practice, [patient, managerId])).toEqual({ [patient]: 'Priya Fair_weather' });
  });

  it('never shows one practice the events of another', async () => {
    const other = (await insertPractice(dataSource)).id;

    expect(await sut.find(other, {}, 100)).toEqual([]);
  });

  it('refuses to change, delete or truncate an event', async () => {
    await sut.append(anEvent());

    await expect(dataSource.query(`UPDATE audit_events SET action = 'texts.changed'`)).rejects.toThrow(/append-only/);
    await expect(dataSource.query(`DELETE FROM audit_events`)).rejects.toThrow(/append-only/);
    await expect(dataSource.query(`TRUNCATE audit_events`)).rejects.toThrow(/append-only/);
  });

  it('refuses data that is not an object', async () => {
    await expect(sut.append(anEvent({ data: ['not', 'an', 'object'] as never }))).rejects.toThrow(/check constraint/);
  });
});
