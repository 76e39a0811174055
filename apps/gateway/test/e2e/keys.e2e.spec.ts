import { randomBytes, randomUUID } from 'node:crypto';
import {
  fromBase64,
  generatePracticeRootKey,
  grantRecordKey,
  keyId,
  openRecordKeyGrant,
  ready,
  sealBackup,
  toBase64,
  verifyAccountKeySignature,
  verifyRecordKeyCurrent,
} from '@parley/crypto';
import type { AccountEnrolment, CodeIssued, DeviceInfo, KeyBackup, PracticeKeys } from '@parley/protocol';
import { startTestApp, type TestApp } from '../app.js';
import { hashInvitationCode } from '../../src/invitations/invitation-code.js';
import {
  activatePatient,
  activateStaff,
  api,
  apiOk,
  createPracticeWithManager,
  createPracticeWithStaff,
  invitePatient,
  kdfOf,
  signIn,
  staffCertificateBody,
  type TestPatient,
  type TestPractice,
} from '../factories.js';

const signature = (fill = 1) => toBase64(new Uint8Array(64).fill(fill));
const publicKey = (fill = 1) => toBase64(new Uint8Array(32).fill(fill));

describe('devices, backups and practice keys over HTTP (in-process gateway, real PostgreSQL)', () => {
  let gateway: TestApp;
  let practice: TestPractice;
  let otherPractice: TestPractice;
  let patient: TestPatient;
  let otherPatient: TestPatient;

  /** Every key-bearing row, to show a refused request changed none of them. */
  const keyRows = async () =>
    gateway.dataSource.query(
      `SELECT (SELECT json_agg(d ORDER BY d.id) FROM (SELECT id, certificate, revoked_at FROM devices) d) AS devices,
              (SELECT json_agg(k ORDER BY k.id) FROM (SELECT id, certificate FROM account_keys) k) AS account_keys,
              (SELECT json_agg(p ORDER BY p.id) FROM (SELECT id, root_sign_public_key FROM practices) p) AS practices,
              (SELECT count(*) FROM record_keys)::int AS record_keys, (SELECT count(*) FROM record_key_grants)::int AS grants,
              (SELECT json_agg(b ORDER BY b.user_id) FROM (SELECT user_id, version FROM key_backups) b) AS backups,
              (SELECT count(*) FROM users)::int AS users`,
    );

  beforeAll(async () => {
    await ready();
    gateway = await startTestApp();
    practice = await createPracticeWithStaff(gateway, { name: 'Riverside Surgery' });
    otherPractice = await createPracticeWithStaff(gateway, { name: 'Hillside Surgery' });
    patient = await activatePatient(gateway.url, practice);
    otherPatient = await activatePatient(gateway.url, otherPractice);
  });

  afterAll(async () => {
    await gateway.close();
  });

  describe('GET /api/devices', () => {
    it("lists the caller's own devices with their keys and certificates, and nobody else's", async () => {
      const devices = await apiOk<DeviceInfo[]>(gateway.url, 'GET', '/api/devices', { token: patient.token });

      expect(devices).toEqual([
        {
          id: patient.deviceId,
          userId: patient.userId,
          label: 'My phone',
          signPublicKey: toBase64(patient.device.signPublicKey),
          boxPublicKey: toBase64(patient.device.boxPublicKey),
          certificate: expect.any(String),
          certifiedAs: null,
          createdAt: expect.any(String),
          revokedAt: null,
        },
      ]);
    });
  });

  describe('POST /api/devices/:id/revoke', () => {
    it("revokes the caller's own device, keeping its keys, and revokes the record key grants sealed to it", async () => {
      const nurse = await newStaffMember(practice);
      await grantTo(practice, nurse.deviceId, nurse.device.boxPublicKey);

      const response = await api(gateway.url, 'POST', `/api/devices/${nurse.deviceId}/revoke`, { token: nurse.token });
      const [device] = await gateway.dataSource.query(`SELECT sign_public_key, revoked_at FROM devices WHERE id = $1`, [nurse.deviceId]);
      const [grant] = await gateway.dataSource.query(`SELECT revoked_at FROM record_key_grants WHERE device_id = $1`, [nurse.deviceId]);

      expect(response.status).toBe(204);
      expect(device.sign_public_key).toEqual(Buffer.from(nurse.device.signPublicKey));
      expect(device.revoked_at).not.toBeNull();
      expect(grant.revoked_at).not.toBeNull();
    });

    it("answers not_found for another user's device, in this practice or another, and changes nothing", async () => {
      const before = await keyRows();

      const samePractice = await api(gateway.url, 'POST', `/api/devices/${practice.clinician.deviceId}/revoke`, { token: patient.token });
      const otherPracticeDevice = await api(gateway.url, 'POST', `/api/devices/${otherPatient.deviceId}/revoke`, { token: practice.manager.token });
      const unknown = await api(gateway.url, 'POST', `/api/devices/${randomUUID()}/revoke`, { token: patient.token });
      const malformed = await api(gateway.url, 'POST', `/api/devices/not-a-uuid/revoke`, { token: patient.token });

      expect([samePractice.status, otherPracticeDevice.status, unknown.status]).toEqual([404, 404, 404]);
      expect(malformed).toMatchObject({ status: 400, body: { error: { code: 'invalid_payload' } } });
      expect(await keyRows()).toEqual(before);
    });
  });

  describe('PUT /api/devices/:id/certificate', () => {
    it('lets a manager admit a staff device with a root certificate naming the person as registered, and admit it again', async () => {
      const nurse = await newStaffMember(practice);
      const body = staffCertificateBody(practice.odsCode, practice.root, nurse);
      const renamed = staffCertificateBody(practice.odsCode, practice.root, { ...nurse, displayName: 'Dr Jo Bennett' });
      const promoted = staffCertificateBody(practice.odsCode, practice.root, { ...nurse, roles: ['clinician', 'manager'] });
      const put = (token: string, certificate: unknown) => api(gateway.url, 'PUT', `/api/devices/${nurse.deviceId}/certificate`, { token, body: certificate });

      const byNurse = await put(nurse.token, body);
      const byOtherManager = await put(otherPractice.manager.token, body);
      const unnamed = await put(practice.manager.token, { certificate: body.certificate });
      const wrongName = await put(practice.manager.token, renamed);
      const wrongRoles = await put(practice.manager.token, promoted);
      const byManager = await put(practice.manager.token, body);
      const readmitted = await put(practice.manager.token, { ...body, certificate: signature(2) });
      const [stored] = await gateway.dataSource.query(`SELECT certificate, certified_display_name, certified_roles FROM devices WHERE id = $1`, [
        nurse.deviceId,
      ]);
      const [listed] = await apiOk<DeviceInfo[]>(gateway.url, 'GET', '/api/devices', { token: nurse.token });
      await apiOk(gateway.url, 'POST', `/api/devices/${nurse.deviceId}/revoke`, { token: nurse.token });
      const revoked = await put(practice.manager.token, body);

      expect(byNurse).toMatchObject({ status: 403, body: { error: { code: 'forbidden' } } });
      expect(byOtherManager).toMatchObject({ status: 404, body: { error: { code: 'not_found' } } });
      for (const refused of [unnamed, wrongName, wrongRoles]) expect(refused).toMatchObject({ status: 400, body: { error: { code: 'invalid_payload' } } });
      expect(wrongName.body).toMatchObject({ error: { message: expect.stringContaining('the certificate must name the person as registered') } });
      expect([byManager.status, readmitted.status]).toEqual([204, 204]);
      expect(stored).toEqual({ certificate: fromBase64(signature(2)), certified_display_name: 'Jo Bennett', certified_roles: ['clinician'] });
      expect(listed).toMatchObject({ id: nurse.deviceId, certificate: signature(2), certifiedAs: { displayName: 'Jo Bennett', roles: ['clinician'] } });
      expect(revoked).toMatchObject({ status: 409, body: { error: { code: 'conflict' } } });
    });

    it("refuses a manager certifying a patient's device (the patient's account key does that), a patient another's device, and a patient certificate naming a person", async () => {
      const fresh = await activatePatient(gateway.url, practice);
      const second = await signIn(gateway.url, { practice: practice.odsCode, login: fresh.nhsNumber });
      const put = (token: string, deviceId: string, body: unknown) => api(gateway.url, 'PUT', `/api/devices/${deviceId}/certificate`, { token, body });

      const byManager = await put(practice.manager.token, fresh.deviceId, { certificate: signature() });
      const byOtherPatient = await put(patient.token, fresh.deviceId, { certificate: signature() });
      const named = await put(fresh.token, second.session.deviceId, {
        certificate: signature(),
        certifiedAs: { displayName: 'Dr Chris Taylor', roles: ['clinician'] },
      });
      const first = await put(fresh.token, second.session.deviceId, { certificate: signature() });
      const again = await put(fresh.token, second.session.deviceId, { certificate: signature(2) });

      expect(byManager.status).toBe(403);
      expect(byOtherPatient.status).toBe(404);
      expect(named).toMatchObject({ status: 400, body: { error: { code: 'invalid_payload' } } });
      expect([first.status, again.status]).toEqual([204, 409]);
    });

    it('refuses a certificate of the wrong size as invalid_payload', async () => {
      const response = await api(gateway.url, 'PUT', `/api/devices/${patient.deviceId}/certificate`, {
        token: patient.token,
        body: { certificate: toBase64(new Uint8Array(63)) },
      });

      expect(response).toMatchObject({ status: 400, body: { error: { code: 'invalid_payload' } } });
    });
  });

  describe('/api/keys/backup', () => {
    it('replaces the caller’s backup and hands the new one out', async () => {
      const fresh = await activatePatient(gateway.url, practice);
      const blob = sealBackup({
        userId: fresh.userId,
        backupVersion: 2,
        accountKeys: fresh.account,
        pinnedRoot: practice.root.signPublicKey,
        passphraseKeys: fresh.passphraseKeys,
      });
      const replacement: KeyBackup = { backup: toBase64(blob), kdf: kdfOf(fresh.passphraseKeys) };

      const put = await api(gateway.url, 'PUT', '/api/keys/backup', { token: fresh.token, body: replacement });
      const got = await apiOk<KeyBackup>(gateway.url, 'GET', '/api/keys/backup', { token: fresh.token });
      const [row] = await gateway.dataSource.query(`SELECT version FROM key_backups WHERE user_id = $1`, [fresh.userId]);

      expect(put.status).toBe(204);
      expect(got).toEqual(replacement);
      expect(row.version).toBe(2);
    });

    it('is for patients only, and refuses a blob of the wrong size', async () => {
      const before = await keyRows();

      const staffGet = await api(gateway.url, 'GET', '/api/keys/backup', { token: practice.clinician.token });
      const wrongSize = await api(gateway.url, 'PUT', '/api/keys/backup', {
        token: patient.token,
        body: { backup: toBase64(new Uint8Array(177)), kdf: kdfOf(patient.passphraseKeys) },
      });

      expect(staffGet).toMatchObject({ status: 403, body: { error: { code: 'forbidden' } } });
      expect(wrongSize).toMatchObject({ status: 400, body: { error: { code: 'invalid_payload' } } });
      expect(await keyRows()).toEqual(before);
    });
  });

  describe('POST /api/invitations and /api/staff', () => {
    it('stores a patient invitation as the staff client made it (lookup id and chain, no code), and a staff set-up code only as a hash', async () => {
      const invitation = await invitePatient(gateway.url, practice.manager, practice);
      const staff = await apiOk<CodeIssued>(
        gateway.url,
        'POST',
        '/api/staff',
        { token: practice.manager.token, body: { displayName: 'Dr New', email: `new.${randomUUID().slice(0, 6)}@test.parley`, roles: ['clinician'] } },
        201,
      );
      const [patientRow] = await gateway.dataSource.query(
        `SELECT code_hash, lookup_id, invitation_sign_public_key, creator_device_id, created_by, expires_at FROM invitations WHERE user_id = $1`,
        [invitation.userId],
      );
      const [staffRow] = await gateway.dataSource.query(`SELECT code_hash, lookup_id, created_by FROM invitations WHERE user_id = $1`, [staff.userId]);

      expect(patientRow).toEqual({
        code_hash: null,
        lookup_id: Buffer.from(invitation.lookupId),
        invitation_sign_public_key: Buffer.from(invitation.invitationKeys.signPublicKey),
        creator_device_id: practice.manager.deviceId,
        created_by: practice.manager.userId,
        expires_at: new Date(invitation.expiresAt),
      });
      expect(JSON.stringify(await gateway.dataSource.query(`SELECT * FROM invitations WHERE user_id = $1`, [invitation.userId]))).not.toContain(
        invitation.code,
      );
      expect(staff.code).toMatch(/^[A-HJKMNP-Z2-9]{4}-[A-HJKMNP-Z2-9]{4}-[A-HJKMNP-Z2-9]{4}$/);
      expect(new Date(staff.expiresAt).getTime()).toBeGreaterThan(Date.now() + 6 * 24 * 3600 * 1000);
      expect(staffRow).toEqual({ code_hash: hashInvitationCode(staff.code), lookup_id: null, created_by: practice.manager.userId });
    });

    it('refuses patients, clinicians creating staff, and a second account with the same NHS number or e-mail', async () => {
      const staff = { displayName: 'Dr New', email: practice.clinician.email.toUpperCase(), roles: ['clinician'] };
      const before = await keyRows();

      const byPatient = await api(gateway.url, 'POST', '/api/invitations', { token: patient.token, body: anInvitationBody() });
      const staffByClinician = await api(gateway.url, 'POST', '/api/staff', { token: practice.clinician.token, body: { ...staff, email: 'x@test.parley' } });
      const staffByPatient = await api(gateway.url, 'POST', '/api/staff', { token: patient.token, body: { ...staff, email: 'y@test.parley' } });
      const sameNhsNumber = await api(gateway.url, 'POST', '/api/invitations', {
        token: practice.clinician.token,
        body: anInvitationBody({ nhsNumber: patient.nhsNumber }),
      });
      const sameEmail = await api(gateway.url, 'POST', '/api/staff', { token: practice.manager.token, body: staff });
      const after = await keyRows();
      const otherPracticeMayReuse = await api(gateway.url, 'POST', '/api/invitations', {
        token: otherPractice.clinician.token,
        body: anInvitationBody({ nhsNumber: patient.nhsNumber }),
      });

      expect([byPatient.status, staffByClinician.status, staffByPatient.status]).toEqual([403, 403, 403]);
      expect([sameNhsNumber.status, sameEmail.status]).toEqual([409, 409]);
      expect(after).toEqual(before);
      expect(otherPracticeMayReuse.status).toBe(201);
    });

    it('refuses roles outside clinician and manager, and unknown fields', async () => {
      const patientRole = await api(gateway.url, 'POST', '/api/staff', {
        token: practice.manager.token,
        body: { displayName: 'Mallory', email: 'mallory@test.parley', roles: ['patient'] },
      });
      const extraField = await api(gateway.url, 'POST', '/api/invitations', {
        token: practice.manager.token,
        body: { ...anInvitationBody(), practiceId: otherPractice.id },
      });

      expect(patientRole.status).toBe(400);
      expect(extraField).toMatchObject({ status: 400, body: { error: { code: 'invalid_payload' } } });
    });
  });

  describe('PUT /api/practice/root-key', () => {
    it('pins the root key once; a second one is a conflict and a non-manager is forbidden', async () => {
      const bare = (await createPracticeWithManager(gateway)).manager;
      const root = generatePracticeRootKey();

      const byClinician = await api(gateway.url, 'PUT', '/api/practice/root-key', {
        token: practice.clinician.token,
        body: { rootSignPublicKey: publicKey() },
      });
      const first = await api(gateway.url, 'PUT', '/api/practice/root-key', { token: bare.token, body: { rootSignPublicKey: toBase64(root.signPublicKey) } });
      const second = await api(gateway.url, 'PUT', '/api/practice/root-key', { token: bare.token, body: { rootSignPublicKey: publicKey(3) } });
      const keys = await apiOk<PracticeKeys>(gateway.url, 'GET', '/api/practice/keys', { token: bare.token });

      expect(byClinician.status).toBe(403);
      expect(first.status).toBe(204);
      expect(second).toMatchObject({ status: 409, body: { error: { code: 'conflict' } } });
      expect(keys.rootSignPublicKey).toBe(toBase64(root.signPublicKey));
    });

    it('cannot be rewritten even by SQL', async () => {
      await expect(gateway.dataSource.query(`UPDATE practices SET root_sign_public_key = $2 WHERE id = $1`, [practice.id, Buffer.alloc(32)])).rejects.toThrow(
        /never rewritten/,
      );
      await expect(gateway.dataSource.query(`DELETE FROM devices WHERE id = $1`, [patient.deviceId])).rejects.toThrow(/never deleted/);
    });
  });

  describe('POST /api/practice/record-keys', () => {
    it('adds only the next version, and only after the root key is pinned', async () => {
      const bare = (await createPracticeWithManager(gateway)).manager;
      const key = (version: number) => ({
        version,
        boxPublicKey: publicKey(version),
        validFrom: Date.now(),
        certificate: signature(version),
        current: { issuedAt: Date.now(), signature: signature(version) },
      });
      const { current: _current, ...withoutCurrent } = key(1);

      const beforeRoot = await api(gateway.url, 'POST', '/api/practice/record-keys', { token: bare.token, body: key(1) });
      const noCurrent = await api(gateway.url, 'POST', '/api/practice/record-keys', { token: bare.token, body: withoutCurrent });
      await apiOk(gateway.url, 'PUT', '/api/practice/root-key', { token: bare.token, body: { rootSignPublicKey: publicKey() } });
      const skipping = await api(gateway.url, 'POST', '/api/practice/record-keys', { token: bare.token, body: key(2) });
      const first = await api(gateway.url, 'POST', '/api/practice/record-keys', { token: bare.token, body: key(1) });
      const repeated = await api(gateway.url, 'POST', '/api/practice/record-keys', { token: bare.token, body: key(1) });
      const byPatient = await api(gateway.url, 'POST', '/api/practice/record-keys', { token: patient.token, body: key(2) });

      expect(beforeRoot.status).toBe(409);
      expect(noCurrent).toMatchObject({ status: 400, body: { error: { code: 'invalid_payload' } } });
      expect(skipping.status).toBe(409);
      expect(first.status).toBe(204);
      expect(repeated.status).toBe(409);
      expect(byPatient).toMatchObject({ status: 403, body: { error: { code: 'forbidden' } } });
    });
  });

  describe('POST /api/practice/record-key-grants', () => {
    it('grants to an active staff device of the practice only, once per version', async () => {
      const nurse = await newStaffMember(practice);
      const before = await keyRows();
      const grant = (deviceId: string, version = 1) => ({ version, deviceId, sealedSeed: toBase64(new Uint8Array(80).fill(5)), signature: signature() });

      const toPatientDevice = await api(gateway.url, 'POST', '/api/practice/record-key-grants', {
        token: practice.manager.token,
        body: grant(patient.deviceId),
      });
      const toOtherPractice = await api(gateway.url, 'POST', '/api/practice/record-key-grants', {
        token: practice.manager.token,
        body: grant(otherPractice.clinician.deviceId),
      });
      const unknownVersion = await api(gateway.url, 'POST', '/api/practice/record-key-grants', {
        token: practice.manager.token,
        body: grant(nurse.deviceId, 9),
      });
      const byClinician = await api(gateway.url, 'POST', '/api/practice/record-key-grants', { token: practice.clinician.token, body: grant(nurse.deviceId) });
      const untouched = await keyRows();
      const granted = await api(gateway.url, 'POST', '/api/practice/record-key-grants', { token: practice.manager.token, body: grant(nurse.deviceId) });
      const twice = await api(gateway.url, 'POST', '/api/practice/record-key-grants', { token: practice.manager.token, body: grant(nurse.deviceId) });

      expect([toPatientDevice.status, toOtherPractice.status, unknownVersion.status]).toEqual([404, 404, 404]);
      expect(byClinician.status).toBe(403);
      expect(untouched).toEqual(before);
      expect(granted.status).toBe(204);
      expect(twice.status).toBe(409);
    });
  });

  describe('GET /api/practice/keys', () => {
    it("gives staff their own device's grant, which opens to the record key with @parley/crypto", async () => {
      const keys = await apiOk<PracticeKeys>(gateway.url, 'GET', '/api/practice/keys', { token: practice.clinician.token });
      const [recordKey] = keys.recordKeys;
      const [grant] = keys.grants;

      const opened = openRecordKeyGrant({
        grant: {
          practiceId: practice.odsCode,
          version: grant!.version,
          recordKeyId: keyId(fromBase64(recordKey!.boxPublicKey)),
          recipientKeyId: keyId(practice.clinician.device.boxPublicKey),
          sealedSeed: fromBase64(grant!.sealedSeed),
          signature: fromBase64(grant!.signature),
        },
        certificate: {
          practiceId: practice.odsCode,
          version: recordKey!.version,
          publicKey: fromBase64(recordKey!.boxPublicKey),
          validFrom: recordKey!.validFrom,
          signature: fromBase64(recordKey!.certificate),
        },
        rootSignPublicKey: fromBase64(keys.rootSignPublicKey!),
        granterSignPublicKey: practice.manager.device.signPublicKey,
        recipient: practice.clinician.device,
      });

      expect(keys).toMatchObject({ practiceId: practice.id, odsCode: practice.odsCode });
      expect(keys.grants).toHaveLength(1);
      expect(grant!.grantedByDeviceId).toBe(practice.manager.deviceId);
      expect(grant!.granterCertifiedAs).toEqual({ displayName: 'Sam Patel', roles: ['manager'] });
      expect(opened.seed).toEqual(practice.recordKey.seed);
      expect(() =>
        verifyRecordKeyCurrent(
          { practiceId: practice.odsCode, version: 1, publicKey: practice.recordKey.boxPublicKey, issuedAt: recordKey!.current!.issuedAt },
          fromBase64(recordKey!.current!.signature),
          practice.root.signPublicKey,
        ),
      ).not.toThrow();
    });

    it('gives patients the public keys and no grants, each practice its own', async () => {
      const mine = await apiOk<PracticeKeys>(gateway.url, 'GET', '/api/practice/keys', { token: patient.token });
      const theirs = await apiOk<PracticeKeys>(gateway.url, 'GET', '/api/practice/keys', { token: otherPatient.token });

      expect(mine.rootSignPublicKey).toBe(toBase64(practice.root.signPublicKey));
      expect(mine.recordKeys.map((key) => key.boxPublicKey)).toEqual([toBase64(practice.recordKey.boxPublicKey)]);
      expect(mine.grants).toEqual([]);
      expect(theirs.rootSignPublicKey).toBe(toBase64(otherPractice.root.signPublicKey));
    });
  });

  describe('PUT /api/users/:id/account-key-certificate', () => {
    it('lets a manager certify a patient of the practice once', async () => {
      const fresh = await activatePatient(gateway.url, practice);

      const byClinician = await api(gateway.url, 'PUT', `/api/users/${fresh.userId}/account-key-certificate`, {
        token: practice.clinician.token,
        body: { certificate: signature() },
      });
      const byManager = await api(gateway.url, 'PUT', `/api/users/${fresh.userId}/account-key-certificate`, {
        token: practice.manager.token,
        body: { certificate: signature() },
      });
      const again = await api(gateway.url, 'PUT', `/api/users/${fresh.userId}/account-key-certificate`, {
        token: practice.manager.token,
        body: { certificate: signature(2) },
      });

      expect(byClinician.status).toBe(403);
      expect(byManager.status).toBe(204);
      expect(again.status).toBe(409);
    });

    it("answers not_found for another practice's patient, a member of staff and an unknown id, changing nothing", async () => {
      const fresh = await activatePatient(gateway.url, otherPractice);
      const before = await keyRows();

      const responses = await Promise.all(
        [fresh.userId, practice.clinician.userId, randomUUID()].map((id) =>
          api(gateway.url, 'PUT', `/api/users/${id}/account-key-certificate`, { token: practice.manager.token, body: { certificate: signature() } }),
        ),
      );

      expect(responses.map((response) => response.status)).toEqual([404, 404, 404]);
      expect(await keyRows()).toEqual(before);
    });
  });

  describe('GET /api/keys/account', () => {
    it("gives a patient their account key's chain, all their devices and the envelopes sealed to their account key", async () => {
      const fresh = await activatePatient(gateway.url, practice);
      const second = await signIn(gateway.url, { practice: practice.odsCode, login: fresh.nhsNumber });
      await apiOk(gateway.url, 'POST', `/api/devices/${fresh.deviceId}/revoke`, { token: fresh.token });
      const conversationId = randomUUID();
      const sealed = { recipientKeyId: toBase64(new Uint8Array(16).fill(4)), sealedKey: toBase64(new Uint8Array(80).fill(5)), signature: signature(6) };
      await gateway.dataSource.query(
        `INSERT INTO conversations (id, practice_id, patient_id, topic, created_by_device_id, last_hash) VALUES ($1, $2, $3, 'test-results', $4, $5)`,
        [conversationId, practice.id, fresh.userId, fresh.deviceId, Buffer.alloc(32)],
      );
      await gateway.dataSource.query(
        `INSERT INTO conversation_envelopes (conversation_id, epoch, recipient_kind, recipient_user_id, recipient_key_id, sealed_key, signature, creator_device_id)
         VALUES ($1, 1, 'account', $2, $3, $4, $5, $6)`,
        [conversationId, fresh.userId, fromBase64(sealed.recipientKeyId), fromBase64(sealed.sealedKey), fromBase64(sealed.signature), fresh.deviceId],
      );
      // Not sealed to the account key, so not answered.
      await gateway.dataSource.query(
        `INSERT INTO conversation_envelopes (conversation_id, epoch, recipient_kind, recipient_record_version, recipient_key_id, sealed_key, signature, creator_device_id)
         VALUES ($1, 1, 'record', 1, $2, $3, $4, $5)`,
        [conversationId, new Uint8Array(16).fill(8), fromBase64(sealed.sealedKey), fromBase64(sealed.signature), fresh.deviceId],
      );

      const enrolment = await apiOk<AccountEnrolment>(gateway.url, 'GET', '/api/keys/account', { token: second.token });
      const byStaff = await api(gateway.url, 'GET', '/api/keys/account', { token: practice.clinician.token });

      expect(enrolment.account).toMatchObject({
        userId: fresh.userId,
        signPublicKey: toBase64(fresh.account.signPublicKey),
        boxPublicKey: toBase64(fresh.account.boxPublicKey),
        certificate: null,
        invitation: {
          invitationSignPublicKey: toBase64(fresh.invitation.invitationKeys.signPublicKey),
          expiresAt: fresh.invitation.expiresAt,
          creator: { deviceId: practice.clinician.deviceId, certifiedAs: { displayName: 'Dr Alex Morgan', roles: ['clinician'] } },
        },
      });
      expect(() =>
        verifyAccountKeySignature(
          { practiceId: practice.odsCode, patientId: fresh.userId, signPublicKey: fresh.account.signPublicKey, boxPublicKey: fresh.account.boxPublicKey },
          fromBase64(enrolment.account.accountSignature!),
          fresh.invitation.invitationKeys.signPublicKey,
        ),
      ).not.toThrow();
      expect(enrolment.devices.map((device) => [device.id, device.revokedAt !== null, device.certifiedAs])).toEqual([
        [fresh.deviceId, true, null],
        [second.session.deviceId, false, null],
      ]);
      expect(enrolment.envelopes).toEqual([{ conversationId, epoch: 1, creatorDeviceId: fresh.deviceId, ...sealed }]);
      expect(byStaff).toMatchObject({ status: 403, body: { error: { code: 'forbidden' } } });
    });
  });

  /** A valid-looking POST /api/invitations body (the server cannot check its signatures; clients do). */
  function anInvitationBody(overrides: Record<string, unknown> = {}) {
    return {
      userId: randomUUID(),
      displayName: 'Pat Jones',
      nhsNumber: String(9_000_000_000 + Math.floor(Math.random() * 999_999_999)),
      dateOfBirth: '1990-01-31',
      lookupId: toBase64(new Uint8Array(randomBytes(32))),
      invitationSignPublicKey: publicKey(4),
      invitationSignature: signature(5),
      rootSignature: signature(6),
      expiresAt: Date.now() + 24 * 3600 * 1000,
      ...overrides,
    };
  }

  /** A clinician added to `of` by its manager, activated on a new device. */
  async function newStaffMember(of: TestPractice) {
    const email = `nurse.${randomUUID().slice(0, 8)}@test.parley`;
    const issued = await apiOk<{ userId: string; code: string }>(
      gateway.url,
      'POST',
      '/api/staff',
      { token: of.manager.token, body: { displayName: 'Jo Bennett', email, roles: ['clinician'] } },
      201,
    );
    return activateStaff(gateway.url, of.odsCode, issued.code, { userId: issued.userId, email, roles: ['clinician'] });
  }

  /** Grants record key version 1 of `of` to a device, as its manager's client would. */
  async function grantTo(of: TestPractice, deviceId: string, boxPublicKey: Uint8Array) {
    const grant = grantRecordKey({
      practiceId: of.odsCode,
      recordKey: of.recordKey,
      recipientBoxPublicKey: boxPublicKey,
      granterSignSecretKey: of.manager.device.signSecretKey,
    });
    await apiOk(gateway.url, 'POST', '/api/practice/record-key-grants', {
      token: of.manager.token,
      body: { version: 1, deviceId, sealedSeed: toBase64(grant.sealedSeed), signature: toBase64(grant.signature) },
    });
  }
});
