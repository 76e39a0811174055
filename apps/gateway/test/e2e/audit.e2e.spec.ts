import { ready, sealBackup, toBase64 } from '@parley/crypto';
import type { AuditPage, KeyBackup } from '@parley/protocol';
import { startTestApp, type TestApp } from '../app.js';
import { activatePatient, api, apiOk, createPracticeWithStaff, kdfOf, type TestPatient, type TestPractice } from '../factories.js';

/** Issue #14 point 14, server side: every key event is in the audit trail, and the log answers with names and filters by them. */
describe('audit log: key events and names (in-process gateway, real PostgreSQL)', () => {
  let gateway: TestApp;
  let practice: TestPractice;
  let other: TestPractice;
  let patient: TestPatient;

  const audit = (query: string, who = practice.manager) => apiOk<AuditPage>(gateway.url, 'GET', `/api/audit?${query}`, { token: who.token });

  beforeAll(async () => {
    await ready();
    gateway = await startTestApp();
    practice = await createPracticeWithStaff(gateway, { name: 'Riverside Surgery' });
    other = await createPracticeWithStaff(gateway, { name: 'Hillside Surgery' });
    patient = await activatePatient(gateway.url, practice, { displayName: 'Priya Fairweather' });
  });

  afterAll(async () => {
    await gateway.close();
  });

  it('records the root key, every staff device admitted, and every record key version added and granted', async () => {
    const { events } = await audit('limit=200');
    const keyEvents = events
      .filter((event) => ['root-key.set', 'record-key.added', 'device.certified', 'record-key.granted'].includes(event.action))
      .map((event) => [event.action, event.actorUserId, event.data])
      .reverse();

    expect(keyEvents).toEqual([
      ['root-key.set', practice.manager.userId, {}],
      ['record-key.added', practice.manager.userId, { version: 1 }],
      ['device.certified', practice.manager.userId, { deviceId: practice.manager.deviceId, ownerUserId: practice.manager.userId, roles: ['manager'] }],
      ['record-key.granted', practice.manager.userId, { deviceId: practice.manager.deviceId, version: 1 }],
      ['device.certified', practice.manager.userId, { deviceId: practice.clinician.deviceId, ownerUserId: practice.clinician.userId, roles: ['clinician'] }],
      ['record-key.granted', practice.manager.userId, { deviceId: practice.clinician.deviceId, version: 1 }],
    ]);
  });

  it("records each account's activation: its first device and, for a patient, the account key bound to the invitation", async () => {
    const { events } = await audit('action=account.activated');
    const activations = events.map((event) => [event.actorUserId, event.subjectUserId, event.data]);

    expect(activations).toEqual(
      expect.arrayContaining([
        [patient.userId, patient.userId, { deviceId: patient.deviceId, hasAccountKey: true }],
        [practice.clinician.userId, practice.clinician.userId, { deviceId: practice.clinician.deviceId, hasAccountKey: false }],
      ]),
    );
    expect((await audit('action=account.activated', other.manager)).events.map((event) => event.actorUserId)).not.toContain(patient.userId);
  });

  it("records a patient's new key backup (a new offline-guessable copy of their account key)", async () => {
    const blob = sealBackup({
      userId: patient.userId,
      backupVersion: 2,
      accountKeys: patient.account,
      pinnedRoot: practice.root.signPublicKey,
      passphraseKeys: patient.passphraseKeys,
    });
    const replacement: KeyBackup = { backup: toBase64(blob), kdf: kdfOf(patient.passphraseKeys) };
    expect((await api(gateway.url, 'PUT', '/api/keys/backup', { token: patient.token, body: replacement })).status).toBe(204);

    const { events } = await audit('action=key-backup.replaced');

    expect(events).toEqual([expect.objectContaining({ actorUserId: patient.userId, subjectUserId: patient.userId, data: {} })]);
  });

  it('answers the names of everyone the events name: who acted, the patient, and people in the details', async () => {
    const page = await audit('limit=200');

    expect(page.people).toMatchObject({
      [practice.manager.userId]: practice.manager.displayName,
      [practice.clinician.userId]: 'Dr Alex Morgan',
      [patient.userId]: 'Priya Fairweather',
    });
    // Only this practice's people, and only those the page names.
    expect(page.people[other.manager.userId]).toBeUndefined();
    const named = new Set(page.events.flatMap((event) => [event.actorUserId, event.subjectUserId, ...Object.values(event.data)]));
    expect(Object.keys(page.people).every((id) => named.has(id))).toBe(true);
  });

  it('filters by part of the name of who acted or of the patient, any case, within the practice', async () => {
    const byPatient = await audit('subjectName=fairWEATHER');
    const byActor = await audit('actorName=alex%20morg');
    const wildcard = await audit('actorName=%25%25');
    const otherPractice = await audit('subjectName=fairweather', other.manager);

    expect(byPatient.events.length).toBeGreaterThan(0);
    expect(byPatient.events.every((event) => event.subjectUserId === patient.userId)).toBe(true);
    expect(byActor.events.length).toBeGreaterThan(0);
    expect(byActor.events.every((event) => event.actorUserId === practice.clinician.userId)).toBe(true);
    // A LIKE wildcard is a literal character: nobody's name contains "%%".
    expect(wildcard.events).toEqual([]);
    expect(otherPractice.events).toEqual([]);
  });

  it('refuses a name filter of one letter, and clinicians', async () => {
    const short = await api(gateway.url, 'GET', '/api/audit?actorName=a', { token: practice.manager.token });
    const clinician = await api(gateway.url, 'GET', '/api/audit?actorName=alex', { token: practice.clinician.token });

    expect(short).toMatchObject({ status: 400, body: { error: { code: 'invalid_payload' } } });
    expect(clinician).toMatchObject({ status: 403, body: { error: { code: 'forbidden' } } });
  });

  it("names the practice's people for any member of staff, leaves out anyone else's, and refuses patients and malformed ids", async () => {
    const ids = [patient.userId, practice.clinician.userId, other.manager.userId].join(',');

    const answer = await apiOk<{ people: Record<string, string> }>(gateway.url, 'GET', `/api/people?ids=${ids}`, { token: practice.clinician.token });
    const asPatient = await api(gateway.url, 'GET', `/api/people?ids=${ids}`, { token: patient.token });
    const malformed = await api(gateway.url, 'GET', '/api/people?ids=not-an-id', { token: practice.clinician.token });

    expect(answer).toEqual({ people: { [patient.userId]: 'Priya Fairweather', [practice.clinician.userId]: 'Dr Alex Morgan' } });
    expect(asPatient).toMatchObject({ status: 403, body: { error: { code: 'forbidden' } } });
    expect(malformed).toMatchObject({ status: 400, body: { error: { code: 'invalid_payload' } } });
  });
});
