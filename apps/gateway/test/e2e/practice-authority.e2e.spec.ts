import { randomUUID } from 'node:crypto';
import { certifyAdminKey, certifyStaffDevice, generatePracticeRootKey, ready, signRootSuccessor, toBase64, type SigningKeys } from '@parley/crypto';
import type { PracticeKeys, StaffMember } from '@parley/protocol';
import {
  addPracticeAdminKey,
  admitStaffDevice,
  currentRecordKey,
  openRecordKeys,
  practiceAuthority,
  publishRevocations,
  RevocationState,
  rotatePracticeRoot,
  rotateRecordKey,
  verifiedStaff,
  type PracticeAdminKey,
} from '@parley/sdk';
import { HttpApi } from '@parley/client';
import { startTestApp, type TestApp } from '../app.js';
import { follow, patientChat, staffChat, waitForAssignment } from '../chat.js';
import { activatePatient, activateStaff, api, apiOk, createPracticeWithStaff, insertDevice, type TestPractice, type TestStaff } from '../factories.js';
import { waitUntil } from '../wait.js';

/**
 * The practice's signing authority end to end (issue #17): an admin key certified by the root signs everyday
 * statements, and the root is replaced through a successor statement the old root signs. Real sdk, real
 * gateway, real PostgreSQL. The server-as-attacker half is test/adversarial/authority.adversarial.e2e.spec.ts.
 */
