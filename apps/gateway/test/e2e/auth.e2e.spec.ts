import { request as httpRequest } from 'node:http';
import { randomUUID } from 'node:crypto';
import {
  certifyDevice,
  deriveAccountKeys,
  fromBase64,
  generateDeviceKeys,
  newSalt,
  openBackup,
  readBackupHeader,
  ready,
  TEST_KDF_PARAMS,
  toBase64,
  verifyAccountKeySignature,
  verifyInvitation,
} from '@parley/crypto';
import type { CodeIssued, InvitationCreated, InvitationDetails, KdfParams, KeyBackup, SessionInfo } from '@parley/protocol';
import { startTestApp, type TestApp } from '../app.js';
import {
  activatePatient,
  activateStaff,
  api,
  apiOk,
  createPracticeWithStaff,
  derivedKeysFor,
  invitePatient,
  kdfOf,
  patientActivation,
  signIn,
  TEST_PASSPHRASE,
  type TestPractice,
} from '../factories.js';

/** How many rows the account tables hold: a refused request must leave them as they were. */
async function accountRows(gateway: TestApp): Promise<Record<string, number>> {
  const [row] = await gateway.dataSource.query(
    `SELECT (SELECT count(*) FROM users WHERE activated_at IS NOT NULL)::int AS activated, (SELECT count(*) FROM devices)::int AS devices,
            (SELECT count(*) FROM sessions)::int AS sessions, (SELECT count(*) FROM account_keys)::int AS account_keys,
            (SELECT count(*) FROM key_backups)::int AS key_backups, (SELECT count(*) FROM invitations WHERE used_at IS NOT NULL)::int AS used_codes`,
  );
  return row;
}

/** A base64 signature with its first byte flipped. */
const flipped = (signature: string): string => {
  const bytes = fromBase64(signature);
  bytes[0] = bytes[0]! ^ 0x01;
  return toBase64(bytes);
};

/** A POST sent from another loopback address, to play a second client IP. */
function postFrom(localAddress: string, url: string, path: string, body: unknown): Promise<{ status: number; body: { error?: { code: string } } }> {
  return new Promise((resolve, reject) => {
    const request = httpRequest(`${url}${path}`, { method: 'POST', localAddress, headers: { 'content-type': 'application/json' } }, (response) => {
      let text = '';
      response.setEncoding('utf8').on('data', (chunk: string) => (text += chunk));
      response.on('end', () => resolve({ status: response.statusCode ?? 0, body: text ? JSON.parse(text) : {} }));
    });
    request.on('error', reject);
    request.end(JSON.stringify(body));
  });
}

