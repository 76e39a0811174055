import type { AccountKeyFields, InvitationFields } from '../src/index.js';
import {
  certifyStaffDevice,
  DEFAULT_KDF_PARAMS,
  deriveInvitationKeys,
  generateDeviceKeys,
  generateInvitationCode,
  generatePatientAccountKeys,
  generatePracticeRootKey,
  INVITATION_CODE_ALPHABET,
  INVITATION_KDF_PARAMS,
  normaliseInvitationCode,
  ready,
  signAccountKey,
  signInvitation,
  signInvitationRoot,
  TEST_KDF_PARAMS,
  verifyAccountKeySignature,
  verifyInvitation,
  verifyInvitationRoot,
  verifyStaffDeviceCertificate,
} from '../src/index.js';
import { aUuid, errorCodeOf, flipped, hexOf } from './factories.js';

await ready();

const PRACTICE_ID = 'A81001';
const CODE = '7KQ2-M9XP-4HZ3T';
const SYMBOL = `[${INVITATION_CODE_ALPHABET}]`;

function anInvitationKey() {
  return deriveInvitationKeys(generateInvitationCode(), PRACTICE_ID, TEST_KDF_PARAMS).signKeys;
}

describe('generateInvitationCode', () => {
  it('writes 13 symbols of the alphabet as XXXX-XXXX-XXXXX', () => {
    const code = generateInvitationCode();

    expect(code).toMatch(new RegExp(`^${SYMBOL}{4}-${SYMBOL}{4}-${SYMBOL}{5}$`));
    expect(normaliseInvitationCode(code)).toBe(code.replaceAll('-', ''));
  });

  it('draws every symbol of the alphabet about equally often', () => {
    const counts = new Map<string, number>();

    for (let i = 0; i < 2000; i++) {
      for (const symbol of normaliseInvitationCode(generateInvitationCode())) counts.set(symbol, (counts.get(symbol) ?? 0) + 1);
    }

    // 26,000 draws: 812.5 expected per symbol, standard deviation ≈ 28; ±200 is over 7 of them.
    expect([...counts.keys()].sort().join('')).toBe(INVITATION_CODE_ALPHABET);
    for (const count of counts.values()) expect(Math.abs(count - 812.5)).toBeLessThan(200);
  });

  it('makes a different code each time', () => {
    const codes = new Set(Array.from({ length: 100 }, () => generateInvitationCode()));

    expect(codes.size).toBe(100);
  });
});

describe('normaliseInvitationCode', () => {
  it.each([
    ['7KQ2-M9XP-4HZ3T', '7KQ2M9XP4HZ3T'],
    ['7kq2-m9xp-4hz3t', '7KQ2M9XP4HZ3T'],
    [' 7KQ2 M9XP 4HZ3T ', '7KQ2M9XP4HZ3T'],
    ['7KQ2.M9XP_4HZ3T', '7KQ2M9XP4HZ3T'],
    ['OOOO-IIII-LLLLl', '0000111111111'],
    ['ｏ123-4567-89abc', '0123456789ABC'],
  ])('reads %p as %p', (typed, bare) => {
    expect(normaliseInvitationCode(typed)).toBe(bare);
  });

  it.each([
    ['too short', '7KQ2-M9XP-4HZ3'],
    ['too long', '7KQ2-M9XP-4HZ3TT'],
    ['a U, outside the alphabet', '7KQ2-M9XP-4HZ3U'],
    ['a letter of another script', '7KQ2-M9XP-4HZ3Ж'],
    ['empty', ''],
    ['very long', `${'-'.repeat(100)}7KQ2M9XP4HZ3T`],
  ])('refuses a code that is %s as invalid_input', (_case, typed) => {
    expect(errorCodeOf(() => normaliseInvitationCode(typed))).toBe('invalid_input');
  });

  it('refuses a value that is not a string as invalid_input', () => {
    expect(errorCodeOf(() => normaliseInvitationCode(42 as unknown as string))).toBe('invalid_input');
  });
});

