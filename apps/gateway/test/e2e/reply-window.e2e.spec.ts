import { ready } from '@parley/crypto';
import type { HoursView } from '@parley/protocol';
import { DateTime } from 'luxon';
import { FakeClock } from '../../src/common/clock.js';
import { HoursScheduler } from '../../src/hours/hours.scheduler.js';
import { startTestApp, type TestApp } from '../app.js';
import { follow, patientChat, staffChat, waitForAssignment, type Chatter } from '../chat.js';
import { randomUUID } from 'node:crypto';
import { activatePatient, api, apiOk, connectAs, createPracticeWithStaff, type TestPractice } from '../factories.js';

const london = (local: string) => DateTime.fromISO(local, { zone: 'Europe/London' }).toJSDate();
const weekdays = (start: string, end: string) => [1, 2, 3, 4, 5].map((weekday) => ({ weekday, start, end }));
const TUESDAY_OPENING = london('2026-11-24T08:00').toISOString();

/** Issue #14 point 4: closing time no longer cuts a conversation a clinician has taken in half. */
describe('the reply window after closing (in-process gateway, a FakeClock)', () => {
  const clock = new FakeClock(london('2026-11-23T10:00')); // a Monday; the practice is open 08:00–18:30
  let gateway: TestApp;
  let practice: TestPractice;
  let clinician: Chatter;
  const patients: Chatter[] = [];
  /** Conversations by how they stand at closing. */
  const ids = { assigned: '', onHold: '', waiting: '' };
  const at = async (local: string) => {
    clock.set(london(local));
    await gateway.app.get(HoursScheduler).tick();
  };
  const newPatient = async () => {
    const chat = await patientChat(gateway.url, practice, await activatePatient(gateway.url, practice));
    patients.push(chat);
    return chat;
  };
  /** A patient opens a conversation and follows it; with `isAssigned`, waits until routing gave it to the clinician. */
  const opened = async (patient: Chatter, isAssigned: boolean) => {
    const { id } = await patient.session.openConversation('admin');
    await follow(patient, id);
    if (isAssigned) await waitForAssignment(patient);
    return id;
  };
  const setReplyWindow = (replyWindow: string) => apiOk(gateway.url, 'PUT', '/api/hours/settings', { token: practice.manager.token, body: { replyWindow } });

  beforeAll(async () => {
    await ready();
    gateway = await startTestApp({}, clock);
    practice = await createPracticeWithStaff(gateway);
    await apiOk(gateway.url, 'PUT', '/api/hours/weekly', { token: practice.manager.token, body: { intervals: weekdays('08:00', '18:30') } });
    clinician = await staffChat(gateway.url, practice, practice.clinician);
    // The clinician takes two at a time (on hold counts), so the third patient waits in the queue at closing.
    const manager = await connectAs(gateway.url, practice.manager);
    expect(await manager.request('capacity:set-clinician', { clinicianId: practice.clinician.userId, maxConcurrent: 2, dailyMax: null })).toMatchObject({
      ok: true,
    });
    manager.close();
    const [a, b, c] = [await newPatient(), await newPatient(), await newPatient()];
    ids.assigned = await opened(a, true);
    ids.onHold = await opened(b, true);
    expect(await clinician.session.client.request('conversation:hold', { conversationId: ids.onHold, isOnHold: true })).toMatchObject({ ok: true });
    ids.waiting = await opened(c, false);
    await follow(clinician, ids.assigned);
    await at('2026-11-23T18:31');
  });

  afterAll(async () => {
    for (const chat of [...patients, clinician]) await chat?.session.close();
    await gateway?.close();
  });

  it('keeps assigned and on-hold conversations two-way after closing, for the patient and the clinician', async () => {
    const [a, b] = patients;

    const patientInAssigned = await a!.session.conversation(ids.assigned).send('Yes, the rash is still there.');
    const clinicianAnswer = await clinician.session.conversation(ids.assigned).send('Thank you, I will book you in.');
    const patientOnHold = await b!.session.conversation(ids.onHold).send('Here is the photo you asked for.');

    expect(patientInAssigned).toMatchObject({ ok: true });
    expect(clinicianAnswer).toMatchObject({ ok: true });
    expect(patientOnHold).toMatchObject({ ok: true });
  });

  it('refuses a waiting conversation and a new one after closing, saying when a reply will come', async () => {
    // Raw, as the sdk's outbox keeps only the code and message of a refusal: the server also names the next opening.
    const waiting = await patients[2]!.session.client.request('conversation:send', {
      conversationId: ids.waiting,
      clientMessageId: randomUUID(),
      epoch: 1,
      senderDeviceSeq: 1_000,
      contentType: 'text',
      ciphertext: Buffer.alloc(272, 1).toString('base64'),
      nonce: Buffer.alloc(24, 2).toString('base64'),
    });
    const newOne = await (await newPatient()).session.openConversation('admin').catch((error: unknown) => error as { code: string });

    expect(waiting).toMatchObject({ ok: false, error: { code: 'outside_hours', details: { nextOpening: TUESDAY_OPENING, state: 'closed' } } });
    expect(waiting.ok ? '' : waiting.error.message).toMatch(/a clinician will reply after it opens.*Tuesday 24 November at 08:00/);
    expect(newOne).toMatchObject({ code: 'outside_hours' });
  });

  it('ends the default reply window at the end of the practice’s local day, for both sides', async () => {
    await at('2026-11-23T23:59');
    const lastMinute = await patients[0]!.session.conversation(ids.assigned).send('One more thing.');
    await at('2026-11-24T00:01');

    const patientAfter = await patients[0]!.session.conversation(ids.assigned).send('Hello?');
    const clinicianAfter = await clinician.session.conversation(ids.assigned).send('Late note.');

    expect(lastMinute).toMatchObject({ ok: true });
    expect(patientAfter).toMatchObject({ ok: false, error: { code: 'outside_hours', message: expect.stringContaining('Tuesday 24 November at 08:00') } });
    expect(clinicianAfter).toMatchObject({ ok: false, error: { code: 'outside_hours' } });
  });

  it('follows the manager’s setting: until the clinician closes the conversation, or none at all', async () => {
    const before = await apiOk<HoursView>(gateway.url, 'GET', '/api/hours', { token: practice.manager.token });
    const byClinician = await api(gateway.url, 'PUT', '/api/hours/settings', { token: practice.clinician.token, body: { replyWindow: 'until_closed' } });
    await setReplyWindow('until_closed');
    const untilClosed = await patients[0]!.session.conversation(ids.assigned).send('Still here after midnight.');
    expect(await clinician.session.client.request('conversation:close', { conversationId: ids.assigned, outcome: 'resolved' })).toMatchObject({ ok: true });
    const afterClose = await patients[0]!.session.conversation(ids.assigned).send('And another.');
    await setReplyWindow('none');
    const noWindow = await patients[1]!.session.conversation(ids.onHold).send('Hello?');
    await setReplyWindow('end_of_day');

    expect(before.settings.replyWindow).toBe('end_of_day');
    expect(byClinician.status).toBe(403);
    expect(untilClosed).toMatchObject({ ok: true });
    expect(afterClose).toMatchObject({ ok: false, error: { code: 'conflict' } });
    expect(noWindow).toMatchObject({ ok: false, error: { code: 'outside_hours' } });
  });
});