describe('accounts over HTTP (in-process gateway, real PostgreSQL)', () => {
  let gateway: TestApp;
  let practice: TestPractice;

  beforeAll(async () => {
    await ready();
    // Refusals in this file must not trip the per-IP limit (every request comes from 127.0.0.1); its own tests use a second gateway.
    gateway = await startTestApp({ SIGN_IN_MAX_FAILURES_PER_IP: '10000', SIGN_IN_MAX_FAILURES_PER_ACCOUNT: '1000' });
    practice = await createPracticeWithStaff(gateway);
  });

  afterAll(async () => {
    await gateway.close();
  });

  describe('invitation lookup', () => {
    it('names the account a lookup id opens once the date of birth matches, with the chain its creator signed', async () => {
      const invitation = await invitePatient(gateway.url, practice.clinician, practice);
      const body = { practice: practice.odsCode, lookupId: toBase64(invitation.lookupId), dateOfBirth: invitation.dateOfBirth };

      const details = await apiOk<InvitationDetails>(gateway.url, 'POST', '/api/auth/invitation', { body }, 200);
      const wrongBirthday = await api(gateway.url, 'POST', '/api/auth/invitation', { body: { ...body, dateOfBirth: '1990-01-01' } });
      const wrongLookupId = await api(gateway.url, 'POST', '/api/auth/invitation', { body: { ...body, lookupId: toBase64(new Uint8Array(32).fill(1)) } });
      // The code itself never reaches the server, so sending it finds nothing (staff set-up codes only).
      const byCode = await api(gateway.url, 'POST', '/api/auth/invitation', { body: { practice: practice.odsCode, code: invitation.code } });

      expect(details).toMatchObject({
        userId: invitation.userId,
        kind: 'patient',
        practice: { odsCode: practice.odsCode, rootSignPublicKey: toBase64(practice.root.signPublicKey) },
      });
      expect(details.invitation).toEqual({
        invitationSignPublicKey: toBase64(invitation.invitationKeys.signPublicKey),
        invitationSignature: expect.any(String),
        rootSignature: expect.any(String),
        expiresAt: invitation.expiresAt,
        creator: {
          userId: practice.clinician.userId,
          deviceId: practice.clinician.deviceId,
          signPublicKey: toBase64(practice.clinician.device.signPublicKey),
          boxPublicKey: toBase64(practice.clinician.device.boxPublicKey),
          certificate: expect.any(String),
          certifiedAs: { displayName: 'Dr Alex Morgan', roles: ['clinician'] },
        },
      });
      expect(() =>
        verifyInvitation(
          {
            practiceId: practice.odsCode,
            patientId: invitation.userId,
            invitationSignPublicKey: invitation.invitationKeys.signPublicKey,
            expiresAt: details.invitation!.expiresAt,
          },
          fromBase64(details.invitation!.invitationSignature),
          practice.clinician.device.signPublicKey,
        ),
      ).not.toThrow();
      for (const refused of [wrongBirthday, wrongLookupId, byCode]) expect(refused).toMatchObject({ status: 401, body: { error: { code: 'unauthorized' } } });
      expect(new Set([wrongBirthday, wrongLookupId, byCode].map((refused) => JSON.stringify(refused.body))).size).toBe(1);
    });

    it('names a staff account by its set-up code, with no invitation chain', async () => {
      const email = `lookup.${randomUUID().slice(0, 6)}@test.parley`;
      const issued = await apiOk<CodeIssued>(
        gateway.url,
        'POST',
        '/api/staff',
        { token: practice.manager.token, body: { displayName: 'Jo Bennett', email, roles: ['clinician'] } },
        201,
      );

      const details = await apiOk<InvitationDetails>(
        gateway.url,
        'POST',
        '/api/auth/invitation',
        { body: { practice: practice.odsCode, code: issued.code } },
        200,
      );

      expect(details).toMatchObject({ userId: issued.userId, kind: 'staff', displayName: 'Jo Bennett', invitation: null });
      expect(Object.keys(issued).sort()).toEqual(['code', 'expiresAt', 'userId']);
    });
  });

  describe('POST /api/invitations', () => {
    it('refuses an invitation from a device no manager admitted, or with an expiry out of range, and a second one with the same lookup id', async () => {
      const email = `unadmitted.${randomUUID().slice(0, 6)}@test.parley`;
      const issued = await apiOk<CodeIssued>(
        gateway.url,
        'POST',
        '/api/staff',
        { token: practice.manager.token, body: { displayName: 'Dr New', email, roles: ['clinician'] } },
        201,
      );
      const unadmitted = await activateStaff(gateway.url, practice.odsCode, issued.code, { userId: issued.userId, email, roles: ['clinician'] });
      const existing = await invitePatient(gateway.url, practice.clinician, practice);
      const body = {
        userId: randomUUID(),
        displayName: 'Pat Doe',
        nhsNumber: '9990001234',
        dateOfBirth: '1970-01-01',
        lookupId: toBase64(new Uint8Array(32).fill(3)),
        invitationSignPublicKey: toBase64(new Uint8Array(32).fill(4)),
        invitationSignature: toBase64(new Uint8Array(64).fill(5)),
        rootSignature: toBase64(new Uint8Array(64).fill(6)),
        expiresAt: Date.now() + 24 * 3600 * 1000,
      };
      const before = await gateway.dataSource.query(`SELECT count(*)::int AS n FROM invitations`);

      const byUnadmitted = await api(gateway.url, 'POST', '/api/invitations', { token: unadmitted.token, body });
      const past = await api(gateway.url, 'POST', '/api/invitations', { token: practice.clinician.token, body: { ...body, expiresAt: Date.now() - 1000 } });
      const tooLate = await api(gateway.url, 'POST', '/api/invitations', {
        token: practice.clinician.token,
        body: { ...body, expiresAt: Date.now() + 32 * 24 * 3600 * 1000 },
      });
      const sameLookupId = await api(gateway.url, 'POST', '/api/invitations', {
        token: practice.clinician.token,
        body: { ...body, lookupId: toBase64(existing.lookupId) },
      });
      const sameUserId = await api(gateway.url, 'POST', '/api/invitations', { token: practice.clinician.token, body: { ...body, userId: existing.userId } });
      const after = await gateway.dataSource.query(`SELECT count(*)::int AS n FROM invitations`);
      const created = await api<InvitationCreated>(gateway.url, 'POST', '/api/invitations', { token: practice.clinician.token, body });
      const [row] = await gateway.dataSource.query(`SELECT code_hash, creator_device_id, expires_at FROM invitations WHERE user_id = $1`, [body.userId]);

      expect(byUnadmitted).toMatchObject({
        status: 403,
        body: { error: { code: 'forbidden', message: 'This device must be admitted by a manager before it can invite patients.' } },
      });
      expect(past).toMatchObject({ status: 400, body: { error: { code: 'invalid_payload' } } });
      expect(tooLate).toMatchObject({ status: 400, body: { error: { code: 'invalid_payload' } } });
      expect(sameLookupId).toMatchObject({ status: 409, body: { error: { code: 'conflict' } } });
      expect(sameUserId).toMatchObject({ status: 409, body: { error: { code: 'conflict' } } });
      expect(after).toEqual(before);
      expect(created).toEqual({ status: 201, body: { userId: body.userId, expiresAt: new Date(body.expiresAt).toISOString() } });
      expect(row).toEqual({ code_hash: null, creator_device_id: practice.clinician.deviceId, expires_at: new Date(body.expiresAt) });
    });
  });

  describe('a patient journey', () => {
    it('goes from invitation to a second device that restores the account key from the backup', async () => {
      const invitation = await invitePatient(gateway.url, practice.clinician, practice);
      const first = await patientActivation(practice.odsCode, invitation, 'a long passphrase nobody guesses');

      const activated = await apiOk<SessionInfo>(gateway.url, 'POST', '/api/auth/activate', { body: first.body }, 200);
      const second = await signIn(gateway.url, { practice: practice.odsCode, login: invitation.nhsNumber, passphrase: 'a long passphrase nobody guesses' });
      const backup = await apiOk<KeyBackup>(gateway.url, 'GET', '/api/keys/backup', { token: second.token });
      const blob = fromBase64(backup.backup);
      const header = readBackupHeader(blob);
      const keys = deriveAccountKeys('a long passphrase nobody guesses', header.salt, { ...header.params, isTestOnly: true });
      const restored = openBackup({ blob, userId: invitation.userId, passphraseKeys: keys });
      const certificate = certifyDevice(
        {
          userId: invitation.userId,
          deviceId: second.session.deviceId,
          signPublicKey: second.device!.signPublicKey,
          boxPublicKey: second.device!.boxPublicKey,
        },
        restored.accountKeys.signSecretKey,
      );
      const certified = await api(gateway.url, 'PUT', `/api/devices/${second.session.deviceId}/certificate`, {
        token: second.token,
        body: { certificate: toBase64(certificate.signature) },
      });
      const devices = await apiOk<{ id: string; certificate: string | null }[]>(gateway.url, 'GET', '/api/devices', { token: second.token });

      expect(activated).toMatchObject({
        deviceId: first.body.account!.deviceId,
        user: { id: invitation.userId, roles: ['patient'], displayName: invitation.displayName },
        practice: { id: practice.id, odsCode: practice.odsCode, name: practice.name, rootSignPublicKey: toBase64(practice.root.signPublicKey) },
      });
      expect(activated.token).toMatch(/^[A-Za-z0-9_-]{43}$/);
      expect(second.session.deviceId).not.toBe(activated.deviceId);
      expect(backup.kdf).toEqual(first.body.kdf);
      expect(restored.accountKeys.signPublicKey).toEqual(first.account.signPublicKey);
      expect(restored.accountKeys.boxPublicKey).toEqual(first.account.boxPublicKey);
      expect(restored.pinnedRoot).toEqual(practice.root.signPublicKey);
      expect(certified.status).toBe(204);
      expect(devices.map((device) => [device.id, device.certificate !== null])).toEqual([
        [activated.deviceId, true],
        [second.session.deviceId, true],
      ]);
    });

    it('stores only a hash of the auth key and of the token', async () => {
      const patient = await activatePatient(gateway.url, practice);

      const dump = JSON.stringify(
        await gateway.dataSource.query(`SELECT u.*, s.* FROM users u JOIN sessions s ON s.user_id = u.id WHERE u.id = $1`, [patient.userId]),
      );

      expect(dump).toContain('$argon2id$');
      expect(dump).not.toContain(toBase64(patient.passphraseKeys.authKey));
      expect(dump).not.toContain(patient.token);
    });
  });

  describe('POST /api/auth/prelogin', () => {
    it('answers an activated account with the salt and cost it derived its key with', async () => {
      const patient = await activatePatient(gateway.url, practice);

      const kdf = await apiOk<KdfParams>(gateway.url, 'POST', '/api/auth/prelogin', { body: { practice: practice.odsCode, login: patient.nhsNumber } }, 200);

      expect(kdf).toEqual({
        salt: toBase64(patient.passphraseKeys.salt),
        opsLimit: patient.passphraseKeys.params.opsLimit,
        memLimitBytes: patient.passphraseKeys.params.memLimit,
      });
    });

    it('answers an unknown login with a decoy that is stable and shaped like a real answer', async () => {
      const ask = (login: string, ods = practice.odsCode) => api<KdfParams>(gateway.url, 'POST', '/api/auth/prelogin', { body: { practice: ods, login } });

      const first = await ask('nobody@test.parley');
      const again = await ask('NOBODY@test.parley');
      const other = await ask('someone.else@test.parley');
      const otherPractice = await ask('nobody@test.parley', 'ZZZ999');
      const invitedNotActivated = await ask((await invitePatient(gateway.url, practice.clinician, practice)).nhsNumber);

      expect(first.status).toBe(200);
      expect(Object.keys(first.body).sort()).toEqual(['memLimitBytes', 'opsLimit', 'salt']);
      expect(fromBase64(first.body.salt)).toHaveLength(16);
      expect(first.body).toMatchObject({ opsLimit: 3, memLimitBytes: 64 * 1024 * 1024 });
      expect(again.body).toEqual(first.body);
      expect(other.body.salt).not.toBe(first.body.salt);
      expect(otherPractice.body.salt).not.toBe(first.body.salt);
      expect(invitedNotActivated.status).toBe(200);
    });
  });

  describe('POST /api/auth/activate', () => {
    it('activates a member of staff with a set-up code, without date of birth or account keys', async () => {
      const email = `nurse.${randomUUID().slice(0, 6)}@test.parley`;
      const issued = await apiOk<{ userId: string; code: string }>(
        gateway.url,
        'POST',
        '/api/staff',
        { token: practice.manager.token, body: { displayName: 'Jo Bennett', email, roles: ['clinician'] } },
        201,
      );
      const keys = deriveAccountKeys(TEST_PASSPHRASE, newSalt(), TEST_KDF_PARAMS);
      const device = generateDeviceKeys();

      const response = await api<SessionInfo>(gateway.url, 'POST', '/api/auth/activate', {
        body: {
          practice: practice.odsCode,
          code: issued.code.toLowerCase(),
          authKey: toBase64(keys.authKey),
          kdf: kdfOf(keys),
          device: { label: 'Nurse room PC', keys: { signPublicKey: toBase64(device.signPublicKey), boxPublicKey: toBase64(device.boxPublicKey) } },
        },
      });
      const signedIn = await signIn(gateway.url, { practice: practice.odsCode, login: email.toUpperCase(), deviceId: response.body.deviceId });

      expect(response.status).toBe(200);
      expect(response.body.user).toEqual({ id: issued.userId, roles: ['clinician'], displayName: 'Jo Bennett' });
      expect(signedIn.session.deviceId).toBe(response.body.deviceId);
    });

    it('refuses a wrong lookup id, a wrong date of birth, another patient id, an account key the invitation key did not sign, an expired or a used invitation alike, storing nothing', async () => {
      const invitation = await invitePatient(gateway.url, practice.clinician, practice);
      const { body } = await patientActivation(practice.odsCode, invitation);
      const expired = await invitePatient(gateway.url, practice.clinician, practice);
      const expiredBody = (await patientActivation(practice.odsCode, expired)).body;
      await gateway.dataSource.query(
        `UPDATE invitations SET created_at = now() - interval '2 days', expires_at = now() - interval '1 day' WHERE user_id = $1`,
        [expired.userId],
      );
      const before = await accountRows(gateway);

      const attempts = await Promise.all([
        api(gateway.url, 'POST', '/api/auth/activate', { body: { ...body, lookupId: toBase64(new Uint8Array(32).fill(2)) } }),
        api(gateway.url, 'POST', '/api/auth/activate', { body: { ...body, dateOfBirth: '1984-05-18' } }),
        api(gateway.url, 'POST', '/api/auth/activate', { body: { ...body, account: { ...body.account!, userId: randomUUID() } } }),
        api(gateway.url, 'POST', '/api/auth/activate', {
          body: { ...body, account: { ...body.account!, accountSignature: flipped(body.account!.accountSignature) } },
        }),
        api(gateway.url, 'POST', '/api/auth/activate', {
          body: { ...body, account: { ...body.account!, keys: { ...body.account!.keys, boxPublicKey: toBase64(new Uint8Array(32).fill(7)) } } },
        }),
        api(gateway.url, 'POST', '/api/auth/activate', { body: { ...body, practice: 'ZZZ999' } }),
        api(gateway.url, 'POST', '/api/auth/activate', { body: expiredBody }),
      ]);
      const after = await accountRows(gateway);
      const first = await api(gateway.url, 'POST', '/api/auth/activate', { body });
      const reused = await api(gateway.url, 'POST', '/api/auth/activate', { body: { ...body, account: { ...body.account!, deviceId: randomUUID() } } });

      expect(attempts.map((attempt) => attempt.status)).toEqual([401, 401, 401, 401, 401, 401, 401]);
      expect(attempts[0]!.body).toMatchObject({ error: { code: 'unauthorized' } });
      expect(new Set(attempts.map((attempt) => JSON.stringify(attempt.body))).size).toBe(1);
      expect(after).toEqual(before);
      expect(first.status).toBe(200);
      expect(reused.status).toBe(401);
    });

    it('lets only one of two concurrent activations with the same code through', async () => {
      const invitation = await invitePatient(gateway.url, practice.clinician, practice);
      const one = (await patientActivation(practice.odsCode, invitation)).body;
      const two = (await patientActivation(practice.odsCode, invitation)).body;

      const results = await Promise.all([
        api(gateway.url, 'POST', '/api/auth/activate', { body: one }),
        api(gateway.url, 'POST', '/api/auth/activate', { body: two }),
      ]);
      const [devices] = await gateway.dataSource.query(`SELECT count(*)::int AS n FROM devices WHERE user_id = $1`, [invitation.userId]);

      expect(results.map((result) => result.status).sort()).toEqual([200, 401]);
      expect(devices.n).toBe(1);
    });

    it('refuses a patient without account keys, and both a code and a lookup id, as invalid_payload', async () => {
      const invitation = await invitePatient(gateway.url, practice.clinician, practice);
      const { body } = await patientActivation(practice.odsCode, invitation);
      const { account: _account, ...withoutAccount } = body;
      const before = await accountRows(gateway);

      const responses = [
        await api(gateway.url, 'POST', '/api/auth/activate', { body: withoutAccount }),
        await api(gateway.url, 'POST', '/api/auth/activate', { body: { ...body, code: invitation.code } }),
      ];

      for (const response of responses) expect(response).toMatchObject({ status: 400, body: { error: { code: 'invalid_payload' } } });
      expect(await accountRows(gateway)).toEqual(before);
    });

    it('keeps the account signature and the invitation with the account key', async () => {
      const patient = await activatePatient(gateway.url, practice);

      const [row] = await gateway.dataSource.query(
        `SELECT k.account_signature, i.user_id AS invited FROM account_keys k JOIN invitations i ON i.id = k.invitation_id WHERE k.user_id = $1`,
        [patient.userId],
      );

      expect(row.invited).toBe(patient.userId);
      expect(() =>
        verifyAccountKeySignature(
          { practiceId: practice.odsCode, patientId: patient.userId, signPublicKey: patient.account.signPublicKey, boxPublicKey: patient.account.boxPublicKey },
          new Uint8Array(row.account_signature),
          patient.invitation.invitationKeys.signPublicKey,
        ),
      ).not.toThrow();
    });
  });

  describe('POST /api/auth/sign-in', () => {
    it('signs in on a known device and on a new one', async () => {
      const patient = await activatePatient(gateway.url, practice);

      const known = await signIn(gateway.url, { practice: practice.odsCode, login: patient.nhsNumber, deviceId: patient.deviceId });
      const fresh = await signIn(gateway.url, { practice: practice.odsCode, login: patient.nhsNumber });

      expect(known.session.deviceId).toBe(patient.deviceId);
      expect(known.token).not.toBe(patient.token);
      expect(fresh.session.deviceId).not.toBe(patient.deviceId);
      expect(new Date(fresh.session.expiresAt).getTime() - Date.now()).toBeGreaterThan(11.9 * 3600 * 1000);
    });

    it('refuses a wrong key and an unknown login with the same answer', async () => {
      const patient = await activatePatient(gateway.url, practice);
      const wrongKeys = await derivedKeysFor(gateway.url, practice.odsCode, patient.nhsNumber, 'not the passphrase at all');
      const device = { label: 'x', keys: { signPublicKey: toBase64(new Uint8Array(32)), boxPublicKey: toBase64(new Uint8Array(32)) } };
      const before = await accountRows(gateway);

      const wrongKey = await api(gateway.url, 'POST', '/api/auth/sign-in', {
        body: { practice: practice.odsCode, login: patient.nhsNumber, authKey: toBase64(wrongKeys.authKey), device },
      });
      const unknown = await api(gateway.url, 'POST', '/api/auth/sign-in', {
        body: { practice: practice.odsCode, login: '1234567890', authKey: toBase64(wrongKeys.authKey), device },
      });

      expect(wrongKey.status).toBe(401);
      expect(unknown).toEqual(wrongKey);
      expect(await accountRows(gateway)).toEqual(before);
    });

    it("refuses another user's device and a revoked device", async () => {
      const patient = await activatePatient(gateway.url, practice);
      const other = await activatePatient(gateway.url, practice);
      const keys = await derivedKeysFor(gateway.url, practice.odsCode, patient.nhsNumber, TEST_PASSPHRASE);
      const signInOn = (deviceId: string) =>
        api(gateway.url, 'POST', '/api/auth/sign-in', {
          body: { practice: practice.odsCode, login: patient.nhsNumber, authKey: toBase64(keys.authKey), device: { deviceId } },
        });

      const othersDevice = await signInOn(other.deviceId);
      await apiOk(gateway.url, 'POST', `/api/devices/${patient.deviceId}/revoke`, { token: patient.token });
      const revokedDevice = await signInOn(patient.deviceId);

      expect(othersDevice.status).toBe(401);
      expect(revokedDevice.status).toBe(401);
    });
  });

  describe('POST /api/auth/sign-out and sign-out-everywhere', () => {
    it('ends this session only, or every session of the user', async () => {
      const patient = await activatePatient(gateway.url, practice);
      const second = await signIn(gateway.url, { practice: practice.odsCode, login: patient.nhsNumber });
      const third = await signIn(gateway.url, { practice: practice.odsCode, login: patient.nhsNumber });
      const devicesWith = (token: string) => api(gateway.url, 'GET', '/api/devices', { token });

      const signOut = await api(gateway.url, 'POST', '/api/auth/sign-out', { token: patient.token });
      const afterSignOut = [(await devicesWith(patient.token)).status, (await devicesWith(second.token)).status];
      const everywhere = await api(gateway.url, 'POST', '/api/auth/sign-out-everywhere', { token: second.token });
      const afterEverywhere = [(await devicesWith(second.token)).status, (await devicesWith(third.token)).status];

      expect(signOut.status).toBe(204);
      expect(afterSignOut).toEqual([401, 200]);
      expect(everywhere.status).toBe(204);
      expect(afterEverywhere).toEqual([401, 401]);
    });

    it('asks the browser to clear its cache on every sign-out, and never its storage (the apps wipe their own; staff device keys stay)', async () => {
      const patient = await activatePatient(gateway.url, practice);
      const second = await signIn(gateway.url, { practice: practice.odsCode, login: patient.nhsNumber });
      const staff = await signIn(gateway.url, { practice: practice.odsCode, login: practice.clinician.email });
      const post = (path: string, token: string) => fetch(`${gateway.url}${path}`, { method: 'POST', headers: { authorization: `Bearer ${token}` } });

      const patientSignOut = await post('/api/auth/sign-out', patient.token);
      const patientEverywhere = await post('/api/auth/sign-out-everywhere', second.token);
      const staffSignOut = await post('/api/auth/sign-out', staff.token);
      const refused = await post('/api/auth/sign-out', staff.token);

      expect(patientSignOut.headers.get('clear-site-data')).toBe('"cache"');
      expect(patientEverywhere.headers.get('clear-site-data')).toBe('"cache"');
      expect(staffSignOut.status).toBe(204);
      expect(staffSignOut.headers.get('clear-site-data')).toBe('"cache"');
      // Nothing to clear for someone not signed in: a stranger's request must not wipe anything.
      expect(refused.status).toBe(401);
      expect(refused.headers.get('clear-site-data')).toBeNull();
    });
  });

  describe('bodies', () => {
    it('refuses malformed, oversized and unknown-field bodies as invalid_payload, storing nothing', async () => {
      const invitation = await invitePatient(gateway.url, practice.clinician, practice);
      const { body } = await patientActivation(practice.odsCode, invitation);
      const before = await accountRows(gateway);

      const responses = [
        await api(gateway.url, 'POST', '/api/auth/activate', { rawBody: '{"practice": "Y0' }),
        await api(gateway.url, 'POST', '/api/auth/activate', { body: { ...body, device: { ...body.device, label: 'x'.repeat(70_000) } } }),
        await api(gateway.url, 'POST', '/api/auth/activate', { body: { ...body, isAdmin: true } }),
        await api(gateway.url, 'POST', '/api/auth/activate', { body: { ...body, account: { ...body.account!, backup: toBase64(new Uint8Array(176)) } } }),
        await api(gateway.url, 'POST', '/api/auth/activate', { body: { ...body, kdf: { ...body.kdf, opsLimit: 0 } } }),
        await api(gateway.url, 'POST', '/api/auth/sign-in', { rawBody: 'practice=Y00001', headers: { 'content-type': 'application/x-www-form-urlencoded' } }),
        await api(gateway.url, 'POST', '/api/auth/prelogin', { body: [] }),
      ];

      for (const response of responses) expect(response).toMatchObject({ status: 400, body: { error: { code: 'invalid_payload' } } });
      expect(await accountRows(gateway)).toEqual(before);
    });
  });
});