describe('deriveInvitationKeys', () => {
  it('derives a 32-byte lookup id and an Ed25519 invitation key, the same again for the same code and practice', () => {
    const first = deriveInvitationKeys(CODE, PRACTICE_ID, TEST_KDF_PARAMS);
    const again = deriveInvitationKeys(CODE, PRACTICE_ID, TEST_KDF_PARAMS);

    expect(first.lookupId).toHaveLength(32);
    expect(first.signKeys.signPublicKey).toHaveLength(32);
    expect(first.signKeys.signSecretKey).toHaveLength(64);
    expect(hexOf(first.lookupId)).not.toBe(hexOf(first.signKeys.signPublicKey));
    expect(again).toEqual(first);
  });

  it('gives every typed form of a code the same keys', () => {
    const printed = deriveInvitationKeys(CODE, PRACTICE_ID, TEST_KDF_PARAMS);

    const typed = deriveInvitationKeys('7kq2 m9xp 4hz3t', PRACTICE_ID, TEST_KDF_PARAMS);

    expect(typed).toEqual(printed);
  });

  it('derives other keys for another code or another practice', () => {
    const base = deriveInvitationKeys(CODE, PRACTICE_ID, TEST_KDF_PARAMS);

    const otherCode = deriveInvitationKeys('7KQ2-M9XP-4HZ3V', PRACTICE_ID, TEST_KDF_PARAMS);
    const otherPractice = deriveInvitationKeys(CODE, 'B82002', TEST_KDF_PARAMS);

    for (const other of [otherCode, otherPractice]) {
      expect(hexOf(other.lookupId)).not.toBe(hexOf(base.lookupId));
      expect(hexOf(other.signKeys.signPublicKey)).not.toBe(hexOf(base.signKeys.signPublicKey));
    }
  });

  it('refuses costs below 3 passes over 64 MiB without the test-only flag as weak_kdf_params', () => {
    expect(errorCodeOf(() => deriveInvitationKeys(CODE, PRACTICE_ID, { opsLimit: 2, memLimit: 64 * 1024 * 1024 }))).toBe('weak_kdf_params');
    expect(errorCodeOf(() => deriveInvitationKeys(CODE, PRACTICE_ID, { opsLimit: 3, memLimit: 32 * 1024 * 1024 }))).toBe('weak_kdf_params');
    expect(errorCodeOf(() => deriveInvitationKeys(CODE, PRACTICE_ID, { opsLimit: 1, memLimit: 8192 }))).toBe('weak_kdf_params');
  });

  it('refuses something that is not a code, and an empty practice id, as invalid_input', () => {
    expect(errorCodeOf(() => deriveInvitationKeys('7KQ2-M9XP', PRACTICE_ID, TEST_KDF_PARAMS))).toBe('invalid_input');
    expect(errorCodeOf(() => deriveInvitationKeys(CODE, '', TEST_KDF_PARAMS))).toBe('invalid_input');
  });

  it('costs 3 passes over 64 MiB by default', () => {
    const byDefault = deriveInvitationKeys(CODE, PRACTICE_ID);

    const explicit = deriveInvitationKeys(CODE, PRACTICE_ID, { opsLimit: 3, memLimit: 64 * 1024 * 1024 });

    expect(INVITATION_KDF_PARAMS).toEqual(DEFAULT_KDF_PARAMS);
    expect(byDefault).toEqual(explicit);
  });
});

