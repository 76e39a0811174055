import type { FeedEntry } from '@parley/client';
import { fromBase64, ready, TEST_KDF_PARAMS } from '@parley/crypto';
import type { AuditPage, RecoverySummary } from '@parley/protocol';
import {
  AccountFlowError,
  approveRecovery,
  ChatSession,
  completeRecovery,
  isPatientSignedIn,
  listRecoveries,
  openRecordKeys,
  openRecovery,
  signIn,
  startRecovery,
  submitRecovery,
  type ChatEntry,
  type IssuedRecovery,
} from '@parley/sdk';
import { startTestApp, type TestApp } from '../app.js';
import { follow, followConversation, patientChat, staffChat, waitForAssignment, type Chatter } from '../chat.js';
import { activatePatient, api, apiOk, createPracticeWithStaff, type TestPatient, type TestPractice, type TestStaff } from '../factories.js';
import { waitUntil } from '../wait.js';

const NEW_PASSPHRASE = 'lantern orchard pebble violet harbour quill';

describe('practice-assisted recovery after a forgotten passphrase (flow B; real gateway, PostgreSQL, sdk and crypto)', () => {
  let gateway: TestApp;
  let practice: TestPractice;
  let patient: TestPatient;
  let alice: Chatter;
  let clinician: Chatter;
  let conversationId: string;

  beforeAll(async () => {
    await ready();
    gateway = await startTestApp();
    practice = await createPracticeWithStaff(gateway);
    patient = await activatePatient(gateway.url, practice);
    alice = await patientChat(gateway.url, practice, patient);
    clinician = await staffChat(gateway.url, practice, practice.clinician);
    conversationId = (await alice.session.openConversation('repeat-prescription')).id;
    await follow(alice, conversationId);
    await follow(clinician, conversationId);
    await waitForAssignment(clinician);
    await alice.session.conversation(conversationId).send('My inhaler is nearly empty.');
    await clinician.waitForEntries(4);
    await clinician.session.conversation(conversationId).send('I have sent a new prescription.');
    await alice.waitForEntries(5);
  });

  afterAll(async () => {
    await alice?.session.close();
    await clinician?.session.close();
    await gateway.close();
  });

  const staffCall = (staff: TestStaff) => ({ baseUrl: gateway.url, token: staff.token });
  const start = (staff: TestStaff, patientId = patient.userId): Promise<IssuedRecovery> =>
    startRecovery({
      ...staffCall(staff),
      practice: practice.odsCode,
      device: { deviceId: staff.deviceId, keys: staff.device },
      pinnedRoot: practice.root.signPublicKey,
      patientId,
      kdf: TEST_KDF_PARAMS,
    });
  const open = (code: string, dateOfBirth = patient.dateOfBirth) =>
    openRecovery({ baseUrl: gateway.url, practice: practice.odsCode, code, dateOfBirth, kdf: TEST_KDF_PARAMS });
  const recoveryOf = async (id: string): Promise<RecoverySummary> => {
    const found = (await listRecoveries(staffCall(practice.manager))).find((recovery) => recovery.id === id);
    if (!found) throw new Error(`recovery ${id} not listed`);
    return found;
  };
  const complete = async (staff: TestStaff, id: string) =>
    completeRecovery({
      ...staffCall(staff),
      practice: practice.odsCode,
      pinnedRoot: practice.root.signPublicKey,
      device: { deviceId: staff.deviceId, keys: staff.device },
      rootSignSecretKey: practice.root.signSecretKey,
      recordKeys: await openRecordKeys({
        ...staffCall(staff),
        odsCode: practice.odsCode,
        device: { deviceId: staff.deviceId, keys: staff.device },
        pinnedRoot: practice.root.signPublicKey,
      }),
      recovery: await recoveryOf(id),
    });
  const approve = async (staff: TestStaff, id: string) =>
    approveRecovery({ ...staffCall(staff), practice: practice.odsCode, pinnedRoot: practice.root.signPublicKey, recovery: await recoveryOf(id) });
  const refusal = (promise: Promise<unknown>) =>
    promise.then(
      () => null,
      (error: AccountFlowError) => ({ code: error.code, details: error.details }),
    );
  /** The patient's credential, keys, devices and sessions: what a refused step must leave as it was. */
  const accountState = async () =>
    gateway.dataSource.query(
      `SELECT u.auth_key_hash, u.auth_salt, b.version AS backup_version, b.blob,
              (SELECT json_agg(k.id ORDER BY k.id) FROM account_keys k WHERE k.user_id = u.id AND k.revoked_at IS NULL) AS active_keys,
              (SELECT count(*)::int FROM devices d WHERE d.user_id = u.id AND d.revoked_at IS NULL) AS active_devices,
              (SELECT count(*)::int FROM sessions s WHERE s.user_id = u.id AND s.revoked_at IS NULL) AS active_sessions,
              (SELECT count(*)::int FROM conversation_envelopes e WHERE e.recipient_user_id = u.id) AS account_envelopes
         FROM users u JOIN key_backups b ON b.user_id = u.id WHERE u.id = $1`,
      [patient.userId],
    );

  it('refuses a wrong code and a wrong date of birth alike, and a code for another practice or patient finds nothing', async () => {
    const issued = await start(practice.clinician);
    const before = await accountState();

    const wrongCode = await refusal(open('ABCD-EFGH-JKMNP'));
    const wrongDate = await refusal(open(issued.code, '1901-01-01'));
    const otherPractice = await refusal(
      openRecovery({ baseUrl: gateway.url, practice: 'XX999', code: issued.code, dateOfBirth: patient.dateOfBirth, kdf: TEST_KDF_PARAMS }),
    );

    expect(wrongCode).toMatchObject({ code: 'unauthorized' });
    expect(wrongDate).toMatchObject({ code: 'unauthorized' });
    expect(otherPractice).toMatchObject({ code: 'unauthorized' });
    expect(await accountState()).toEqual(before);
    // One open recovery per patient: the next test starts its own.
    await gateway.dataSource.query(`UPDATE recoveries SET state = 'voided' WHERE id = $1`, [issued.recoveryId]);
  });

  it('refuses an expired recovery code', async () => {
    const issued = await start(practice.clinician);
    await gateway.dataSource.query(`UPDATE recoveries SET started_at = now() - interval '9 days', expires_at = now() - interval '1 day' WHERE id = $1`, [
      issued.recoveryId,
    ]);

    expect(await refusal(open(issued.code))).toMatchObject({ code: 'unauthorized' });
  });

  it('refuses a recovery for someone who is not a patient of the practice, and from a patient', async () => {
    const notAPatient = await refusal(start(practice.clinician, practice.manager.userId));
    const byPatient = await api(gateway.url, 'POST', '/api/recoveries', { token: patient.token, body: {} });

    expect(notAPatient).toMatchObject({ code: 'not_found' });
    expect(byPatient.status).toBe(403);
  });

  describe('a recovery approved by two members of staff', () => {
    let issued: IssuedRecovery;
    let stateBefore: unknown;

    beforeAll(async () => {
      issued = await start(practice.clinician);
      const verified = await open(issued.code);
      await submitRecovery({ baseUrl: gateway.url, recovery: verified, dateOfBirth: patient.dateOfBirth, passphrase: NEW_PASSPHRASE, kdf: TEST_KDF_PARAMS });
      stateBefore = await accountState();
    });

    it('lets a code be used once: a second submission and a lookup after it are refused', async () => {
      const again = await refusal(open(issued.code));

      expect(again).toMatchObject({ code: 'unauthorized' });
      expect((await recoveryOf(issued.recoveryId)).state).toBe('submitted');
    });

    it('refuses to complete on no approval, and on a single one, and changes nothing', async () => {
      const none = await refusal(complete(practice.manager, issued.recoveryId));
      await approve(practice.manager, issued.recoveryId);
      const single = await refusal(complete(practice.manager, issued.recoveryId));

      expect(none).toMatchObject({ code: 'forbidden', details: { reason: 'second_approval_needed' } });
      expect(single).toMatchObject({ code: 'forbidden', details: { reason: 'second_approval_needed' } });
      expect(await accountState()).toEqual(stateBefore);
    });

    it('refuses the same account approving twice (a second device of theirs too)', async () => {
      const twice = await refusal(approve(practice.manager, issued.recoveryId));

      expect(twice).toMatchObject({ code: 'conflict', details: { reason: 'already_approved' } });
      expect((await recoveryOf(issued.recoveryId)).approvals.map((approval) => approval.userId)).toEqual([practice.manager.userId]);
      expect(await refusal(complete(practice.manager, issued.recoveryId))).toMatchObject({ details: { reason: 'second_approval_needed' } });
    });

    it('refuses a completion by a clinician, who holds no root', async () => {
      await approve(practice.clinician, issued.recoveryId);

      expect(await refusal(complete(practice.clinician, issued.recoveryId))).toMatchObject({ code: 'forbidden' });
      expect(await accountState()).toEqual(stateBefore);
    });

    it('completes with the second approval: the old device is signed out, the new passphrase signs in and reads the old history', async () => {
      const oldSessionEnded = new Promise<string>((resolve) => alice.session.client.on('session:ended', (fact) => resolve(fact.reason)));

      const { resealed, unopened } = await complete(practice.manager, issued.recoveryId);

      expect(resealed).toBe(1);
      expect(unopened).toBe(0);
      expect(await oldSessionEnded).toBe('keys_changed');
      expect((await api(gateway.url, 'GET', '/api/devices', { token: patient.token })).status).toBe(401);
      const oldPassphrase = await refusal(
        signIn({
          baseUrl: gateway.url,
          practice: practice.odsCode,
          login: patient.nhsNumber,
          passphrase: patient.passphrase,
          deviceLabel: 'old',
          kdf: TEST_KDF_PARAMS,
        }),
      );
      expect(oldPassphrase).toMatchObject({ code: expect.stringMatching(/unauthorized|wrong_passphrase/) });

      const phone = await signIn({
        baseUrl: gateway.url,
        practice: practice.odsCode,
        login: patient.nhsNumber,
        passphrase: NEW_PASSPHRASE,
        deviceLabel: 'new phone',
        kdf: TEST_KDF_PARAMS,
      });
      if (!isPatientSignedIn(phone)) throw new Error('a patient signs in as a patient');
      expect(phone.pinnedRoot).toEqual(practice.root.signPublicKey);
      const session = await ChatSession.start({ baseUrl: gateway.url, signedIn: phone, pinnedRoot: phone.pinnedRoot, epochKeys: phone.epochKeys });
      const seen: FeedEntry<ChatEntry>[] = [];
      await followConversation(session, conversationId, (entry) => seen.push(entry));
      await waitUntil(() => seen.length >= 5, 'the old history on the new phone');
      await session.close();

      expect(seen.filter((entry) => !entry.ok)).toEqual([]);
      const messages = seen.flatMap((entry) => (entry.ok && entry.value.kind === 'message' ? [entry.value] : []));
      expect(messages.map((message) => [message.body, message.senderRole, message.isMine])).toEqual([
        ['My inhaler is nearly empty.', 'patient', true],
        ['I have sent a new prescription.', 'clinician', false],
      ]);
    });

    it('lets staff keep reading the patient messages their old device sent (a retired key, revoked device)', async () => {
      const reader = await staffChat(gateway.url, practice, practice.manager);
      await follow(reader, conversationId);
      await reader.waitForEntries(5);
      await reader.session.close();

      expect(reader.entries.filter((entry) => !entry.ok)).toEqual([]);
      expect(reader.bodies()).toEqual(['My inhaler is nearly empty.', 'I have sent a new prescription.']);
    });

    it('audits every step, and the completion names both approvers', async () => {
      const page = await apiOk<AuditPage>(gateway.url, 'GET', `/api/audit?subjectUserId=${patient.userId}`, { token: practice.manager.token });
      const ofThis = page.events.filter((event) => event.data['recoveryId'] === issued.recoveryId);

      expect(ofThis.map((event) => event.action).sort()).toEqual([
        'recovery.approved',
        'recovery.approved',
        'recovery.completed',
        'recovery.started',
        'recovery.submitted',
      ]);
      const completed = ofThis.find((event) => event.action === 'recovery.completed');
      expect(completed).toMatchObject({
        actorUserId: practice.manager.userId,
        data: { firstApproverUserId: practice.manager.userId, secondApproverUserId: practice.clinician.userId, envelopes: 1 },
      });
      expect(page.people[practice.clinician.userId]).toBe(practice.clinician.displayName);
      const state = await gateway.dataSource.query(
        `SELECT certificate IS NOT NULL AS certified, sign_public_key FROM account_keys WHERE user_id = $1 AND revoked_at IS NULL`,
        [patient.userId],
      );
      expect(state).toEqual([{ certified: true, sign_public_key: Buffer.from(fromBase64((await recoveryOf(issued.recoveryId)).newAccount!.signPublicKey)) }]);
    });
  });
});
