import { randomUUID } from 'node:crypto';
import { ready } from '@parley/crypto';
import { startNotifyDouble, type NotifyDouble } from '@parley/testing';
import { RealtimePublisher } from '../../src/common/realtime.publisher.js';
import { rooms } from '../../src/common/rooms.js';
import { one } from '../../src/database/sql.js';
import { NotificationDispatcher } from '../../src/notifications/notification-dispatcher.js';
import { startTestApp, type TestApp } from '../app.js';
import { follow, patientChat, staffChat, waitForAssignment, type Chatter } from '../chat.js';
import { activatePatient, api, apiOk, connectAs, createPracticeWithStaff, type TestPatient, type TestPractice } from '../factories.js';
import { waitUntil } from '../wait.js';

/** A UK mobile number Notify accepts, and a landline it refuses for text messages (Ofcom's drama ranges). */
const MOBILE = '+447700900123';
const LANDLINE = '+441632960000';

describe('text and e-mail notices through a local GOV.UK Notify (in-process gateway, real PostgreSQL, sockets and HTTP)', () => {
  let notify: NotifyDouble;
  let gateway: TestApp;
  let practice: TestPractice;
  let clinician: Chatter;
  const open: { close(): unknown }[] = [];

  beforeAll(async () => {
    await ready();
    notify = await startNotifyDouble();
    gateway = await startTestApp({
      NOTIFY_API_KEY: notify.apiKey,
      NOTIFY_BASE_URL: notify.url,
      NOTIFY_SMS_TEMPLATE_ID: notify.smsTemplateId,
      NOTIFY_EMAIL_TEMPLATE_ID: notify.emailTemplateId,
    });
    practice = await createPracticeWithStaff(gateway);
    // Room for every conversation of this file at once: each test's patient is assigned at once.
    const manager = await connectAs(gateway.url, practice.manager, 10_000);
    open.push(manager);
    expect(await manager.request('capacity:set-clinician', { clinicianId: practice.clinician.userId, maxConcurrent: 20, dailyMax: null })).toEqual({
      ok: true,
      data: null,
    });
    clinician = await staffChat(gateway.url, practice, practice.clinician);
    open.push({ close: () => clinician.session.close() });
  });

  afterEach(async () => {
    await gateway.app.get(NotificationDispatcher).idle();
    notify.reset();
  });

  afterAll(async () => {
    for (const chat of open) await chat.close();
    await gateway?.close();
    await notify?.close();
  });

  /** A new patient who gave this contact, opened a conversation (assigned to the clinician), then closed the app. */
  async function awayPatient(contact: { channel: 'sms' | 'email'; address: string }): Promise<{ patient: TestPatient; conversationId: string }> {
    const patient = await activatePatient(gateway.url, practice);
    await apiOk(gateway.url, 'PUT', '/api/notifications/contact', { token: patient.token, body: contact });
    const chat = await patientChat(gateway.url, practice, patient);
    const conversationId = (await chat.session.openConversation('admin')).id;
    await follow(chat, conversationId);
    await waitForAssignment(chat);
    await follow(clinician, conversationId);
    await chat.session.close();
    const realtime = gateway.app.get(RealtimePublisher);
    await waitUntil(async () => !(await realtime.usersIn(rooms.user(patient.userId))).has(patient.userId), 'the patient’s socket to be gone');
    // The assignment was told while the patient was there: nothing is on its way.
    await gateway.app.get(NotificationDispatcher).idle();
    notify.reset();
    return { patient, conversationId };
  }

  const reply = (conversationId: string, text: string) => clinician.session.conversation(conversationId).send(text);

  it('says on the channels route that text and e-mail are on', async () => {
    const patient = await activatePatient(gateway.url, practice);

    expect(await apiOk(gateway.url, 'GET', '/api/notifications/channels', { token: patient.token })).toEqual({ push: true, sms: true, email: true });
  });

  it('texts an away patient exactly once, with a token Notify accepts and nothing but the template and the number', async () => {
    const { conversationId } = await awayPatient({ channel: 'sms', address: MOBILE });
    const marker = `MARKER-${randomUUID()}`;

    await reply(conversationId, `${marker} your results are back`);
    await waitUntil(() => notify.sent.length === 1, 'one text message at the local Notify');
    await reply(conversationId, `${marker} and one more thing`);
    await gateway.app.get(NotificationDispatcher).idle();

    expect(notify.sent).toHaveLength(1);
    expect(notify.sent[0]?.body).toEqual({ phone_number: MOBILE, template_id: notify.smsTemplateId });
    expect(notify.requests.map((request) => [request.status, request.claims?.iss])).toEqual([[201, notify.serviceId]]);
    const sentText = JSON.stringify(notify.requests);
    for (const secret of [marker, practice.clinician.displayName, practice.name, conversationId]) expect(sentText).not.toContain(secret);
  });

  it('e-mails an away patient whose contact is an e-mail address, naming the practice only once its manager chose to', async () => {
    const first = await awayPatient({ channel: 'email', address: 'first.patient@example.org' });

    await reply(first.conversationId, 'Please book a blood test');
    await waitUntil(() => notify.sent.length === 1, 'one e-mail at the local Notify');
    expect(notify.sent[0]?.body).toEqual({ email_address: 'first.patient@example.org', template_id: notify.emailTemplateId });

    await apiOk(
      gateway.url,
      'PUT',
      '/api/practice/notification-settings',
      { token: practice.manager.token, body: { showPracticeName: true, quietHours: null } },
      200,
    );
    const second = await awayPatient({ channel: 'email', address: 'second.patient@example.org' });
    await reply(second.conversationId, 'Please book a blood test');
    await waitUntil(() => notify.sent.length === 1, 'a second e-mail at the local Notify');
    await apiOk(
      gateway.url,
      'PUT',
      '/api/practice/notification-settings',
      { token: practice.manager.token, body: { showPracticeName: false, quietHours: null } },
      200,
    );

    expect(notify.sent[0]?.body).toEqual({
      email_address: 'second.patient@example.org',
      template_id: notify.emailTemplateId,
      personalisation: { practice_name: practice.name },
    });
  });

  it('sends nothing to a patient whose app is open', async () => {
    const patient = await activatePatient(gateway.url, practice);
    await apiOk(gateway.url, 'PUT', '/api/notifications/contact', { token: patient.token, body: { channel: 'sms', address: MOBILE } });
    const chat = await patientChat(gateway.url, practice, patient);
    open.push({ close: () => chat.session.close() });
    const conversationId = (await chat.session.openConversation('admin')).id;
    await follow(chat, conversationId);
    await waitForAssignment(chat);
    await follow(clinician, conversationId);

    await reply(conversationId, 'Are you there?');
    await waitUntil(() => chat.bodies().includes('Are you there?'), 'the reply at the patient');
    await gateway.app.get(NotificationDispatcher).idle();

    expect(notify.requests).toEqual([]);
  });

  it('retries after a 429 from Notify and sends once', async () => {
    const { conversationId } = await awayPatient({ channel: 'sms', address: MOBILE });
    notify.failNext(429);

    await reply(conversationId, 'Your prescription is ready');
    await waitUntil(() => notify.sent.length === 1, 'the text message after a retry', 20_000);

    expect(notify.requests.map((request) => request.status)).toEqual([429, 201]);
  });

  it('does not retry a number Notify refuses: the contact is marked failing, and the gateway carries on', async () => {
    const { patient, conversationId } = await awayPatient({ channel: 'sms', address: LANDLINE });

    await reply(conversationId, 'Please call the surgery');
    await gateway.app.get(NotificationDispatcher).idle();

    expect(notify.requests.map((request) => request.status)).toEqual([400]);
    expect(notify.sent).toEqual([]);
    const row = await one<{ failing_since: Date | null }>(gateway.dataSource, 'SELECT failing_since FROM notification_contacts WHERE user_id = $1', [
      patient.userId,
    ]);
    expect(row?.failing_since).toBeInstanceOf(Date);
    expect((await api(gateway.url, 'GET', '/health/ready')).status).toBe(200);
  });

  it('keeps the contact at sign-out (it is the patient’s, not the device’s), and still texts them', async () => {
    const { patient, conversationId } = await awayPatient({ channel: 'sms', address: MOBILE });
    await apiOk(gateway.url, 'POST', '/api/auth/sign-out', { token: patient.token });

    await reply(conversationId, 'Your referral has been sent');
    await waitUntil(() => notify.sent.length === 1, 'the text message after sign-out');

    expect(notify.sent[0]?.body).toMatchObject({ phone_number: MOBILE });
  });
});

describe('text and e-mail notices when Notify is not configured', () => {
  let gateway: TestApp;

  beforeAll(async () => {
    await ready();
    gateway = await startTestApp();
  });

  afterAll(async () => {
    await gateway?.close();
  });

  it('offers neither channel and refuses a contact', async () => {
    const practice = await createPracticeWithStaff(gateway);
    const patient = await activatePatient(gateway.url, practice);

    expect(await apiOk(gateway.url, 'GET', '/api/notifications/channels', { token: patient.token })).toEqual({ push: true, sms: false, email: false });
    const refused = await api<{ error: { code: string } }>(gateway.url, 'PUT', '/api/notifications/contact', {
      token: patient.token,
      body: { channel: 'sms', address: MOBILE },
    });
    expect([refused.status, refused.body.error.code]).toEqual([403, 'forbidden']);
  });
});
