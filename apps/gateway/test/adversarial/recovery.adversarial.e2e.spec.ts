/**
 * The adversarial-server suite for practice-assisted recovery (flow B, docs/crypto.md): the server tampers with
 * a recovery to get its own account key approved, re-sealed to and certified, and the real staff clients
 * (@parley/sdk) must refuse before anything is sent. Helpers as in adversarial-server.e2e.spec.ts.
 */
import { randomUUID } from 'node:crypto';
import {
  deriveRecoveryKeys,
  generateDeviceKeys,
  generateInvitationCode,
  generatePatientAccountKeys,
  ready,
  signRecovery,
  signRecoveryAccountKey,
  signRecoveryRoot,
  TEST_KDF_PARAMS,
} from '@parley/crypto';
import type { RecoverySummary } from '@parley/protocol';
import {
  AccountFlowError,
  approveRecovery,
  completeRecovery,
  isAccountKeyTrusted,
  listRecoveries,
  openRecovery,
  startRecovery,
  submitRecovery,
  verifiedRecoveryRequest,
} from '@parley/sdk';
import { startTestApp, type TestApp } from '../app.js';
import { activatePatient, createPracticeWithStaff, type TestPatient, type TestPractice } from '../factories.js';
import { attackLedger, attackerOf } from './attacker.js';

const b64 = (bytes: Uint8Array): string => Buffer.from(bytes).toString('base64');

const { ledger, attack } = attackLedger();

