import { ready } from '@parley/crypto';
import type { ErrorBody, PatientLimits, PracticeSettings } from '@parley/protocol';
import { FakeClock } from '../../src/common/clock.js';
import { startTestApp, type TestApp } from '../app.js';
import { patientChat, staffChat, type Chatter } from '../chat.js';
import { activatePatient, api, apiOk, createPracticeWithStaff, type TestPractice } from '../factories.js';

const DAY_MS = 86_400_000;
const refusal = (error: unknown) => error as { code: string; message: string };

/** Issue #14 point 5: one patient cannot use up the practice's online intake. No opening hours: always open. */
describe('per-patient limits on conversation:open (in-process gateway, real PostgreSQL and sockets)', () => {
  const clock = new FakeClock();
  let gateway: TestApp;
  let practice: TestPractice;
  let clinician: Chatter;
  const chats: Chatter[] = [];
  let patientToken = '';

  const newPatient = async () => {
    const account = await activatePatient(gateway.url, practice);
    const chat = await patientChat(gateway.url, practice, account);
    chats.push(chat);
    return Object.assign(chat, { userId: account.userId, token: account.token });
  };
  const settings = () => apiOk<PracticeSettings>(gateway.url, 'GET', '/api/practice/settings', { token: practice.manager.token });
  const setLimits = (limits: PatientLimits) =>
    apiOk<PracticeSettings>(gateway.url, 'PUT', '/api/practice/patient-limits', { token: practice.manager.token, body: limits }, 200);
  const storedFor = async (patient: { userId: string }): Promise<number> => {
    const [row] = await gateway.dataSource.query(`SELECT count(*)::int AS n FROM conversations WHERE patient_id = $1`, [patient.userId]);
    return row.n;
  };

  beforeAll(async () => {
    await ready();
    gateway = await startTestApp({}, clock);
    practice = await createPracticeWithStaff(gateway);
    clinician = await staffChat(gateway.url, practice, practice.clinician);
  });

  afterAll(async () => {
    for (const chat of [...chats, clinician]) await chat?.session.close();
    await gateway?.close();
  });

  it('allows one open conversation at a time by default, saying where to go instead, and frees the place when it is closed', async () => {
    const patient = await newPatient();
    const first = await patient.session.openConversation('admin');

    const second = refusal(await patient.session.openConversation('repeat-prescription').catch((error: unknown) => error));
    const details = await detailsOfOpen(patient);
    expect(await clinician.session.client.request('conversation:close', { conversationId: first.id, outcome: 'resolved' })).toMatchObject({ ok: true });
    const afterClose = await patient.session.openConversation('admin');

    expect((await settings()).patientLimits).toEqual({ maxOpenPerPatient: 1, maxNewPerPatientPerDay: 3 });
    expect(second.code).toBe('patient_limit');
    expect(second.message).toMatch(/continue/);
    expect(second.message).toMatch(/phone the practice.*111.*999/);
    expect(details).toEqual({ limit: 'open', max: 1 });
    expect(afterClose.status).not.toBe('closed');
    expect(await storedFor(patient)).toBe(2);
    patientToken = patient.token;
  });

  it('counts new conversations per patient per local day, and a new day starts afresh', async () => {
    await setLimits({ maxOpenPerPatient: null, maxNewPerPatientPerDay: 2 });
    const patient = await newPatient();
    await patient.session.openConversation('admin');
    await patient.session.openConversation('admin');

    const third = await detailsOfOpen(patient);
    const thirdStored = await storedFor(patient);
    clock.advance(DAY_MS);
    const nextDay = await patient.session.openConversation('admin');
    clock.set(new Date());

    expect(third).toEqual({ limit: 'daily', max: 2 });
    expect(thirdStored).toBe(2);
    expect(nextDay.status).not.toBe('closed');
  });

  it('lets exactly one of many concurrent opens by one patient through a limit of one', async () => {
    await setLimits({ maxOpenPerPatient: 1, maxNewPerPatientPerDay: null });
    const patient = await newPatient();

    const outcomes = await Promise.allSettled(Array.from({ length: 8 }, () => patient.session.openConversation('admin')));

    expect(outcomes.filter((outcome) => outcome.status === 'fulfilled')).toHaveLength(1);
    expect(outcomes.filter((outcome) => outcome.status === 'rejected').map((outcome) => refusal((outcome as PromiseRejectedResult).reason).code)).toEqual(
      Array(7).fill('patient_limit'),
    );
    expect(await storedFor(patient)).toBe(1);
  });

  it('refuses hostile values and other roles, changing nothing', async () => {
    await setLimits({ maxOpenPerPatient: 2, maxNewPerPatientPerDay: 5 });
    const before = await settings();
    const token = practice.manager.token;
    const put = (body: unknown) => api(gateway.url, 'PUT', '/api/practice/patient-limits', { token, body });

    const answers = await Promise.all([
      put({ maxOpenPerPatient: 0, maxNewPerPatientPerDay: 5 }),
      put({ maxOpenPerPatient: -1, maxNewPerPatientPerDay: 5 }),
      put({ maxOpenPerPatient: 101, maxNewPerPatientPerDay: 5 }),
      put({ maxOpenPerPatient: 1.5, maxNewPerPatientPerDay: 5 }),
      put({ maxOpenPerPatient: '3', maxNewPerPatientPerDay: 5 }),
      put({ maxOpenPerPatient: 1e308, maxNewPerPatientPerDay: 5 }),
      put({ maxOpenPerPatient: 1 }),
      put({ maxOpenPerPatient: 1, maxNewPerPatientPerDay: 5, isIntakePaused: true }),
      put({}),
      put([1, 3]),
      put(null),
      api(gateway.url, 'PUT', '/api/practice/patient-limits', { token, rawBody: '{"maxOpenPerPatient": 1,' }),
    ]);
    const byOthers = await Promise.all(
      [practice.clinician.token, patientToken].map((other) =>
        api(gateway.url, 'PUT', '/api/practice/patient-limits', { token: other, body: { maxOpenPerPatient: null, maxNewPerPatientPerDay: null } }),
      ),
    );

    expect(answers.map((answer) => [answer.status, (answer.body as { error: ErrorBody }).error.code])).toEqual(Array(12).fill([400, 'invalid_payload']));
    expect(byOthers.map((answer) => answer.status)).toEqual([403, 403]);
    expect(await settings()).toEqual(before);
    expect(before.patientLimits).toEqual({ maxOpenPerPatient: 2, maxNewPerPatientPerDay: 5 });
  });
});

/**
 * Opens a conversation as the sdk does (it seals the envelopes) and returns the refusal's `details` from the ack
 * itself: the sdk's error keeps only the code and message.
 */
async function detailsOfOpen(patient: Chatter): Promise<unknown> {
  let details: unknown = 'opened';
  const client = patient.session.client;
  const original = client.request.bind(client);
  client.request = (async (...args: Parameters<typeof original>) => {
    const answer = await original(...args);
    if (args[0] === 'conversation:open' && !answer.ok && 'details' in answer.error) details = answer.error.details;
    return answer;
  }) as typeof original;
  try {
    await patient.session.openConversation('admin').catch(() => undefined);
  } finally {
    client.request = original;
  }
  return details;
}