describe('sign-in rate limits (in-process gateway with low limits)', () => {
  let gateway: TestApp;
  let practice: TestPractice;

  beforeAll(async () => {
    await ready();
    gateway = await startTestApp({ SIGN_IN_MAX_FAILURES_PER_ACCOUNT: '3', SIGN_IN_MAX_FAILURES_PER_IP: '8' });
    practice = await createPracticeWithStaff(gateway);
  });

  afterAll(async () => {
    await gateway.close();
  });

  const wrongSignIn = (login: string) => ({
    practice: practice.odsCode,
    login,
    authKey: toBase64(new Uint8Array(32).fill(9)),
    device: { label: 'x', keys: { signPublicKey: toBase64(new Uint8Array(32)), boxPublicKey: toBase64(new Uint8Array(32)) } },
  });

  beforeEach(async () => {
    await gateway.dataSource.query(`DELETE FROM auth_attempts`);
  });

  // The delays are proven without waiting them out: the account's failures are moved back in time instead.
  const age = (seconds: number) =>
    gateway.dataSource.query(`UPDATE auth_attempts SET created_at = created_at - make_interval(secs => $1) WHERE scope = 'account'`, [seconds]);

  it('makes an account wait a growing delay after its free failures, whoever it is, and lets the right key in once it has passed', async () => {
    const patient = await activatePatient(gateway.url, practice);
    const bystander = await activatePatient(gateway.url, practice);
    const rightKey = { ...wrongSignIn(patient.nhsNumber), authKey: toBase64(patient.passphraseKeys.authKey) };

    const free = [];
    for (let i = 0; i < 3; i += 1) free.push((await api(gateway.url, 'POST', '/api/auth/sign-in', { body: wrongSignIn(patient.nhsNumber) })).status);
    const rightKeyDuringDelay = await api(gateway.url, 'POST', '/api/auth/sign-in', { body: rightKey });
    await age(1);
    const afterFirstDelay = await api(gateway.url, 'POST', '/api/auth/sign-in', { body: wrongSignIn(patient.nhsNumber) });
    const doubled = await api(gateway.url, 'POST', '/api/auth/sign-in', { body: rightKey });
    const bystanderSignIn = await api(gateway.url, 'POST', '/api/auth/sign-in', {
      body: { ...wrongSignIn(bystander.nhsNumber), authKey: toBase64(bystander.passphraseKeys.authKey) },
    });
    await age(2);
    const rightKeyAfterDelay = await api(gateway.url, 'POST', '/api/auth/sign-in', { body: rightKey });

    expect(free).toEqual([401, 401, 401]);
    expect(rightKeyDuringDelay).toMatchObject({ status: 429, body: { error: { code: 'rate_limited', details: { retryAfterSeconds: 1 } } } });
    expect(afterFirstDelay.status).toBe(401);
    expect(doubled).toMatchObject({ status: 429, body: { error: { code: 'rate_limited', details: { retryAfterSeconds: 2 } } } });
    expect(bystanderSignIn.status).toBe(200);
    expect(rightKeyAfterDelay.status).toBe(200);
  });

  it('delays an unknown login the same way, so the delays do not reveal which logins exist, and never past the cap', async () => {
    const statuses = [];
    for (let i = 0; i < 4; i += 1) statuses.push((await api(gateway.url, 'POST', '/api/auth/sign-in', { body: wrongSignIn('0000000001') })).status);
    await gateway.dataSource.query(
      `INSERT INTO auth_attempts (scope, subject, created_at) SELECT scope, subject, created_at FROM auth_attempts, generate_series(1, 40) WHERE scope = 'account'`,
    );
    const longAttack = await api(gateway.url, 'POST', '/api/auth/sign-in', { body: wrongSignIn('0000000001') });

    expect(statuses).toEqual([401, 401, 401, 429]);
    expect(longAttack).toMatchObject({ status: 429, body: { error: { code: 'rate_limited', details: { retryAfterSeconds: expect.any(Number) } } } });
    expect((longAttack.body as { error: { details: { retryAfterSeconds: number } } }).error.details.retryAfterSeconds).toBeLessThanOrEqual(15 * 60);
    expect((longAttack.body as { error: { details: { retryAfterSeconds: number } } }).error.details.retryAfterSeconds).toBeGreaterThan(14 * 60);
  });

  it('limits one IP address across accounts, and not another address', async () => {
    const fromFirst = [];
    for (let i = 0; i < 9; i += 1) fromFirst.push((await api(gateway.url, 'POST', '/api/auth/sign-in', { body: wrongSignIn(`000000010${i}`) })).status);
    const fromSecond = await postFrom('127.0.0.2', gateway.url, '/api/auth/sign-in', wrongSignIn('0000000200'));

    const refusal = await api<{ error: { details: { retryAfterSeconds: number } } }>(gateway.url, 'POST', '/api/auth/sign-in', {
      body: wrongSignIn('0000000110'),
    });

    expect(fromFirst).toEqual([401, 401, 401, 401, 401, 401, 401, 401, 429]);
    // The window (15 minutes) moves past the first failure, a moment ago.
    expect(refusal.body.error.details.retryAfterSeconds).toBeGreaterThan(14 * 60);
    expect(refusal.body.error.details.retryAfterSeconds).toBeLessThanOrEqual(15 * 60);
    expect(fromSecond.status).toBe(401);
  });

  it('lets a burst of parallel guesses through no further than the limit', async () => {
    const statuses = await Promise.all(Array.from({ length: 10 }, () => api(gateway.url, 'POST', '/api/auth/sign-in', { body: wrongSignIn('0000000300') })));

    const tried = statuses.filter((response) => response.status === 401).length;

    // Racing attempts may refuse each other early; what must hold is that no more than the limit are tried.
    expect(tried).toBeLessThanOrEqual(3);
    expect(statuses.filter((response) => response.status === 429)).toHaveLength(10 - tried);
  });

  it('counts wrong activation attempts against the invitation', async () => {
    const invitation = await invitePatient(gateway.url, practice.clinician, practice);
    const { body } = await patientActivation(practice.odsCode, invitation);

    const wrongBirthdays = [];
    for (let day = 10; day < 14; day += 1)
      wrongBirthdays.push((await api(gateway.url, 'POST', '/api/auth/activate', { body: { ...body, dateOfBirth: `1984-05-${day}` } })).status);
    const right = await api(gateway.url, 'POST', '/api/auth/activate', { body });

    expect(wrongBirthdays).toEqual([401, 401, 401, 429]);
    expect(right.status).toBe(429);
  });

  it('limits key backup downloads per user', async () => {
    const patient = await activatePatient(gateway.url, practice);

    const statuses = [];
    for (let i = 0; i < 11; i += 1) statuses.push((await api(gateway.url, 'GET', '/api/keys/backup', { token: patient.token })).status);

    expect(statuses.slice(0, 10)).toEqual(Array(10).fill(200));
    expect(statuses[10]).toBe(429);
  });
});
