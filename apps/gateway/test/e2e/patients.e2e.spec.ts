import { HttpApi, type ParleyClient } from '@parley/client';
import { ready } from '@parley/crypto';
import type { AuditPage, PatientSearchResult } from '@parley/protocol';
import { startTestApp, type TestApp } from '../app.js';
import { follow, patientChat, type Chatter } from '../chat.js';
import { activatePatient, api, apiOk, connectAs, createPracticeWithStaff, type TestPatient, type TestPractice } from '../factories.js';

describe('patient search for staff, and audited reads of conversations not assigned to the reader (in-process gateway, real PostgreSQL, real sockets)', () => {
  let gateway: TestApp;
  let practice: TestPractice;
  let otherPractice: TestPractice;
  let alice: TestPatient;
  let bob: TestPatient;
  let conversationId: string;
  const chats: Chatter[] = [];
  const sockets: ParleyClient[] = [];

  const search = (query: string, token = practice.clinician.token) => apiOk<PatientSearchResult>(gateway.url, 'GET', `/api/patients?${query}`, { token });
  const audit = (query: string) => apiOk<AuditPage>(gateway.url, 'GET', `/api/audit?${query}`, { token: practice.manager.token });

  beforeAll(async () => {
    await ready();
    gateway = await startTestApp();
    practice = await createPracticeWithStaff(gateway, { name: 'Riverside Surgery' });
    otherPractice = await createPracticeWithStaff(gateway, { name: 'Hillside Surgery' });
    alice = await activatePatient(gateway.url, practice, { displayName: 'Alice 100% Smith', dateOfBirth: '1970-01-02' });
    bob = await activatePatient(gateway.url, practice, { displayName: 'Bob Smithson', dateOfBirth: '1970-01-02' });
    await activatePatient(gateway.url, otherPractice, { displayName: 'Alice Smith', nhsNumber: alice.nhsNumber, dateOfBirth: '1970-01-02' });
    const chat = await patientChat(gateway.url, practice, alice, 10_000);
    chats.push(chat);
    conversationId = (await chat.session.openConversation('admin')).id;
    await follow(chat, conversationId);
    await chat.session.conversation(conversationId).send('Only for the practice.');
  });

  afterAll(async () => {
    for (const chat of chats) await chat.session.close();
    for (const socket of sockets) socket.close();
    await gateway.close();
  });

  it('finds the practice’s patients by NHS number, part of a name or date of birth, with their conversations’ metadata', async () => {
    const byNhs = await search(`nhsNumber=${alice.nhsNumber}`);
    const byName = await search('name=smith');
    const byBoth = await search('name=SMITHSON&dateOfBirth=1970-01-02');
    const byDate = await search('dateOfBirth=1970-01-02', practice.manager.token);
    const literalPercent = await search(`name=${encodeURIComponent('100%')}`);
    const nobody = await search('name=zz');

    expect(byNhs).toEqual({
      patients: [
        {
          userId: alice.userId,
          displayName: 'Alice 100% Smith',
          nhsNumber: alice.nhsNumber,
          dateOfBirth: '1970-01-02',
          isActivated: true,
          deactivatedAt: null,
          conversations: [
            expect.objectContaining({ id: conversationId, topic: 'admin', status: 'waiting', assignedClinicianId: null, outcome: null, lastSeq: 3 }),
          ],
        },
      ],
      isTruncated: false,
    });
    expect(byName.patients.map((patient) => patient.userId)).toEqual([alice.userId, bob.userId]);
    expect(byBoth.patients.map((patient) => patient.userId)).toEqual([bob.userId]);
    expect(byDate.patients).toHaveLength(2);
    expect(literalPercent.patients.map((patient) => patient.userId)).toEqual([alice.userId]);
    expect(nobody).toEqual({ patients: [], isTruncated: false });
    expect(JSON.stringify(byNhs)).not.toContain('ciphertext');
  });

  it('audits each search with the criteria used and the count, never the values', async () => {
    const { events } = await audit('action=patient.searched&limit=6');

    expect(events.map((event) => event.data)).toEqual([
      { criteria: ['name'], results: 0 },
      { criteria: ['name'], results: 1 },
      { criteria: ['dateOfBirth'], results: 2 },
      { criteria: ['name', 'dateOfBirth'], results: 1 },
      { criteria: ['name'], results: 2 },
      { criteria: ['nhsNumber'], results: 1 },
    ]);
    expect(events.at(-1)).toMatchObject({ actorUserId: practice.clinician.userId, subjectUserId: alice.userId });
    expect(JSON.stringify(events)).not.toContain(alice.nhsNumber);
    expect(JSON.stringify(events).toLowerCase()).not.toContain('smith');
  });

  it('shows another practice’s staff only their own patients, and refuses patients', async () => {
    const elsewhere = await search(`nhsNumber=${alice.nhsNumber}`, otherPractice.clinician.token);
    const asPatient = await api(gateway.url, 'GET', `/api/patients?nhsNumber=${alice.nhsNumber}`, { token: bob.token });
    const anonymous = await api(gateway.url, 'GET', `/api/patients?nhsNumber=${alice.nhsNumber}`);
    const throughClient = await new HttpApi({ baseUrl: gateway.url, token: otherPractice.manager.token }).searchPatients({
      name: 'alice smith',
      dateOfBirth: '1970-01-02',
    });

    expect(elsewhere.patients).toHaveLength(1);
    expect(elsewhere.patients[0]!.userId).not.toBe(alice.userId);
    expect(elsewhere.patients[0]!.conversations).toEqual([]);
    expect(asPatient).toMatchObject({ status: 403, body: { error: { code: 'forbidden' } } });
    expect(anonymous).toMatchObject({ status: 401, body: { error: { code: 'unauthorized' } } });
    expect(throughClient).toEqual({ ok: true, data: elsewhere });
  });

  it.each([
    ['no criterion', ''],
    ['an NHS number of 9 digits', 'nhsNumber=123456789'],
    ['a one-letter name', 'name=a'],
    ['a name over 100 characters', `name=${'a'.repeat(101)}`],
    ['a date that is not one', 'dateOfBirth=02/01/1970'],
    ['an unknown field', 'postcode=AB1'],
    ['a repeated field', 'name=alice&name=bob'],
  ])('answers %s with invalid_payload', async (_case, query) => {
    const answer = await api(gateway.url, 'GET', `/api/patients?${query}`, { token: practice.clinician.token });

    expect(answer).toMatchObject({ status: 400, body: { error: { code: 'invalid_payload' } } });
  });

  it('lets staff read a conversation assigned to nobody (or to someone else), auditing the join, and a sync without a join', async () => {
    const manager = await connectAs(gateway.url, practice.manager, 10_000);
    sockets.push(manager);
    const before = (await audit(`action=conversation.read&conversationId=${conversationId}`)).events.length;

    const unjoined = await manager.request('conversation:sync', { conversationId, afterSeq: 0 });
    const joined = await manager.request('conversation:join', { conversationId });
    const afterJoin = await manager.request('conversation:sync', { conversationId, afterSeq: 0 });
    const foreign = await connectAs(gateway.url, otherPractice.manager, 10_000);
    sockets.push(foreign);
    const refused = await foreign.request('conversation:sync', { conversationId, afterSeq: 0 });
    const { events } = await audit(`action=conversation.read&conversationId=${conversationId}`);

    expect(unjoined).toMatchObject({ ok: true, data: { lastSeq: 3 } });
    expect(joined.ok).toBe(true);
    expect(afterJoin.ok).toBe(true);
    expect(refused).toMatchObject({ ok: false, error: { code: 'forbidden' } });
    expect(events.length - before).toBe(2);
    expect(events.slice(0, 2).map((event) => [event.actorUserId, event.subjectUserId, event.data])).toEqual([
      [practice.manager.userId, alice.userId, {}],
      [practice.manager.userId, alice.userId, { via: 'sync' }],
    ]);
  });
});