describe('signInvitation', () => {
  function anInvitation() {
    const creator = generateDeviceKeys();
    const fields: InvitationFields = {
      practiceId: PRACTICE_ID,
      patientId: aUuid(),
      invitationSignPublicKey: anInvitationKey().signPublicKey,
      expiresAt: Date.UTC(2026, 1, 1),
    };
    return { creator, fields, signature: signInvitation(fields, creator.signSecretKey) };
  }

  it('makes a signature that verifies against the inviting device only', () => {
    const { creator, fields, signature } = anInvitation();

    expect(errorCodeOf(() => verifyInvitation(fields, signature, creator.signPublicKey))).toBe('no error');
    expect(errorCodeOf(() => verifyInvitation(fields, signature, generateDeviceKeys().signPublicKey))).toBe('bad_certificate');
  });

  it.each<[string, (fields: InvitationFields) => Partial<InvitationFields>]>([
    ['practice id', () => ({ practiceId: 'A81002' })],
    ['patient id', () => ({ patientId: aUuid() })],
    ['invitation key', (fields) => ({ invitationSignPublicKey: flipped(fields.invitationSignPublicKey, 31) })],
    ['expiry', (fields) => ({ expiresAt: fields.expiresAt + 1 })],
  ])('fails as bad_certificate when the %s changes', (_field, change) => {
    const { creator, fields, signature } = anInvitation();

    expect(errorCodeOf(() => verifyInvitation({ ...fields, ...change(fields) }, signature, creator.signPublicKey))).toBe('bad_certificate');
  });

  it('fails as bad_certificate for a flipped signature bit', () => {
    const { creator, fields, signature } = anInvitation();

    expect(errorCodeOf(() => verifyInvitation(fields, flipped(signature, 0), creator.signPublicKey))).toBe('bad_certificate');
  });

  it('refuses keys and signatures of the wrong length as invalid_length', () => {
    const { creator, fields, signature } = anInvitation();

    expect(errorCodeOf(() => signInvitation(fields, creator.signPublicKey))).toBe('invalid_length');
    expect(errorCodeOf(() => signInvitation({ ...fields, invitationSignPublicKey: new Uint8Array(31) }, creator.signSecretKey))).toBe('invalid_length');
    expect(errorCodeOf(() => verifyInvitation(fields, signature.subarray(0, 63), creator.signPublicKey))).toBe('invalid_length');
    expect(errorCodeOf(() => verifyInvitation(fields, signature, creator.signSecretKey))).toBe('invalid_length');
  });

  it('refuses a patient id that is not a UUID and an expiry that is not a u64 as invalid_input', () => {
    const { creator, fields } = anInvitation();

    expect(errorCodeOf(() => signInvitation({ ...fields, patientId: 'patient-1' }, creator.signSecretKey))).toBe('invalid_input');
    expect(errorCodeOf(() => signInvitation({ ...fields, expiresAt: -1 }, creator.signSecretKey))).toBe('invalid_input');
    expect(errorCodeOf(() => signInvitation({ ...fields, expiresAt: 1.5 }, creator.signSecretKey))).toBe('invalid_input');
  });
});

describe('signInvitationRoot', () => {
  function aRootStatement() {
    const invitationKey = anInvitationKey();
    const input = { practiceId: PRACTICE_ID, rootSignPublicKey: generatePracticeRootKey().signPublicKey };
    return { invitationKey, input, signature: signInvitationRoot(input, invitationKey.signSecretKey) };
  }

  it('makes a signature that verifies against the invitation key only', () => {
    const { invitationKey, input, signature } = aRootStatement();

    expect(errorCodeOf(() => verifyInvitationRoot(input, signature, invitationKey.signPublicKey))).toBe('no error');
    expect(errorCodeOf(() => verifyInvitationRoot(input, signature, anInvitationKey().signPublicKey))).toBe('bad_certificate');
  });

  it.each([
    ['practice id', () => ({ practiceId: 'A81002' })],
    ['root key', (input: { rootSignPublicKey: Uint8Array }) => ({ rootSignPublicKey: flipped(input.rootSignPublicKey, 0) })],
  ])('fails as bad_certificate when the %s changes', (_field, change) => {
    const { invitationKey, input, signature } = aRootStatement();

    expect(errorCodeOf(() => verifyInvitationRoot({ ...input, ...change(input) }, signature, invitationKey.signPublicKey))).toBe('bad_certificate');
  });

  it('fails as bad_certificate for a flipped signature bit', () => {
    const { invitationKey, input, signature } = aRootStatement();

    expect(errorCodeOf(() => verifyInvitationRoot(input, flipped(signature, -1), invitationKey.signPublicKey))).toBe('bad_certificate');
  });

  it('refuses keys and signatures of the wrong length as invalid_length', () => {
    const { invitationKey, input, signature } = aRootStatement();

    expect(errorCodeOf(() => signInvitationRoot(input, invitationKey.signPublicKey))).toBe('invalid_length');
    expect(errorCodeOf(() => signInvitationRoot({ ...input, rootSignPublicKey: new Uint8Array(33) }, invitationKey.signSecretKey))).toBe('invalid_length');
    expect(errorCodeOf(() => verifyInvitationRoot(input, new Uint8Array(0), invitationKey.signPublicKey))).toBe('invalid_length');
    expect(errorCodeOf(() => verifyInvitationRoot(input, signature, new Uint8Array(16)))).toBe('invalid_length');
  });
});