describe('adversarial server: staff clients refuse a recovery the server tampered with', () => {
  let gateway: TestApp;
  let practice: TestPractice;

  beforeAll(async () => {
    await ready();
    gateway = await startTestApp();
    practice = await createPracticeWithStaff(gateway);
  });

  afterAll(async () => {
    await gateway.close();
    process.stdout.write(`adversarial-server (recovery): ${ledger.attacks} attacks, ${ledger.refused} refused\n`);
  });

  const { tamper } = attackerOf(() => gateway.dataSource);

  /** A patient with a recovery started by the clinician and submitted from a new device. */
  async function submittedRecovery(): Promise<{ patient: TestPatient; recoveryId: string }> {
    const patient = await activatePatient(gateway.url, practice);
    const issued = await startRecovery({
      baseUrl: gateway.url,
      token: practice.clinician.token,
      practice: practice.odsCode,
      device: { deviceId: practice.clinician.deviceId, keys: practice.clinician.device },
      pinnedRoot: practice.root.signPublicKey,
      patientId: patient.userId,
      kdf: TEST_KDF_PARAMS,
    });
    const verified = await openRecovery({
      baseUrl: gateway.url,
      practice: practice.odsCode,
      code: issued.code,
      dateOfBirth: patient.dateOfBirth,
      kdf: TEST_KDF_PARAMS,
    });
    await submitRecovery({
      baseUrl: gateway.url,
      recovery: verified,
      dateOfBirth: patient.dateOfBirth,
      passphrase: 'quartz meadow lantern ribbon falcon cedar',
      kdf: TEST_KDF_PARAMS,
    });
    return { patient, recoveryId: issued.recoveryId };
  }

  const listed = async (id: string): Promise<RecoverySummary> => {
    const found = (await listRecoveries({ baseUrl: gateway.url, token: practice.manager.token })).find((recovery) => recovery.id === id);
    if (!found) throw new Error('recovery not listed');
    return found;
  };
  const refusal = (promise: Promise<unknown>) =>
    promise.then(
      () => 'accepted',
      (error: AccountFlowError) => error.code,
    );
  const approvalsOf = async (id: string) =>
    (await gateway.dataSource.query(`SELECT count(*)::int AS n FROM recovery_approvals WHERE recovery_id = $1`, [id]))[0].n as number;
  const completeAsManager = async (recovery: RecoverySummary) =>
    completeRecovery({
      baseUrl: gateway.url,
      token: practice.manager.token,
      practice: practice.odsCode,
      pinnedRoot: practice.root.signPublicKey,
      device: { deviceId: practice.manager.deviceId, keys: practice.manager.device },
      rootSignSecretKey: practice.root.signSecretKey,
      recordKeys: new Map([[1, practice.recordKey]]),
      recovery,
    });

  it('refuses to approve or complete when the server swaps its own account key into a submitted recovery', async () => {
    await attack(async () => {
      const { recoveryId } = await submittedRecovery();
      const attacker = generatePatientAccountKeys();
      await tamper(`UPDATE recoveries SET new_sign_public_key = $2, new_box_public_key = $3 WHERE id = $1`, [
        recoveryId,
        Buffer.from(attacker.signPublicKey),
        Buffer.from(attacker.boxPublicKey),
      ]);
      const recovery = await listed(recoveryId);

      expect(verifiedRecoveryRequest(recovery, practice.odsCode, practice.root.signPublicKey)).toBeNull();
      expect(
        await refusal(
          approveRecovery({
            baseUrl: gateway.url,
            token: practice.manager.token,
            practice: practice.odsCode,
            pinnedRoot: practice.root.signPublicKey,
            recovery,
          }),
        ),
      ).toBe('untrusted_recovery');
      expect(await refusal(completeAsManager(recovery))).toBe('untrusted_recovery');
      expect(await approvalsOf(recoveryId)).toBe(0);
    });
  });

  it('refuses a recovery the server made up: its own recovery key, "started" by a staff device that never signed it', async () => {
    await attack(async () => {
      const patient = await activatePatient(gateway.url, practice);
      const recoveryId = randomUUID();
      const code = generateInvitationCode();
      const derived = deriveRecoveryKeys(code, practice.odsCode, TEST_KDF_PARAMS);
      const attackerDevice = generateDeviceKeys();
      const attacker = generatePatientAccountKeys();
      const expiresAt = Date.now() + 24 * 3600 * 1000;
      const fields = { practiceId: practice.odsCode, patientId: patient.userId, signPublicKey: attacker.signPublicKey, boxPublicKey: attacker.boxPublicKey };
      // Everything the server can sign itself is valid; S_rec is by a key it holds, not by the clinician's certified device.
      await tamper(
        `INSERT INTO recoveries (id, practice_id, patient_id, lookup_id, recovery_sign_public_key, recovery_signature, root_signature, creator_device_id,
                                 started_by, expires_at, state, new_sign_public_key, new_box_public_key, new_account_signature, new_auth_key_hash,
                                 new_auth_salt, new_auth_ops, new_auth_mem_bytes, new_backup, submitted_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, 'submitted', $11, $12, $13, '$argon2id$v=19$m=8,t=1,p=1$AAAA$AAAA', $14, 1, 8192, $15, now())`,
        [
          recoveryId,
          practice.id,
          patient.userId,
          Buffer.from(derived.lookupId),
          Buffer.from(derived.signKeys.signPublicKey),
          Buffer.from(signRecovery({ ...fields, recoveryId, recoverySignPublicKey: derived.signKeys.signPublicKey, expiresAt }, attackerDevice.signSecretKey)),
          Buffer.from(signRecoveryRoot({ practiceId: practice.odsCode, rootSignPublicKey: practice.root.signPublicKey }, derived.signKeys.signSecretKey)),
          practice.clinician.deviceId,
          practice.clinician.userId,
          new Date(expiresAt),
          Buffer.from(attacker.signPublicKey),
          Buffer.from(attacker.boxPublicKey),
          Buffer.from(signRecoveryAccountKey(fields, derived.signKeys.signSecretKey)),
          Buffer.alloc(16, 1),
          Buffer.alloc(208, 2),
        ],
      );
      const recovery = await listed(recoveryId);

      expect(b64(attacker.signPublicKey)).toBe(recovery.newAccount?.signPublicKey);
      expect(
        await refusal(
          approveRecovery({
            baseUrl: gateway.url,
            token: practice.manager.token,
            practice: practice.odsCode,
            pinnedRoot: practice.root.signPublicKey,
            recovery,
          }),
        ),
      ).toBe('untrusted_recovery');
      expect(await refusal(completeAsManager(recovery))).toBe('untrusted_recovery');
      expect(await approvalsOf(recoveryId)).toBe(0);
    });
  });

  it('trusts no account key the server puts in place of a recovered one without the root certificate over it', async () => {
    await attack(async () => {
      const { patient } = await submittedRecovery();
      const attacker = generatePatientAccountKeys();
      const serverKey = {
        userId: patient.userId,
        signPublicKey: b64(attacker.signPublicKey),
        boxPublicKey: b64(attacker.boxPublicKey),
        accountSignature: null,
        invitation: null,
        certificate: b64(new Uint8Array(64).fill(7)),
      };

      expect(isAccountKeyTrusted(serverKey, practice.odsCode, practice.root.signPublicKey)).toBe(false);
      expect(isAccountKeyTrusted({ ...serverKey, certificate: null }, practice.odsCode, practice.root.signPublicKey)).toBe(false);
    });
  });
});