describe('practice authority: admin keys and root rotation (in-process gateway, real PostgreSQL)', () => {
  let gateway: TestApp;
  let practice: TestPractice;
  let admin: PracticeAdminKey;

  const keysAs = (token: string) => apiOk<PracticeKeys>(gateway.url, 'GET', '/api/practice/keys', { token });
  const managerDevice = () => ({ deviceId: practice.manager.deviceId, keys: practice.manager.device });
  const authorityRows = async () =>
    gateway.dataSource.query(
      `SELECT (SELECT count(*) FROM admin_keys)::int AS admin_keys, (SELECT count(*) FROM root_successors)::int AS successors,
              (SELECT count(*) FROM record_key_certifications)::int AS certifications`,
    );
  const adminKeyBody = (certifiedBy: SigningKeys, key = generatePracticeRootKey(), adminKeyId = randomUUID()) => {
    const issuedAt = Date.now();
    const certificate = certifyAdminKey({ practiceId: practice.odsCode, adminKeyId, signPublicKey: key.signPublicKey, issuedAt }, certifiedBy.signSecretKey);
    return { adminKeyId, signPublicKey: toBase64(key.signPublicKey), issuedAt, certificate: toBase64(certificate) };
  };

  /** A new clinician with a set-up code, activated but not admitted yet. */
  const newClinician = async (displayName: string): Promise<TestStaff> => {
    const email = `clinician.${randomUUID().slice(0, 8)}@test.parley`;
    const issued = await apiOk<{ userId: string; code: string }>(
      gateway.url,
      'POST',
      '/api/staff',
      { token: practice.manager.token, body: { displayName, email, roles: ['clinician'] } },
      201,
    );
    return { ...(await activateStaff(gateway.url, practice.odsCode, issued.code, { userId: issued.userId, email, roles: ['clinician'] })), displayName };
  };

  /** Admits a clinician's device as a manager's client does every day: certified and granted with the admin key. */
  const admitWithAdminKey = (member: TestStaff, displayName: string) =>
    admitStaffDevice({
      baseUrl: gateway.url,
      token: practice.manager.token,
      secrets: { odsCode: practice.odsCode, admin, recordKeys: [practice.recordKey] },
      granter: managerDevice(),
      device: {
        userId: member.userId,
        deviceId: member.deviceId,
        signPublicKey: member.device.signPublicKey,
        boxPublicKey: member.device.boxPublicKey,
        certifiedAs: { displayName, roles: ['clinician'] },
      },
    });

  const certifiedDevice = async (member: TestStaff) => {
    const staff = await apiOk<StaffMember[]>(gateway.url, 'GET', '/api/staff', { token: practice.manager.token });
    const device = staff.find((candidate) => candidate.userId === member.userId)!.devices.find((candidate) => candidate.id === member.deviceId)!;
    return { ...device, userId: member.userId, deviceId: device.id };
  };

  beforeAll(async () => {
    await ready();
    gateway = await startTestApp();
    practice = await createPracticeWithStaff(gateway, { name: 'Riverside Surgery' });
  });

  afterAll(async () => {
    await gateway.close();
  });

  describe('POST /api/practice/admin-keys', () => {
    it('stores an admin key the current root certified, and lists it to every member with its certificate', async () => {
      admin = await addPracticeAdminKey({ baseUrl: gateway.url, token: practice.manager.token, odsCode: practice.odsCode, root: practice.root });

      const keys = await keysAs(practice.clinician.token);

      expect(keys.adminKeys).toEqual([
        { adminKeyId: admin.adminKeyId, signPublicKey: toBase64(admin.keys.signPublicKey), issuedAt: expect.any(Number), certificate: expect.any(String) },
      ]);
      expect(practiceAuthority(keys, practice.odsCode, practice.root.signPublicKey).adminKeys.map((key) => key.adminKeyId)).toEqual([admin.adminKeyId]);
    });

    it('refuses an admin key the root never certified (conflict) and stores nothing', async () => {
      const before = await authorityRows();
      const selfCertified = generatePracticeRootKey();

      const refused = await api(gateway.url, 'POST', '/api/practice/admin-keys', {
        token: practice.manager.token,
        body: adminKeyBody(selfCertified, selfCertified),
      });

      expect(refused).toMatchObject({ status: 409, body: { error: { code: 'conflict' } } });
      expect(await authorityRows()).toEqual(before);
    });

    it('refuses a clinician (forbidden) and a malformed body (invalid_payload)', async () => {
      const asClinician = await api(gateway.url, 'POST', '/api/practice/admin-keys', { token: practice.clinician.token, body: adminKeyBody(practice.root) });
      const malformed = await api(gateway.url, 'POST', '/api/practice/admin-keys', {
        token: practice.manager.token,
        body: { ...adminKeyBody(practice.root), adminKeyId: 'admin-1' },
      });

      expect(asClinician).toMatchObject({ status: 403, body: { error: { code: 'forbidden' } } });
      expect(malformed).toMatchObject({ status: 400, body: { error: { code: 'invalid_payload' } } });
    });
  });

  describe('everyday signing with the admin key', () => {
    it('admits a device with an admin key certificate, which colleagues trust through the root and the root alone does not vouch for', async () => {
      const newcomer = await newClinician('Dr Priya Shah');

      await admitWithAdminKey(newcomer, 'Dr Priya Shah');

      const authority = practiceAuthority(await keysAs(practice.clinician.token), practice.odsCode, practice.root.signPublicKey);
      const device = await certifiedDevice(newcomer);
      expect(verifiedStaff(device, practice.odsCode, authority)).toEqual({ displayName: 'Dr Priya Shah', roles: ['clinician'] });
      expect(verifiedStaff(device, practice.odsCode, practice.root.signPublicKey)).toBeNull();
      const opened = await openRecordKeys({
        baseUrl: gateway.url,
        token: newcomer.token,
        odsCode: practice.odsCode,
        device: { deviceId: newcomer.deviceId, keys: newcomer.device },
        pinnedRoot: practice.root.signPublicKey,
      });
      expect([...opened.keys()]).toEqual([1]);
    });

    it('lets a patient, holding only the root it pinned, read a clinician the admin key admitted, under the certified name', async () => {
      const newcomer = await newClinician('Dr Omar Reid');
      await admitWithAdminKey(newcomer, 'Dr Omar Reid');
      const clinician = await staffChat(gateway.url, practice, newcomer);
      const patient = await patientChat(gateway.url, practice, await activatePatient(gateway.url, practice), 10_000);
      try {
        const { id } = await patient.session.openConversation('admin');
        await follow(patient, id);
        await follow(clinician, id);
        await waitForAssignment(clinician);
        await clinician.session.conversation(id).send('Hello, this is Dr Reid.');

        await waitUntil(() => patient.bodies().includes('Hello, this is Dr Reid.'), 'the patient to read the reply', 20_000);
        const reply = patient.entries.find((entry) => entry.ok && entry.value.kind === 'message' && entry.value.body === 'Hello, this is Dr Reid.');
        expect(reply).toMatchObject({ ok: true, value: { senderName: 'Dr Omar Reid', senderRole: 'clinician' } });
        expect(patient.entries.filter((entry) => !entry.ok)).toEqual([]);
      } finally {
        await clinician.session.close();
        await patient.session.close();
      }
    });

    it('rotates the record key with the admin key: staff open the new version and it is the current one for clients holding only the pinned root', async () => {
      const keys = await keysAs(practice.manager.token);

      const rotation = await rotateRecordKey({
        baseUrl: gateway.url,
        token: practice.manager.token,
        odsCode: practice.odsCode,
        signer: admin.keys,
        anchor: practiceAuthority(keys, practice.odsCode, practice.root.signPublicKey),
        granter: managerDevice(),
      });

      expect(rotation.recordKey.version).toBe(2);
      expect(rotation.skipped).toEqual([]);
      const opened = await openRecordKeys({
        baseUrl: gateway.url,
        token: practice.clinician.token,
        odsCode: practice.odsCode,
        device: { deviceId: practice.clinician.deviceId, keys: practice.clinician.device },
        pinnedRoot: practice.root.signPublicKey,
      });
      expect([...opened.keys()]).toEqual([1, 2]);
      expect(currentRecordKey(await keysAs(practice.clinician.token), practice.odsCode, practice.root.signPublicKey)?.version).toBe(2);
    });
  });

  describe('root rotation', () => {
    let next: SigningKeys;

    it('refuses a successor statement the current root did not sign, or naming another previous root, and stores nothing', async () => {
      const before = await authorityRows();
      const stranger = generatePracticeRootKey();
      const fields = {
        practiceId: practice.odsCode,
        previousSignPublicKey: stranger.signPublicKey,
        signPublicKey: generatePracticeRootKey().signPublicKey,
        issuedAt: Date.now(),
      };
      const notCurrent = {
        previousSignPublicKey: toBase64(fields.previousSignPublicKey),
        signPublicKey: toBase64(fields.signPublicKey),
        issuedAt: fields.issuedAt,
        signature: toBase64(signRootSuccessor(fields, stranger.signSecretKey)),
      };
      const forged = { ...notCurrent, previousSignPublicKey: toBase64(practice.root.signPublicKey) };

      for (const body of [notCurrent, forged]) {
        expect(await api(gateway.url, 'POST', '/api/practice/root-successors', { token: practice.manager.token, body })).toMatchObject({
          status: 409,
          body: { error: { code: 'conflict' } },
        });
      }
      expect(await authorityRows()).toEqual(before);
    });

    it('replaces the root through the old root’s signature, and certifies the admin key, record keys and staff devices again under the new one', async () => {
      // A revocation list the retiring authority signed: the ceremony must carry it over, or clients would refuse it.
      const lost = await insertDevice(gateway.dataSource, practice.clinician.userId);
      await gateway.dataSource.query(`UPDATE devices SET revoked_at = now() WHERE id = $1`, [lost]);
      const before = new RevocationState({
        api: new HttpApi({ baseUrl: gateway.url, token: practice.manager.token }),
        practiceOdsCode: practice.odsCode,
        pinnedRoot: practice.root.signPublicKey,
      });
      await publishRevocations({
        api: new HttpApi({ baseUrl: gateway.url, token: practice.manager.token }),
        state: before,
        practiceOdsCode: practice.odsCode,
        add: [{ deviceId: lost, revokedAt: Date.now() }],
        signerSignPublicKey: admin.keys.signPublicKey,
        signerSignSecretKey: admin.keys.signSecretKey,
      });

      const rotation = await rotatePracticeRoot({
        baseUrl: gateway.url,
        token: practice.manager.token,
        odsCode: practice.odsCode,
        root: practice.root,
        pinnedRoot: practice.root.signPublicKey,
      });
      next = rotation.root;

      expect(rotation.recertifiedVersions).toEqual([1, 2]);
      expect(rotation.skipped).toEqual([]);
      const keys = await keysAs(practice.clinician.token);
      expect(keys.rootSignPublicKey).toBe(toBase64(next.signPublicKey));
      expect(keys.rootChain).toHaveLength(1);
      // Admin keys certified by the retired root are no longer served.
      expect(keys.adminKeys.map((key) => key.adminKeyId)).toEqual([rotation.admin.adminKeyId]);
      const authority = practiceAuthority(keys, practice.odsCode, practice.root.signPublicKey);
      expect(authority.root).toEqual(next.signPublicKey);
      expect(authority.retiredRoots).toEqual([practice.root.signPublicKey]);
      expect(verifiedStaff(await certifiedDevice(practice.clinician), practice.odsCode, authority)).toEqual({
        displayName: 'Dr Alex Morgan',
        roles: ['clinician'],
      });
      // A client that pinned the old root still opens every version and finds the same current one, through the chain.
      const opened = await openRecordKeys({
        baseUrl: gateway.url,
        token: practice.clinician.token,
        odsCode: practice.odsCode,
        device: { deviceId: practice.clinician.deviceId, keys: practice.clinician.device },
        pinnedRoot: practice.root.signPublicKey,
      });
      expect([...opened.keys()]).toEqual([1, 2]);
      expect(currentRecordKey(keys, practice.odsCode, practice.root.signPublicKey)?.version).toBe(2);
      // A client that pinned the old root reads the list again, now signed under the new root, with the same device in it.
      const after = new RevocationState({
        api: new HttpApi({ baseUrl: gateway.url, token: practice.clinician.token }),
        practiceOdsCode: practice.odsCode,
        pinnedRoot: practice.root.signPublicKey,
      });
      expect((await after.refresh())?.version).toBe(2);
      expect(after.isRevoked(lost)).toBe(true);
      const audited = await gateway.dataSource.query(
        `SELECT action FROM audit_events WHERE practice_id = $1 AND action IN ('root-key.succeeded', 'admin-key.added', 'record-key.recertified') ORDER BY id`,
        [practice.id],
      );
      expect(audited.map((row: { action: string }) => row.action)).toEqual([
        'admin-key.added',
        'root-key.succeeded',
        'admin-key.added',
        'record-key.recertified',
        'record-key.recertified',
      ]);
    });

    it('leaves the retired root unable to certify anything new: the gateway refuses its admin key, and clients refuse its device certificate', async () => {
      const refused = await api(gateway.url, 'POST', '/api/practice/admin-keys', { token: practice.manager.token, body: adminKeyBody(practice.root) });
      const signedByOldRoot = certifyStaffDevice(
        {
          practiceId: practice.odsCode,
          userId: practice.clinician.userId,
          deviceId: practice.clinician.deviceId,
          signPublicKey: practice.clinician.device.signPublicKey,
          boxPublicKey: practice.clinician.device.boxPublicKey,
          displayName: 'Dr Alex Morgan',
          roles: ['clinician'],
        },
        practice.root.signSecretKey,
      );
      await apiOk(gateway.url, 'PUT', `/api/devices/${practice.clinician.deviceId}/certificate`, {
        token: practice.manager.token,
        body: { certificate: toBase64(signedByOldRoot), certifiedAs: { displayName: 'Dr Alex Morgan', roles: ['clinician'] } },
      });

      const authority = practiceAuthority(await keysAs(practice.manager.token), practice.odsCode, practice.root.signPublicKey);

      expect(refused).toMatchObject({ status: 409, body: { error: { code: 'conflict' } } });
      expect(verifiedStaff(await certifiedDevice(practice.clinician), practice.odsCode, authority)).toBeNull();
      await expect(
        rotatePracticeRoot({
          baseUrl: gateway.url,
          token: practice.manager.token,
          odsCode: practice.odsCode,
          root: practice.root,
          pinnedRoot: practice.root.signPublicKey,
        }),
      ).rejects.toMatchObject({ code: 'untrusted_root' });
    });

    it('refuses to make a retired root current again', async () => {
      const fields = {
        practiceId: practice.odsCode,
        previousSignPublicKey: next.signPublicKey,
        signPublicKey: practice.root.signPublicKey,
        issuedAt: Date.now(),
      };

      const back = await api(gateway.url, 'POST', '/api/practice/root-successors', {
        token: practice.manager.token,
        body: {
          previousSignPublicKey: toBase64(next.signPublicKey),
          signPublicKey: toBase64(practice.root.signPublicKey),
          issuedAt: fields.issuedAt,
          signature: toBase64(signRootSuccessor(fields, next.signSecretKey)),
        },
      });

      expect(back).toMatchObject({ status: 409, body: { error: { code: 'conflict' } } });
    });
  });
});