describe('signAccountKey', () => {
  function anAccountStatement() {
    const invitationKey = anInvitationKey();
    const pak = generatePatientAccountKeys();
    const fields: AccountKeyFields = { practiceId: PRACTICE_ID, patientId: aUuid(), signPublicKey: pak.signPublicKey, boxPublicKey: pak.boxPublicKey };
    return { invitationKey, fields, signature: signAccountKey(fields, invitationKey.signSecretKey) };
  }

  it('makes a signature that verifies against the invitation key only', () => {
    const { invitationKey, fields, signature } = anAccountStatement();

    expect(errorCodeOf(() => verifyAccountKeySignature(fields, signature, invitationKey.signPublicKey))).toBe('no error');
    expect(errorCodeOf(() => verifyAccountKeySignature(fields, signature, anInvitationKey().signPublicKey))).toBe('bad_certificate');
  });

  it.each<[string, (fields: AccountKeyFields) => Partial<AccountKeyFields>]>([
    ['practice id', () => ({ practiceId: 'A81002' })],
    ['patient id', () => ({ patientId: aUuid() })],
    ['sign key', (fields) => ({ signPublicKey: flipped(fields.signPublicKey, 5) })],
    ['box key', (fields) => ({ boxPublicKey: flipped(fields.boxPublicKey, 5) })],
  ])('fails as bad_certificate when the %s changes', (_field, change) => {
    const { invitationKey, fields, signature } = anAccountStatement();

    expect(errorCodeOf(() => verifyAccountKeySignature({ ...fields, ...change(fields) }, signature, invitationKey.signPublicKey))).toBe('bad_certificate');
  });

  it('fails as bad_certificate when the sign and box keys are swapped', () => {
    const { invitationKey, fields, signature } = anAccountStatement();
    const swapped = { ...fields, signPublicKey: fields.boxPublicKey, boxPublicKey: fields.signPublicKey };

    expect(errorCodeOf(() => verifyAccountKeySignature(swapped, signature, invitationKey.signPublicKey))).toBe('bad_certificate');
  });

  it('fails as bad_certificate for a flipped signature bit', () => {
    const { invitationKey, fields, signature } = anAccountStatement();

    expect(errorCodeOf(() => verifyAccountKeySignature(fields, flipped(signature, 32), invitationKey.signPublicKey))).toBe('bad_certificate');
  });

  it('refuses keys and signatures of the wrong length as invalid_length', () => {
    const { invitationKey, fields, signature } = anAccountStatement();

    expect(errorCodeOf(() => signAccountKey(fields, new Uint8Array(32)))).toBe('invalid_length');
    expect(errorCodeOf(() => signAccountKey({ ...fields, boxPublicKey: new Uint8Array(31) }, invitationKey.signSecretKey))).toBe('invalid_length');
    expect(errorCodeOf(() => verifyAccountKeySignature(fields, new Uint8Array(65), invitationKey.signPublicKey))).toBe('invalid_length');
    expect(errorCodeOf(() => verifyAccountKeySignature({ ...fields, signPublicKey: new Uint8Array(0) }, signature, invitationKey.signPublicKey))).toBe(
      'invalid_length',
    );
  });
});

