import { randomUUID } from 'node:crypto';
import type { AuditPage, PracticeSettings, PracticeTerms, TermsConsent, TermsStatus, TopicCategory } from '@parley/protocol';
import { FakeClock } from '../../src/common/clock.js';
import { ConsentService } from '../../src/consent/consent.service.js';
import { DEFAULT_CATEGORIES, PracticeSettingsService } from '../../src/practices/practice-settings.service.js';
import { startTestApp, type TestApp } from '../app.js';
import {
  activatePatient,
  api,
  apiOk,
  createPracticeWithManager,
  createPracticeWithStaff,
  insertDevice,
  type TestPatient,
  type TestPractice,
  type TestStaff,
} from '../factories.js';

const START = new Date('2025-03-04T09:00:00.000Z');
const HOUR = 3_600_000;

describe('terms and consent, categories and texts, and the audit log over HTTP (in-process gateway, real PostgreSQL)', () => {
  const clock = new FakeClock(START);
  let gateway: TestApp;
  let practice: TestPractice;
  let patient: TestPatient;
  let otherManager: TestStaff;
  let consent: ConsentService;
  let settings: PracticeSettingsService;

  /** What the assertions the conversations service calls see for a patient of `practice`. */
  const patientActor = () => ({ userId: patient.userId, practiceId: practice.id, roles: ['patient' as const] });
  const audit = (token: string, query = '') => apiOk<AuditPage>(gateway.url, 'GET', `/api/audit${query}`, { token });
  /** Everything a manager route could change, to show a refused request changed none of it. */
  const adminRows = async () =>
    gateway.dataSource.query(
      `SELECT (SELECT count(*) FROM practice_terms)::int AS terms, (SELECT count(*) FROM consents)::int AS consents,
              (SELECT count(*) FROM audit_events)::int AS audit_events,
              (SELECT json_agg(c ORDER BY c.practice_id, c.position) FROM practice_categories c) AS categories,
              (SELECT json_agg(s ORDER BY s.practice_id) FROM practice_settings s) AS settings`,
    );

  beforeAll(async () => {
    gateway = await startTestApp({}, clock);
    practice = await createPracticeWithStaff(gateway, { name: 'Riverside Surgery' });
    patient = await activatePatient(gateway.url, practice);
    otherManager = (await createPracticeWithManager(gateway, { name: 'Hillside Surgery' })).manager;
    consent = gateway.app.get(ConsentService);
    settings = gateway.app.get(PracticeSettingsService);
  });

  afterAll(async () => {
    await gateway.close();
  });

  describe('terms and consent', () => {
    it('asks no consent while the practice has no terms', async () => {
      const status = await apiOk<TermsStatus>(gateway.url, 'GET', '/api/practice/terms', { token: patient.token });

      expect(status).toEqual({ terms: null, consent: null, needsConsent: false });
      await expect(consent.assertConsented(patientActor())).resolves.toBeUndefined();
    });

    it('refuses a patient until they accept the current version, v1 then v2; a stale acceptance is a conflict', async () => {
      clock.set(new Date(START.getTime() + HOUR));
      const v1 = await apiOk<PracticeTerms>(
        gateway.url,
        'POST',
        '/api/practice/terms',
        { token: practice.manager.token, body: { text: 'Terms, version one.' } },
        201,
      );
      const beforeConsent = await apiOk<TermsStatus>(gateway.url, 'GET', '/api/practice/terms', { token: patient.token });
      await expect(consent.assertConsented(patientActor())).rejects.toMatchObject({ code: 'forbidden', message: "Accept the practice's current terms first." });
      const accepted = await apiOk<TermsConsent>(gateway.url, 'POST', '/api/practice/terms/consent', { token: patient.token, body: { version: 1 } }, 200);
      await expect(consent.assertConsented(patientActor())).resolves.toBeUndefined();

      clock.set(new Date(START.getTime() + 2 * HOUR));
      const v2 = await apiOk<PracticeTerms>(
        gateway.url,
        'POST',
        '/api/practice/terms',
        { token: practice.manager.token, body: { text: 'Terms, version two.' } },
        201,
      );
      await expect(consent.assertConsented(patientActor())).rejects.toMatchObject({ code: 'forbidden' });
      const stale = await api(gateway.url, 'POST', '/api/practice/terms/consent', { token: patient.token, body: { version: 1 } });
      await expect(consent.assertConsented(patientActor())).rejects.toMatchObject({ code: 'forbidden' });
      await apiOk(gateway.url, 'POST', '/api/practice/terms/consent', { token: patient.token, body: { version: 2 } }, 200);
      const afterConsent = await apiOk<TermsStatus>(gateway.url, 'GET', '/api/practice/terms', { token: practice.clinician.token });

      expect(v1).toEqual({
        version: 1,
        text: 'Terms, version one.',
        publishedAt: new Date(START.getTime() + HOUR).toISOString(),
        publishedBy: practice.manager.userId,
      });
      expect(beforeConsent).toEqual({ terms: v1, consent: null, needsConsent: true });
      expect(accepted).toEqual({ version: 1, givenAt: new Date(START.getTime() + HOUR).toISOString() });
      expect(v2.version).toBe(2);
      expect(stale).toMatchObject({ status: 409, body: { error: { code: 'conflict' } } });
      await expect(consent.assertConsented(patientActor())).resolves.toBeUndefined();
      expect(afterConsent).toEqual({ terms: v2, consent: null, needsConsent: false });
      expect(await gateway.dataSource.query(`SELECT version FROM consents WHERE patient_id = $1 ORDER BY version`, [patient.userId])).toEqual([
        { version: 1 },
        { version: 2 },
      ]);
    });
  });

  describe('categories and texts', () => {
    it('shows the default categories and texts to anyone of the practice', async () => {
      const shown = await apiOk<PracticeSettings>(gateway.url, 'GET', '/api/practice/settings', { token: patient.token });

      expect(shown).toMatchObject({ categories: DEFAULT_CATEGORIES, practicePhone: null, isDefaultAcknowledgement: true });
      await expect(settings.assertTopicEnabled(practice.id, 'repeat-prescription')).resolves.toBeUndefined();
    });

    it('takes a manager’s categories at once: a disabled topic is refused', async () => {
      clock.set(new Date(START.getTime() + 3 * HOUR));
      const categories: TopicCategory[] = [
        { slug: 'appointment', label: 'Appointments', isEnabled: true },
        { slug: 'repeat-prescription', label: 'Repeat prescriptions', isEnabled: false },
        { slug: 'fit-note', label: 'Fit notes', isEnabled: true },
      ];

      const answer = await apiOk<PracticeSettings>(
        gateway.url,
        'PUT',
        '/api/practice/categories',
        { token: practice.manager.token, body: { categories } },
        200,
      );
      const seenByPatient = await apiOk<PracticeSettings>(gateway.url, 'GET', '/api/practice/settings', { token: patient.token });

      expect(answer.categories).toEqual(categories);
      expect(seenByPatient.categories).toEqual(categories);
      await expect(settings.assertTopicEnabled(practice.id, 'fit-note')).resolves.toBeUndefined();
      await expect(settings.assertTopicEnabled(practice.id, 'repeat-prescription')).rejects.toMatchObject({ code: 'invalid_payload' });
      await expect(settings.assertTopicEnabled(practice.id, 'test-results')).rejects.toMatchObject({ code: 'invalid_payload' });
    });

    it('fills the acknowledgement with the reply time and the phone number a manager set', async () => {
      clock.set(new Date(START.getTime() + 4 * HOUR));
      await apiOk(gateway.url, 'PUT', '/api/practice/texts', { token: practice.manager.token, body: { practicePhone: '01632 960001' } }, 200);
      const withDefault = await settings.acknowledgementFor(practice.id, { replyTimeText: 'about 15 minutes' });
      const template = '{practiceName} has your message. Expect a reply {replyTime}. Not for emergencies: 999, 111, or {practicePhone}.';
      const answer = await apiOk<PracticeSettings>(
        gateway.url,
        'PUT',
        '/api/practice/texts',
        { token: practice.manager.token, body: { acknowledgementTemplate: template } },
        200,
      );

      expect(withDefault).toContain('Typical reply time: about 15 minutes.');
      expect(withDefault).toContain('call 999 if someone');
      expect(withDefault).toContain('or phone the practice on 01632 960001.');
      expect(answer).toMatchObject({ practicePhone: '01632 960001', acknowledgementTemplate: template, isDefaultAcknowledgement: false });
      expect(await settings.acknowledgementFor(practice.id, { replyTimeText: 'by 9:00 tomorrow' })).toBe(
        'Riverside Surgery has your message. Expect a reply by 9:00 tomorrow. Not for emergencies: 999, 111, or 01632 960001.',
      );
    });
  });

  describe('refusals', () => {
    it('refuses patients and clinicians every manager route, and changes nothing', async () => {
      const before = await adminRows();

      for (const who of [patient, practice.clinician]) {
        const answers = await Promise.all([
          api(gateway.url, 'POST', '/api/practice/terms', { token: who.token, body: { text: 'Mine now.' } }),
          api(gateway.url, 'PUT', '/api/practice/categories', { token: who.token, body: { categories: [{ slug: 'other', label: 'Other', isEnabled: true }] } }),
          api(gateway.url, 'PUT', '/api/practice/texts', { token: who.token, body: { practicePhone: null } }),
          api(gateway.url, 'GET', '/api/audit', { token: who.token }),
        ]);
        for (const answer of answers) expect(answer).toMatchObject({ status: 403, body: { error: { code: 'forbidden' } } });
      }
      const staffConsent = await api(gateway.url, 'POST', '/api/practice/terms/consent', { token: practice.manager.token, body: { version: 2 } });

      expect(staffConsent).toMatchObject({ status: 403, body: { error: { code: 'forbidden' } } });
      expect(await adminRows()).toEqual(before);
    });

    it.each([
      ['an unknown field', 'POST', '/api/practice/terms', { text: 'Terms.', isDraft: true }],
      ['terms over 20,000 characters', 'POST', '/api/practice/terms', { text: 'x'.repeat(20_001) }],
      ['empty terms', 'POST', '/api/practice/terms', { text: '   ' }],
      ['a version that is not a number', 'POST', '/api/practice/terms/consent', { version: '2' }],
      [
        'duplicate slugs',
        'PUT',
        '/api/practice/categories',
        {
          categories: [
            { slug: 'admin', label: 'A', isEnabled: true },
            { slug: 'admin', label: 'B', isEnabled: true },
          ],
        },
      ],
      ['a slug outside the topic pattern', 'PUT', '/api/practice/categories', { categories: [{ slug: 'Admin Stuff', label: 'A', isEnabled: true }] }],
      ['no enabled category', 'PUT', '/api/practice/categories', { categories: [{ slug: 'admin', label: 'Admin', isEnabled: false }] }],
      ['an unknown category field', 'PUT', '/api/practice/categories', { categories: [{ slug: 'admin', label: 'Admin', isEnabled: true, colour: 'red' }] }],
      ['an acknowledgement without the urgent advice', 'PUT', '/api/practice/texts', { acknowledgementTemplate: 'Thanks. Reply {replyTime}.' }],
      ['an acknowledgement without the reply time', 'PUT', '/api/practice/texts', { acknowledgementTemplate: 'Thanks. Call 999 or 111.' }],
      ['an unknown placeholder', 'PUT', '/api/practice/texts', { acknowledgementTemplate: 'Hi {patientName}. Reply {replyTime}. 999 / 111.' }],
      ['an acknowledgement over 2,000 characters', 'PUT', '/api/practice/texts', { acknowledgementTemplate: `{replyTime} 999 111 ${'x'.repeat(2_000)}` }],
      ['a phone number that is not one', 'PUT', '/api/practice/texts', { practicePhone: 'call us!' }],
      ['nothing to change', 'PUT', '/api/practice/texts', {}],
    ] as const)('answers %s with invalid_payload and stores nothing', async (_case, method, path, body) => {
      const before = await adminRows();

      const answer = await api(gateway.url, method, path, { token: practice.manager.token, body });

      expect(answer).toMatchObject({ status: 400, body: { error: { code: 'invalid_payload' } } });
      expect(await adminRows()).toEqual(before);
    });

    it('answers malformed JSON and bad audit queries with invalid_payload', async () => {
      const token = practice.manager.token;
      const answers = await Promise.all([
        api(gateway.url, 'PUT', '/api/practice/categories', { token, rawBody: '{"categories": [' }),
        api(gateway.url, 'GET', '/api/audit?colour=red', { token }),
        api(gateway.url, 'GET', '/api/audit?action=conversation.deleted', { token }),
        api(gateway.url, 'GET', '/api/audit?limit=0', { token }),
        api(gateway.url, 'GET', '/api/audit?limit=201', { token }),
        api(gateway.url, 'GET', '/api/audit?actorUserId=not-a-uuid', { token }),
        api(gateway.url, 'GET', '/api/audit?from=yesterday', { token }),
        api(gateway.url, 'GET', '/api/audit?from=2025-03-05T00:00:00Z&to=2025-03-04T00:00:00Z', { token }),
        api(gateway.url, 'GET', '/api/audit?before=1;DROP', { token }),
        api(gateway.url, 'GET', `/api/audit?action=terms.published&action=consent.given`, { token }),
      ]);

      for (const answer of answers) expect(answer).toMatchObject({ status: 400, body: { error: { code: 'invalid_payload' } } });
    });
  });

  describe('the audit log', () => {
    it('holds every manager change, the consents and the account events, newest first, ids only', async () => {
      const { events } = await audit(practice.manager.token);

      expect(events.map((event) => event.action)).toEqual([
        'texts.changed',
        'texts.changed',
        'categories.changed',
        'consent.given',
        'terms.published',
        'consent.given',
        'terms.published',
        'account.activated',
        'invitation.created',
        'record-key.granted',
        'device.certified',
        'record-key.granted',
        'device.certified',
        'account.activated',
        'staff.created',
        'record-key.added',
        'root-key.set',
        'account.activated',
      ]);
      expect(events[2]).toMatchObject({
        actorUserId: practice.manager.userId,
        actorDeviceId: practice.manager.deviceId,
        subjectUserId: null,
        data: { enabled: ['appointment', 'fit-note'], disabled: ['repeat-prescription'] },
        createdAt: new Date(START.getTime() + 3 * HOUR).toISOString(),
      });
      expect(events[3]).toMatchObject({ actorUserId: patient.userId, subjectUserId: patient.userId, data: { version: 2 } });
      expect(events.find((event) => event.action === 'invitation.created')).toMatchObject({
        actorUserId: practice.clinician.userId,
        subjectUserId: patient.userId,
      });
      expect(events.find((event) => event.action === 'account.activated')).toMatchObject({
        actorUserId: patient.userId,
        subjectUserId: patient.userId,
        data: { hasAccountKey: true },
      });
      // Names, texts and labels never reach the trail.
      const dump = JSON.stringify(events);
      for (const secret of ['Terms, version', 'Fit notes', '01632', 'Riverside', 'Chris Taylor', 'Dr Alex Morgan']) expect(dump).not.toContain(secret);
    });

    it('filters by person, patient, action and time, and pages back', async () => {
      const token = practice.manager.token;
      const hour = (n: number) => new Date(START.getTime() + n * HOUR).toISOString();

      const byManager = await audit(token, `?actorUserId=${practice.manager.userId}`);
      const byPatient = await audit(token, `?subjectUserId=${patient.userId}`);
      const published = await audit(token, '?action=terms.published');
      const window = await audit(token, `?from=${encodeURIComponent(hour(2))}&to=${encodeURIComponent(hour(4))}`);
      const pages = [await audit(token, '?limit=4')];
      while (pages.at(-1)!.nextBefore !== null && pages.length < 10) pages.push(await audit(token, `?limit=4&before=${pages.at(-1)!.nextBefore}`));
      const nobody = await audit(token, `?actorUserId=${randomUUID()}`);

      expect(byManager.events.map((event) => event.action)).toEqual([
        'texts.changed',
        'texts.changed',
        'categories.changed',
        'terms.published',
        'terms.published',
        'record-key.granted',
        'device.certified',
        'record-key.granted',
        'device.certified',
        'staff.created',
        'record-key.added',
        'root-key.set',
        'account.activated',
      ]);
      expect(byPatient.events.map((event) => event.action)).toEqual(['consent.given', 'consent.given', 'account.activated', 'invitation.created']);
      expect(published.events.map((event) => event.data)).toEqual([{ version: 2 }, { version: 1 }]);
      expect(window.events.map((event) => [event.action, event.createdAt])).toEqual([
        ['categories.changed', hour(3)],
        ['consent.given', hour(2)],
        ['terms.published', hour(2)],
      ]);
      expect(pages.length).toBeGreaterThan(2);
      expect(pages.slice(0, -1).every((page) => page.events.length === 4)).toBe(true);
      expect(pages.flatMap((page) => page.events)).toEqual((await audit(token)).events);
      expect(pages.at(-1)!.nextBefore).toBeNull();
      expect(nobody).toEqual({ events: [], nextBefore: null, people: {} });
    });

    it('records a revoked device', async () => {
      const oldDeviceId = await insertDevice(gateway.dataSource, patient.userId);

      await apiOk(gateway.url, 'POST', `/api/devices/${oldDeviceId}/revoke`, { token: patient.token });
      const { events } = await audit(practice.manager.token, '?action=device.revoked');

      expect(events).toEqual([expect.objectContaining({ actorUserId: patient.userId, actorDeviceId: patient.deviceId, data: { deviceId: oldDeviceId } })]);
    });

    it('shows another practice’s manager none of this practice’s events', async () => {
      const all = await audit(otherManager.token);
      const aimed = await audit(otherManager.token, `?actorUserId=${practice.manager.userId}`);
      const aboutPatient = await audit(otherManager.token, `?subjectUserId=${patient.userId}`);

      // Only their own practice's: their own activation.
      expect(all.events.map((event) => [event.action, event.actorUserId])).toEqual([['account.activated', otherManager.userId]]);
      expect(aimed.events).toEqual([]);
      expect(aboutPatient.events).toEqual([]);
    });
  });
});
