/**
 * The adversarial-server suite, practice authority part (issue #17, docs/threat-model.md T22): the server, or
 * whoever kept a retired root, tries to make clients accept a signer the practice's authority does not vouch
 * for. Each test tampers with the database as a malicious operator would (triggers off, rows injected) and
 * then drives the real client code (@parley/sdk). The first half of the suite is adversarial-server.e2e.spec.ts.
 */
import { randomUUID } from 'node:crypto';
import {
  certifyAdminKey,
  certifyRecordKey,
  certifyStaffDevice,
  createRecordKey,
  generatePracticeRootKey,
  ready,
  signRecordKeyCurrent,
  signRootSuccessor,
  toBase64,
  type SigningKeys,
} from '@parley/crypto';
import type { PracticeKeys, StaffMember } from '@parley/protocol';
import { currentRecordKey, openRecordKeys, practiceAuthority, rotatePracticeRoot, verifiedStaff, type RootRotation } from '@parley/sdk';
import { startTestApp, type TestApp } from '../app.js';
import { apiOk, createPracticeWithStaff, type TestPractice } from '../factories.js';
import { attackerOf } from './attacker.js';

describe('adversarial server: the client refuses signers the practice authority does not vouch for', () => {
  let gateway: TestApp;
  let practice: TestPractice;
  let rotation: RootRotation;

  const keysAs = (token: string) => apiOk<PracticeKeys>(gateway.url, 'GET', '/api/practice/keys', { token });

  const { tamper } = attackerOf(() => gateway.dataSource);

  /** The clinician's device with a certificate the attacker signed with `signer` (the server may store any bytes). */
  const clinicianCertifiedBy = async (signer: SigningKeys) => {
    const { clinician } = practice;
    const certificate = certifyStaffDevice(
      {
        practiceId: practice.odsCode,
        userId: clinician.userId,
        deviceId: clinician.deviceId,
        signPublicKey: clinician.device.signPublicKey,
        boxPublicKey: clinician.device.boxPublicKey,
        displayName: 'Dr Alex Morgan',
        roles: ['clinician'],
      },
      signer.signSecretKey,
    );
    await tamper(`UPDATE devices SET certificate = $2 WHERE id = $1`, [clinician.deviceId, Buffer.from(certificate)]);
    const staff = await apiOk<StaffMember[]>(gateway.url, 'GET', '/api/staff', { token: practice.manager.token });
    const device = staff.find((member) => member.userId === clinician.userId)!.devices.find((candidate) => candidate.id === clinician.deviceId)!;
    return { ...device, userId: clinician.userId, deviceId: device.id };
  };

  /** A record key version the attacker adds, certified and stated current by `signer`, one above the newest. */
  const injectRecordKey = async (signer: SigningKeys) => {
    const [{ version }] = await gateway.dataSource.query(`SELECT max(version)::int AS version FROM record_keys WHERE practice_id = $1`, [practice.id]);
    const recordKey = createRecordKey(version + 1);
    const fields = { practiceId: practice.odsCode, version: recordKey.version, publicKey: recordKey.boxPublicKey };
    const certificate = certifyRecordKey({ ...fields, validFrom: Date.now() }, signer.signSecretKey);
    const current = signRecordKeyCurrent({ ...fields, issuedAt: Date.now() }, signer.signSecretKey);
    await tamper(
      `INSERT INTO record_keys (practice_id, version, box_public_key, valid_from, certificate, current_issued_at, current_signature) VALUES ($1, $2, $3, $4, $5, $6, $7)`,
      [
        practice.id,
        recordKey.version,
        Buffer.from(recordKey.boxPublicKey),
        certificate.validFrom,
        Buffer.from(certificate.signature),
        Date.now(),
        Buffer.from(current),
      ],
    );
    return recordKey;
  };

  beforeAll(async () => {
    await ready();
    gateway = await startTestApp();
    practice = await createPracticeWithStaff(gateway, { name: 'Riverside Surgery' });
    rotation = await rotatePracticeRoot({
      baseUrl: gateway.url,
      token: practice.manager.token,
      odsCode: practice.odsCode,
      root: practice.root,
      pinnedRoot: practice.root.signPublicKey,
    });
  });

  afterAll(async () => {
    await gateway.close();
  });

  it("refuses a retired root's device certificate, which the retired root alone would have accepted", async () => {
    const device = await clinicianCertifiedBy(practice.root);

    const authority = practiceAuthority(await keysAs(practice.clinician.token), practice.odsCode, practice.root.signPublicKey);

    expect(verifiedStaff(device, practice.odsCode, authority)).toBeNull();
    expect(verifiedStaff(device, practice.odsCode, practice.root.signPublicKey)).not.toBeNull();
  });

  it("never takes a newer record key the retired root certified and stated current: clients that pinned either root stay on the authority's", async () => {
    const injected = await injectRecordKey(practice.root);

    const keys = await keysAs(practice.clinician.token);

    expect(keys.recordKeys.at(-1)?.version).toBe(injected.version);
    expect(currentRecordKey(keys, practice.odsCode, practice.root.signPublicKey)?.version).toBe(1);
    expect(currentRecordKey(keys, practice.odsCode, rotation.root.signPublicKey)?.version).toBe(1);
  });

  it('refuses an admin key the root never certified, and everything it signs', async () => {
    const intruder = generatePracticeRootKey();
    const adminKeyId = randomUUID();
    const certificate = certifyAdminKey(
      { practiceId: practice.odsCode, adminKeyId, signPublicKey: intruder.signPublicKey, issuedAt: Date.now() },
      intruder.signSecretKey,
    );
    await tamper(
      `INSERT INTO admin_keys (practice_id, admin_key_id, sign_public_key, issued_at, root_sign_public_key, certificate, stored_by_user_id) VALUES ($1, $2, $3, $4, $5, $6, $7)`,
      [
        practice.id,
        adminKeyId,
        Buffer.from(intruder.signPublicKey),
        Date.now(),
        Buffer.from(rotation.root.signPublicKey),
        Buffer.from(certificate),
        practice.manager.userId,
      ],
    );
    const device = await clinicianCertifiedBy(intruder);
    await injectRecordKey(intruder);

    const keys = await keysAs(practice.clinician.token);
    const authority = practiceAuthority(keys, practice.odsCode, practice.root.signPublicKey);

    expect(keys.adminKeys.map((key) => key.adminKeyId)).toContain(adminKeyId);
    expect(authority.adminKeys.map((key) => key.adminKeyId)).toEqual([rotation.admin.adminKeyId]);
    expect(verifiedStaff(device, practice.odsCode, authority)).toBeNull();
    expect(currentRecordKey(keys, practice.odsCode, practice.root.signPublicKey)?.version).toBe(1);
  });

  it("does not move to a root the server names without the pinned root's signature", async () => {
    const attackerRoot = generatePracticeRootKey();
    const stranger = generatePracticeRootKey();
    const fields = {
      practiceId: practice.odsCode,
      previousSignPublicKey: rotation.root.signPublicKey,
      signPublicKey: attackerRoot.signPublicKey,
      issuedAt: Date.now(),
    };
    // Signed by a stranger but labelled as the current root's statement.
    const forged = signRootSuccessor({ ...fields, previousSignPublicKey: stranger.signPublicKey }, stranger.signSecretKey);
    await tamper(
      `INSERT INTO root_successors (practice_id, seq, previous_sign_public_key, sign_public_key, issued_at, signature, stored_by_user_id) VALUES ($1, 2, $2, $3, $4, $5, $6)`,
      [
        practice.id,
        Buffer.from(rotation.root.signPublicKey),
        Buffer.from(attackerRoot.signPublicKey),
        fields.issuedAt,
        Buffer.from(forged),
        practice.manager.userId,
      ],
    );
    const device = await clinicianCertifiedBy(attackerRoot);

    const keys = await keysAs(practice.clinician.token);
    const authority = practiceAuthority(keys, practice.odsCode, practice.root.signPublicKey);

    expect(keys.rootSignPublicKey).toBe(toBase64(attackerRoot.signPublicKey));
    expect(authority.root).toEqual(rotation.root.signPublicKey);
    expect(verifiedStaff(device, practice.odsCode, authority)).toBeNull();
    // The server now lists the admin keys of its own root only, so the grants (by the manager's device, certified by the
    // practice's admin key) no longer verify: the clinician is refused its record keys, a denial, never the attacker's key.
    await expect(
      openRecordKeys({
        baseUrl: gateway.url,
        token: practice.clinician.token,
        odsCode: practice.odsCode,
        device: { deviceId: practice.clinician.deviceId, keys: practice.clinician.device },
        pinnedRoot: practice.root.signPublicKey,
      }),
    ).rejects.toMatchObject({ code: 'untrusted_granter' });
  });
});