describe('invitation-bound trust, end to end', () => {
  function anInvitedPatient() {
    const root = generatePracticeRootKey();
    const staff = { userId: aUuid(), deviceId: aUuid(), keys: generateDeviceKeys() };
    const staffFields = {
      practiceId: PRACTICE_ID,
      userId: staff.userId,
      deviceId: staff.deviceId,
      signPublicKey: staff.keys.signPublicKey,
      boxPublicKey: staff.keys.boxPublicKey,
      displayName: 'Dr Amara Okafor',
      roles: ['clinician'] as const,
    };
    const staffCertificate = certifyStaffDevice(staffFields, root.signSecretKey);
    // The staff browser makes the code, derives V, signs, and forgets the code (it goes on the letter).
    const code = generateInvitationCode();
    const invitationKey = deriveInvitationKeys(code, PRACTICE_ID, TEST_KDF_PARAMS);
    const invitation: InvitationFields = {
      practiceId: PRACTICE_ID,
      patientId: aUuid(),
      invitationSignPublicKey: invitationKey.signKeys.signPublicKey,
      expiresAt: Date.UTC(2026, 1, 1),
    };
    const rootStatement = { practiceId: PRACTICE_ID, rootSignPublicKey: root.signPublicKey };
    return {
      code,
      root,
      staffFields,
      staffCertificate,
      invitation,
      invitationSignature: signInvitation(invitation, staff.keys.signSecretKey),
      rootStatement,
      rootSignature: signInvitationRoot(rootStatement, invitationKey.signKeys.signSecretKey),
    };
  }

  it('lets the patient pin the root from the typed code and the staff trust the account key it signs', () => {
    const served = anInvitedPatient();
    const patientSide = deriveInvitationKeys(served.code.toLowerCase().replaceAll('-', ' '), PRACTICE_ID, TEST_KDF_PARAMS);
    const pak = generatePatientAccountKeys();
    const account: AccountKeyFields = {
      practiceId: PRACTICE_ID,
      patientId: served.invitation.patientId,
      signPublicKey: pak.signPublicKey,
      boxPublicKey: pak.boxPublicKey,
    };

    const accountSignature = signAccountKey(account, patientSide.signKeys.signSecretKey);
    const checks = [
      () => verifyInvitationRoot(served.rootStatement, served.rootSignature, patientSide.signKeys.signPublicKey),
      () => verifyStaffDeviceCertificate(served.staffFields, served.staffCertificate, served.rootStatement.rootSignPublicKey),
      () => verifyInvitation(served.invitation, served.invitationSignature, served.staffFields.signPublicKey),
      () => verifyAccountKeySignature(account, accountSignature, served.invitation.invitationSignPublicKey),
    ];

    expect(checks.map(errorCodeOf)).toEqual(['no error', 'no error', 'no error', 'no error']);
  });

  it('refuses a root the server substitutes with an invitation key of its own', () => {
    const served = anInvitedPatient();
    const patientSide = deriveInvitationKeys(served.code, PRACTICE_ID, TEST_KDF_PARAMS);
    const serverRoot = generatePracticeRootKey();
    const serverStatement = { practiceId: PRACTICE_ID, rootSignPublicKey: serverRoot.signPublicKey };

    const forged = signInvitationRoot(serverStatement, anInvitationKey().signSecretKey);

    expect(errorCodeOf(() => verifyInvitationRoot(serverStatement, forged, patientSide.signKeys.signPublicKey))).toBe('bad_certificate');
  });

  it('refuses the invitation of one practice under another practice id', () => {
    const served = anInvitedPatient();
    const elsewhere = deriveInvitationKeys(served.code, 'B82002', TEST_KDF_PARAMS);

    const action = () => verifyInvitationRoot(served.rootStatement, served.rootSignature, elsewhere.signKeys.signPublicKey);

    expect(errorCodeOf(action)).toBe('bad_certificate');
  });
});
