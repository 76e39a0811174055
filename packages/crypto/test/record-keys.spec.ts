import type { RecordKey, RecordKeyCurrentFields } from '../src/index.js';
import {
  certifyRecordKey,
  createRecordKey,
  generateDeviceKeys,
  generatePracticeRootKey,
  grantRecordKey,
  openRecordKeyGrant,
  ready,
  signRecordKeyCurrent,
  verifyRecordKeyCertificate,
  verifyRecordKeyCurrent,
} from '../src/index.js';
import { errorCodeOf, flipped } from './factories.js';

await ready();

function aGrantSetup() {
  const root = generatePracticeRootKey();
  const admin = generateDeviceKeys();
  const staff = generateDeviceKeys();
  const recordKey = createRecordKey(3);
  const certificate = certifyRecordKey(
    { practiceId: 'A81001', version: recordKey.version, publicKey: recordKey.boxPublicKey, validFrom: Date.UTC(2026, 0, 1) },
    root.signSecretKey,
  );
  const grant = grantRecordKey({ practiceId: 'A81001', recordKey, recipientBoxPublicKey: staff.boxPublicKey, granterSignSecretKey: admin.signSecretKey });
  const open = (changes: Partial<Parameters<typeof openRecordKeyGrant>[0]> = {}): RecordKey =>
    openRecordKeyGrant({ grant, certificate, rootSignPublicKey: root.signPublicKey, granterSignPublicKey: admin.signPublicKey, recipient: staff, ...changes });
  return { root, admin, staff, recordKey, certificate, grant, open };
}

describe('certifyRecordKey', () => {
  it('verifies against the root key only', () => {
    const { root, certificate } = aGrantSetup();

    expect(errorCodeOf(() => verifyRecordKeyCertificate(certificate, root.signPublicKey))).toBe('no error');
    expect(errorCodeOf(() => verifyRecordKeyCertificate(certificate, generatePracticeRootKey().signPublicKey))).toBe('bad_certificate');
  });

  it.each([
    ['practice id', { practiceId: 'B82002' }],
    ['version', { version: 4 }],
    ['valid-from time', { validFrom: Date.UTC(2025, 0, 1) }],
  ])('fails as bad_certificate when the %s changes', (_field, change) => {
    const { root, certificate } = aGrantSetup();

    expect(errorCodeOf(() => verifyRecordKeyCertificate({ ...certificate, ...change }, root.signPublicKey))).toBe('bad_certificate');
  });
});

describe('openRecordKeyGrant', () => {
  it('returns the granted record key', () => {
    const { recordKey, open } = aGrantSetup();

    const opened = open();

    expect(opened).toEqual(recordKey);
  });

  it('fails as bad_signature for a grant signed by a non-granting key', () => {
    const { recordKey, staff, open } = aGrantSetup();
    const forged = grantRecordKey({ practiceId: 'A81001', recordKey, recipientBoxPublicKey: staff.boxPublicKey, granterSignSecretKey: staff.signSecretKey });

    expect(errorCodeOf(() => open({ grant: forged }))).toBe('bad_signature');
  });

  it('fails as bad_signature when the sealed seed is swapped', () => {
    const { grant, open } = aGrantSetup();

    expect(errorCodeOf(() => open({ grant: { ...grant, sealedSeed: flipped(grant.sealedSeed, 40) } }))).toBe('bad_signature');
  });

  it('fails as bad_certificate when the record key certificate is not from the root', () => {
    const { certificate, open } = aGrantSetup();

    expect(errorCodeOf(() => open({ certificate: { ...certificate, signature: flipped(certificate.signature, 0) } }))).toBe('bad_certificate');
  });

  it('fails as key_mismatch for a grant sealed to another device', () => {
    const { open } = aGrantSetup();

    expect(errorCodeOf(() => open({ recipient: generateDeviceKeys() }))).toBe('key_mismatch');
  });

  it('fails as key_mismatch for a grant of another record key than the certificate', () => {
    const { root, open } = aGrantSetup();
    const otherKey = createRecordKey(3);
    const otherCertificate = certifyRecordKey({ practiceId: 'A81001', version: 3, publicKey: otherKey.boxPublicKey, validFrom: 0 }, root.signSecretKey);

    expect(errorCodeOf(() => open({ certificate: otherCertificate }))).toBe('key_mismatch');
  });

  it('refuses a sealed seed that is not 80 bytes as invalid_length', () => {
    const { grant, open } = aGrantSetup();

    expect(errorCodeOf(() => open({ grant: { ...grant, sealedSeed: grant.sealedSeed.subarray(1) } }))).toBe('invalid_length');
  });
});

