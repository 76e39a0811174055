import { randomUUID } from 'node:crypto';
import {
  certifyDevice,
  fromBase64,
  generatePracticeRootKey,
  grantRecordKey,
  keyId,
  openRecordKeyGrant,
  ready,
  sealBackup,
  toBase64,
} from '@parley/crypto';
import type { DeviceInfo, KeyBackup, PracticeKeys } from '@parley/protocol';
import { startTestApp, type TestApp } from '../app.js';
import { hashInvitationCode } from '../../src/auth/invitation-code.js';
import {
  activatePatient,
  activateStaff,
  api,
  apiOk,
  createPracticeWithManager,
  createPracticeWithStaff,
  kdfOf,
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
    it('lets a manager certify a staff device once, and refuses everyone else', async () => {
      const nurse = await newStaffMember(practice);
      const certificate = certifyDevice(
        { userId: nurse.userId, deviceId: nurse.deviceId, signPublicKey: nurse.device.signPublicKey, boxPublicKey: nurse.device.boxPublicKey },
        practice.root.signSecretKey,
      );
      const body = { certificate: toBase64(certificate.signature) };

      const byNurse = await api(gateway.url, 'PUT', `/api/devices/${nurse.deviceId}/certificate`, { token: nurse.token, body });
      const byOtherManager = await api(gateway.url, 'PUT', `/api/devices/${nurse.deviceId}/certificate`, { token: otherPractice.manager.token, body });
      const byManager = await api(gateway.url, 'PUT', `/api/devices/${nurse.deviceId}/certificate`, { token: practice.manager.token, body });
      const again = await api(gateway.url, 'PUT', `/api/devices/${nurse.deviceId}/certificate`, { token: practice.manager.token, body: { certificate: signature(2) } });
      const [stored] = await gateway.dataSource.query(`SELECT certificate FROM devices WHERE id = $1`, [nurse.deviceId]);

      expect(byNurse).toMatchObject({ status: 403, body: { error: { code: 'forbidden' } } });
      expect(byOtherManager).toMatchObject({ status: 404, body: { error: { code: 'not_found' } } });
      expect(byManager.status).toBe(204);
      expect(again).toMatchObject({ status: 409, body: { error: { code: 'conflict' } } });
      expect(stored.certificate).toEqual(Buffer.from(certificate.signature));
    });

    it("refuses a manager certifying a patient's device (the patient's account key does that) and a patient another's device", async () => {
      const fresh = await activatePatient(gateway.url, practice);

      const byManager = await api(gateway.url, 'PUT', `/api/devices/${fresh.deviceId}/certificate`, { token: practice.manager.token, body: { certificate: signature() } });
      const byOtherPatient = await api(gateway.url, 'PUT', `/api/devices/${fresh.deviceId}/certificate`, { token: patient.token, body: { certificate: signature() } });

      expect(byManager.status).toBe(403);
      expect(byOtherPatient.status).toBe(404);
    });

    it('refuses a certificate of the wrong size as invalid_payload', async () => {
      const response = await api(gateway.url, 'PUT', `/api/devices/${patient.deviceId}/certificate`, { token: patient.token, body: { certificate: toBase64(new Uint8Array(63)) } });

      expect(response).toMatchObject({ status: 400, body: { error: { code: 'invalid_payload' } } });
    });
  });

  describe('/api/keys/backup', () => {
    it('replaces the caller’s backup and hands the new one out', async () => {
      const fresh = await activatePatient(gateway.url, practice);
      const blob = sealBackup({ userId: fresh.userId, backupVersion: 2, accountKeys: fresh.account, passphraseKeys: fresh.passphraseKeys });
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
    it('issues codes to clinicians and managers, shown once and stored only as a hash, with the root key for the letter', async () => {
      const response = await api<{ userId: string; code: string; expiresAt: string; practiceRootSignPublicKey: string }>(gateway.url, 'POST', '/api/invitations', {
        token: practice.manager.token,
        body: { displayName: 'Pat Jones', nhsNumber: '9990001234', dateOfBirth: '1990-01-31' },
      });
      const [invitation] = await gateway.dataSource.query(`SELECT code_hash, created_by FROM invitations WHERE user_id = $1`, [response.body.userId]);

      expect(response.status).toBe(201);
      expect(response.body.code).toMatch(/^[A-HJKMNP-Z2-9]{4}-[A-HJKMNP-Z2-9]{4}-[A-HJKMNP-Z2-9]{4}$/);
      expect(response.body.practiceRootSignPublicKey).toBe(toBase64(practice.root.signPublicKey));
      expect(new Date(response.body.expiresAt).getTime()).toBeGreaterThan(Date.now() + 29 * 24 * 3600 * 1000);
      expect(invitation).toEqual({ code_hash: hashInvitationCode(response.body.code), created_by: practice.manager.userId });
    });

    it('refuses patients, clinicians creating staff, and a second account with the same NHS number or e-mail', async () => {
      const invitation = { displayName: 'Pat Jones', nhsNumber: patient.nhsNumber, dateOfBirth: '1990-01-31' };
      const staff = { displayName: 'Dr New', email: practice.clinician.email.toUpperCase(), roles: ['clinician'] };
      const before = await keyRows();

      const byPatient = await api(gateway.url, 'POST', '/api/invitations', { token: patient.token, body: { ...invitation, nhsNumber: '9990005678' } });
      const staffByClinician = await api(gateway.url, 'POST', '/api/staff', { token: practice.clinician.token, body: { ...staff, email: 'x@test.parley' } });
      const staffByPatient = await api(gateway.url, 'POST', '/api/staff', { token: patient.token, body: { ...staff, email: 'y@test.parley' } });
      const sameNhsNumber = await api(gateway.url, 'POST', '/api/invitations', { token: practice.clinician.token, body: invitation });
      const sameEmail = await api(gateway.url, 'POST', '/api/staff', { token: practice.manager.token, body: staff });
      const after = await keyRows();
      const otherPracticeMayReuse = await api(gateway.url, 'POST', '/api/invitations', { token: otherPractice.clinician.token, body: invitation });

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
        body: { displayName: 'Pat', nhsNumber: '9990000001', dateOfBirth: '1990-01-31', practiceId: otherPractice.id },
      });

      expect(patientRole.status).toBe(400);
      expect(extraField).toMatchObject({ status: 400, body: { error: { code: 'invalid_payload' } } });
    });
  });

  describe('PUT /api/practice/root-key', () => {
    it('pins the root key once; a second one is a conflict and a non-manager is forbidden', async () => {
      const bare = (await createPracticeWithManager(gateway)).manager;
      const root = generatePracticeRootKey();

      const byClinician = await api(gateway.url, 'PUT', '/api/practice/root-key', { token: practice.clinician.token, body: { rootSignPublicKey: publicKey() } });
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
      const key = (version: number) => ({ version, boxPublicKey: publicKey(version), validFrom: Date.now(), certificate: signature(version) });

      const beforeRoot = await api(gateway.url, 'POST', '/api/practice/record-keys', { token: bare.token, body: key(1) });
      await apiOk(gateway.url, 'PUT', '/api/practice/root-key', { token: bare.token, body: { rootSignPublicKey: publicKey() } });
      const skipping = await api(gateway.url, 'POST', '/api/practice/record-keys', { token: bare.token, body: key(2) });
      const first = await api(gateway.url, 'POST', '/api/practice/record-keys', { token: bare.token, body: key(1) });
      const repeated = await api(gateway.url, 'POST', '/api/practice/record-keys', { token: bare.token, body: key(1) });
      const byPatient = await api(gateway.url, 'POST', '/api/practice/record-keys', { token: patient.token, body: key(2) });

      expect(beforeRoot.status).toBe(409);
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

      const toPatientDevice = await api(gateway.url, 'POST', '/api/practice/record-key-grants', { token: practice.manager.token, body: grant(patient.deviceId) });
      const toOtherPractice = await api(gateway.url, 'POST', '/api/practice/record-key-grants', { token: practice.manager.token, body: grant(otherPractice.clinician.deviceId) });
      const unknownVersion = await api(gateway.url, 'POST', '/api/practice/record-key-grants', { token: practice.manager.token, body: grant(nurse.deviceId, 9) });
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
        certificate: { practiceId: practice.odsCode, version: recordKey!.version, publicKey: fromBase64(recordKey!.boxPublicKey), validFrom: recordKey!.validFrom, signature: fromBase64(recordKey!.certificate) },
        rootSignPublicKey: fromBase64(keys.rootSignPublicKey!),
        granterSignPublicKey: practice.manager.device.signPublicKey,
        recipient: practice.clinician.device,
      });

      expect(keys).toMatchObject({ practiceId: practice.id, odsCode: practice.odsCode });
      expect(keys.grants).toHaveLength(1);
      expect(grant!.grantedByDeviceId).toBe(practice.manager.deviceId);
      expect(opened.seed).toEqual(practice.recordKey.seed);
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
      const fresh = await activatePatient(gateway.url, practice, { isCertified: false });

      const byClinician = await api(gateway.url, 'PUT', `/api/users/${fresh.userId}/account-key-certificate`, { token: practice.clinician.token, body: { certificate: signature() } });
      const byManager = await api(gateway.url, 'PUT', `/api/users/${fresh.userId}/account-key-certificate`, { token: practice.manager.token, body: { certificate: signature() } });
      const again = await api(gateway.url, 'PUT', `/api/users/${fresh.userId}/account-key-certificate`, { token: practice.manager.token, body: { certificate: signature(2) } });

      expect(byClinician.status).toBe(403);
      expect(byManager.status).toBe(204);
      expect(again.status).toBe(409);
    });

    it("answers not_found for another practice's patient, a member of staff and an unknown id, changing nothing", async () => {
      const fresh = await activatePatient(gateway.url, otherPractice, { isCertified: false });
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
    const grant = grantRecordKey({ practiceId: of.odsCode, recordKey: of.recordKey, recipientBoxPublicKey: boxPublicKey, granterSignSecretKey: of.manager.device.signSecretKey });
    await apiOk(gateway.url, 'POST', '/api/practice/record-key-grants', {
      token: of.manager.token,
      body: { version: 1, deviceId, sealedSeed: toBase64(grant.sealedSeed), signature: toBase64(grant.signature) },
    });
  }
});
