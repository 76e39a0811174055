import { ready } from '@parley/crypto';
import { DateTime } from 'luxon';
import { FakeClock } from '../../src/common/clock.js';
import { HoursScheduler } from '../../src/hours/hours.scheduler.js';
import { startTestApp, type TestApp } from '../app.js';
import { follow, patientChat, staffChat, waitForAssignment, type Chatter } from '../chat.js';
import { randomUUID } from 'node:crypto';
import { activatePatient, apiOk, createPracticeWithStaff, type TestPatient, type TestPractice } from '../factories.js';
import { waitUntil } from '../wait.js';

const london = (local: string) => DateTime.fromISO(local, { zone: 'Europe/London' }).toJSDate();
const weekdays = (start: string, end: string) => [1, 2, 3, 4, 5].map((weekday) => ({ weekday, start, end }));
const failure = (error: unknown) => error as { code: string; message: string };
const isClosingNotice = (entry: Chatter['entries'][number]) => entry.ok && entry.value.kind === 'system' && entry.value.event === 'practice.closed';

describe('what gates opening and sending (in-process gateway, a FakeClock)', () => {
  const clock = new FakeClock(london('2026-11-23T10:00')); // a Monday
  let gateway: TestApp;
  let practice: TestPractice;
  let account: TestPatient;
  let patient: Chatter;
  let clinician: Chatter;
  const at = async (local: string) => {
    clock.set(london(local));
    await gateway.app.get(HoursScheduler).tick();
  };

  beforeAll(async () => {
    await ready();
    gateway = await startTestApp({}, clock);
    practice = await createPracticeWithStaff(gateway);
    await apiOk(gateway.url, 'PUT', '/api/hours/weekly', { token: practice.manager.token, body: { intervals: weekdays('08:00', '18:30') } });
    // One patient opens several conversations here; the per-patient limits have their own spec (patient-limits.e2e).
    await apiOk(
      gateway.url,
      'PUT',
      '/api/practice/patient-limits',
      { token: practice.manager.token, body: { maxOpenPerPatient: null, maxNewPerPatientPerDay: null } },
      200,
    );
    account = await activatePatient(gateway.url, practice);
    patient = await patientChat(gateway.url, practice, account);
    clinician = await staffChat(gateway.url, practice, practice.clinician);
  });

  afterAll(async () => {
    await patient?.session.close();
    await clinician?.session.close();
    await gateway?.close();
  });

  it('opens with the automatic acknowledgement: received, a reply time and the urgent advice', async () => {
    const conversation = await patient.session.openConversation('admin');
    await follow(patient, conversation.id);
    await waitForAssignment(patient);

    expect(patient.entries[1]).toMatchObject({ ok: true, value: { kind: 'system', event: 'acknowledged' } });
    const acknowledgement = patient.entries[1];
    const text =
      acknowledgement?.ok && acknowledgement.value.kind === 'system' && acknowledgement.value.event === 'acknowledged' ? acknowledgement.value.data.text : '';
    expect(text).toMatch(/about \d+ minutes/);
    expect(text).toContain('999');
    expect(text).toContain('111');
  });

  it('refuses a new conversation outside hours, naming the next opening, and takes it once open', async () => {
    await at('2026-11-23T19:00');

    const refused = failure(await patient.session.openConversation('admin').catch((error: unknown) => error));
    await at('2026-11-24T08:00');
    const opened = await patient.session.openConversation('admin');

    expect(refused.code).toBe('outside_hours');
    expect(refused.message).toContain('Tuesday 24 November at 08:00');
    // The clinician is available with room, so the open itself assigns it (docs/architecture.md, "Routing at the open").
    expect(opened).toMatchObject({ status: 'assigned', assignedClinicianId: practice.clinician.userId });
  });

  it("refuses a patient's message once the reply window has ended, answers a retry of one stored before as a duplicate, and posts a closing notice", async () => {
    // With no reply window a taken conversation is read-only from closing (reply-window.e2e covers the default).
    await apiOk(gateway.url, 'PUT', '/api/hours/settings', { token: practice.manager.token, body: { replyWindow: 'none' } });
    const id = (await patient.session.listConversations()).find((c) => c.status !== 'closed')!.id;
    await follow(patient, id);
    // The server never opens a ciphertext, so an opaque payload stands in for a send whose ack was lost.
    const payload = {
      conversationId: id,
      clientMessageId: randomUUID(),
      epoch: 1,
      senderDeviceSeq: 1_000,
      contentType: 'text' as const,
      ciphertext: Buffer.alloc(272, 1).toString('base64'),
      nonce: Buffer.alloc(24, 2).toString('base64'),
    };
    const first = await patient.session.client.request('conversation:send', payload);
    const entriesBefore = patient.entries.length;

    await at('2026-11-24T18:31');
    const retried = await patient.session.client.request('conversation:send', payload);
    const late = await patient.session.client.request('conversation:send', { ...payload, clientMessageId: randomUUID(), senderDeviceSeq: 1_001 });
    await waitUntil(() => patient.entries.slice(entriesBefore).some(isClosingNotice), 'the closing notice to reach the patient');

    expect(first).toMatchObject({ ok: true, data: { isDuplicate: false } });
    expect(retried).toMatchObject({ ok: true, data: { isDuplicate: true, seq: first.ok ? first.data.seq : -1 } });
    expect(late).toMatchObject({ ok: false, error: { code: 'outside_hours', details: { nextOpening: expect.any(String) } } });
    expect(patient.entries.slice(entriesBefore)).toEqual(
      expect.arrayContaining([expect.objectContaining({ ok: true, value: expect.objectContaining({ kind: 'system', event: 'practice.closed' }) })]),
    );
  });

  it('refuses to open until the patient accepts the current terms, and a topic the practice does not offer', async () => {
    await at('2026-11-25T10:00');
    await apiOk(
      gateway.url,
      'POST',
      '/api/practice/terms',
      { token: practice.manager.token, body: { text: 'Use this service for non-urgent matters only.' } },
      201,
    );
    await apiOk(
      gateway.url,
      'PUT',
      '/api/practice/categories',
      {
        token: practice.manager.token,
        body: {
          categories: [
            { slug: 'admin', label: 'Admin', isEnabled: true },
            { slug: 'test-results', label: 'Test results', isEnabled: false },
          ],
        },
      },
      200,
    );

    const withoutConsent = failure(await patient.session.openConversation('admin').catch((error: unknown) => error));
    await apiOk(gateway.url, 'POST', '/api/practice/terms/consent', { token: account.token, body: { version: 1 } }, 200);
    const disabledTopic = failure(await patient.session.openConversation('test-results').catch((error: unknown) => error));
    const allowed = await patient.session.openConversation('admin');

    expect(withoutConsent).toMatchObject({ code: 'forbidden', message: expect.stringContaining('terms') });
    expect(disabledTopic.code).toBe('invalid_payload');
    expect(allowed.topic).toBe('admin');
  });
});