describe('grantRecordKey', () => {
  it('refuses a record key whose public half does not come from its seed as key_mismatch', () => {
    const { staff, admin, recordKey } = aGrantSetup();
    const inconsistent = { ...recordKey, boxPublicKey: createRecordKey(3).boxPublicKey };

    const action = () =>
      grantRecordKey({ practiceId: 'A81001', recordKey: inconsistent, recipientBoxPublicKey: staff.boxPublicKey, granterSignSecretKey: admin.signSecretKey });

    expect(errorCodeOf(action)).toBe('key_mismatch');
  });
});

describe('signRecordKeyCurrent', () => {
  function aCurrentStatement() {
    const root = generatePracticeRootKey();
    const fields: RecordKeyCurrentFields = { practiceId: 'A81001', version: 2, publicKey: createRecordKey(2).boxPublicKey, issuedAt: Date.UTC(2026, 2, 1) };
    return { root, fields, signature: signRecordKeyCurrent(fields, root.signSecretKey) };
  }

  it('makes a statement that verifies against the root key only', () => {
    const { root, fields, signature } = aCurrentStatement();

    expect(errorCodeOf(() => verifyRecordKeyCurrent(fields, signature, root.signPublicKey))).toBe('no error');
    expect(errorCodeOf(() => verifyRecordKeyCurrent(fields, signature, generatePracticeRootKey().signPublicKey))).toBe('bad_certificate');
  });

  it.each<[string, (fields: RecordKeyCurrentFields) => Partial<RecordKeyCurrentFields>]>([
    ['practice id', () => ({ practiceId: 'B82002' })],
    ['version', () => ({ version: 1 })],
    ['public key', (fields) => ({ publicKey: flipped(fields.publicKey, 16) })],
    ['issue time', (fields) => ({ issuedAt: fields.issuedAt - 1 })],
  ])('fails as bad_certificate when the %s changes', (_field, change) => {
    const { root, fields, signature } = aCurrentStatement();

    expect(errorCodeOf(() => verifyRecordKeyCurrent({ ...fields, ...change(fields) }, signature, root.signPublicKey))).toBe('bad_certificate');
  });

  it('fails as bad_certificate for a flipped signature bit', () => {
    const { root, fields, signature } = aCurrentStatement();

    expect(errorCodeOf(() => verifyRecordKeyCurrent(fields, flipped(signature, 63), root.signPublicKey))).toBe('bad_certificate');
  });

  it('is not a record key certificate of the same key (another prefix)', () => {
    const { root, fields, signature } = aCurrentStatement();

    const asCertificate = { practiceId: fields.practiceId, version: fields.version, publicKey: fields.publicKey, validFrom: fields.issuedAt, signature };

    expect(errorCodeOf(() => verifyRecordKeyCertificate(asCertificate, root.signPublicKey))).toBe('bad_certificate');
  });

  it('refuses keys and signatures of the wrong length as invalid_length, and version 0 as invalid_input', () => {
    const { root, fields, signature } = aCurrentStatement();

    expect(errorCodeOf(() => signRecordKeyCurrent(fields, root.signPublicKey))).toBe('invalid_length');
    expect(errorCodeOf(() => signRecordKeyCurrent({ ...fields, publicKey: new Uint8Array(31) }, root.signSecretKey))).toBe('invalid_length');
    expect(errorCodeOf(() => verifyRecordKeyCurrent(fields, signature.subarray(0, 32), root.signPublicKey))).toBe('invalid_length');
    expect(errorCodeOf(() => verifyRecordKeyCurrent(fields, signature, new Uint8Array(0)))).toBe('invalid_length');
    expect(errorCodeOf(() => signRecordKeyCurrent({ ...fields, version: 0 }, root.signSecretKey))).toBe('invalid_input');
  });
});
