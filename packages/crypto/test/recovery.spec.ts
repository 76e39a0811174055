import {
  deriveInvitationKeys,
  deriveRecoveryKeys,
  generateInvitationCode,
  generatePatientAccountKeys,
  generateDeviceKeys,
  generatePracticeRootKey,
  ready,
  signAccountKey,
  signRecovery,
  signRecoveryAccountKey,
  signRecoveryRoot,
  TEST_KDF_PARAMS,
  verifyAccountKeySignature,
  verifyInvitationRoot,
  verifyRecovery,
  verifyRecoveryAccountKey,
  verifyRecoveryRoot,
  type RecoveryFields,
} from '../src/index.js';
import { recoveryAccountSignedBytes, recoverySignedBytes } from '../src/recovery.js';
import { aUuid, errorCodeOf, flipped } from './factories.js';

await ready();

const PRACTICE_ID = 'A81001';

describe('practice-assisted recovery statements', () => {
  const code = generateInvitationCode();
  const recovery = deriveRecoveryKeys(code, PRACTICE_ID, TEST_KDF_PARAMS);
  const staffDevice = generateDeviceKeys();
  const root = generatePracticeRootKey();
  const account = generatePatientAccountKeys();
  const fields: RecoveryFields = {
    practiceId: PRACTICE_ID,
    patientId: aUuid(),
    recoveryId: aUuid(),
    recoverySignPublicKey: recovery.signKeys.signPublicKey,
    expiresAt: 1_800_000_000_000,
  };
  const accountFields = { practiceId: PRACTICE_ID, patientId: fields.patientId, signPublicKey: account.signPublicKey, boxPublicKey: account.boxPublicKey };

  it('derives other keys from a code than an invitation with the same code does', () => {
    const invitation = deriveInvitationKeys(code, PRACTICE_ID, TEST_KDF_PARAMS);

    expect(Buffer.from(recovery.lookupId).equals(Buffer.from(invitation.lookupId))).toBe(false);
    expect(Buffer.from(recovery.signKeys.signPublicKey).equals(Buffer.from(invitation.signKeys.signPublicKey))).toBe(false);
    expect(deriveRecoveryKeys(code.toLowerCase(), PRACTICE_ID, TEST_KDF_PARAMS).lookupId).toEqual(recovery.lookupId);
  });

  it('verifies S_rec, the root statement and the account key signature, and refuses any other field', () => {
    const signature = signRecovery(fields, staffDevice.signSecretKey);
    const rootSignature = signRecoveryRoot({ practiceId: PRACTICE_ID, rootSignPublicKey: root.signPublicKey }, recovery.signKeys.signSecretKey);
    const accountSignature = signRecoveryAccountKey(accountFields, recovery.signKeys.signSecretKey);

    expect(errorCodeOf(() => verifyRecovery(fields, signature, staffDevice.signPublicKey))).toBe('no error');
    expect(
      errorCodeOf(() => verifyRecoveryRoot({ practiceId: PRACTICE_ID, rootSignPublicKey: root.signPublicKey }, rootSignature, recovery.signKeys.signPublicKey)),
    ).toBe('no error');
    expect(errorCodeOf(() => verifyRecoveryAccountKey(accountFields, accountSignature, recovery.signKeys.signPublicKey))).toBe('no error');
    expect(errorCodeOf(() => verifyRecovery({ ...fields, recoveryId: aUuid() }, signature, staffDevice.signPublicKey))).toBe('bad_certificate');
    expect(errorCodeOf(() => verifyRecovery({ ...fields, expiresAt: fields.expiresAt + 1 }, signature, staffDevice.signPublicKey))).toBe('bad_certificate');
    expect(errorCodeOf(() => verifyRecoveryAccountKey(accountFields, flipped(accountSignature, 3), recovery.signKeys.signPublicKey))).toBe('bad_certificate');
  });

  it('cannot pass for an invitation: a recovery key signature is no S_pak or S_root, and an S_pak is no recovery signature', () => {
    const accountSignature = signRecoveryAccountKey(accountFields, recovery.signKeys.signSecretKey);
    const rootSignature = signRecoveryRoot({ practiceId: PRACTICE_ID, rootSignPublicKey: root.signPublicKey }, recovery.signKeys.signSecretKey);
    const invitationStyle = signAccountKey(accountFields, recovery.signKeys.signSecretKey);

    expect(errorCodeOf(() => verifyAccountKeySignature(accountFields, accountSignature, recovery.signKeys.signPublicKey))).toBe('bad_certificate');
    expect(
      errorCodeOf(() =>
        verifyInvitationRoot({ practiceId: PRACTICE_ID, rootSignPublicKey: root.signPublicKey }, rootSignature, recovery.signKeys.signPublicKey),
      ),
    ).toBe('bad_certificate');
    expect(errorCodeOf(() => verifyRecoveryAccountKey(accountFields, invitationStyle, recovery.signKeys.signPublicKey))).toBe('bad_certificate');
  });

  it('starts each signed structure with its own prefix', () => {
    expect(Buffer.from(recoverySignedBytes(fields)).subarray(0, 19).toString('ascii')).toBe('parley/v2/recovery\0');
    expect(Buffer.from(recoveryAccountSignedBytes(accountFields)).subarray(0, 26).toString('ascii')).toBe('parley/v2/recovery-account');
  });
});
