import type { AdminKeyFields, RootSuccessorFields } from '../src/index.js';
import { certifyAdminKey, generatePracticeRootKey, ready, signRootSuccessor, verifyAdminKeyCertificate, verifyRootSuccessor } from '../src/index.js';
import { aUuid, errorCodeOf, flipped } from './factories.js';

await ready();

function aCertifiedAdminKey(overrides: Partial<AdminKeyFields> = {}) {
  const root = generatePracticeRootKey();
  const admin = generatePracticeRootKey();
  const fields: AdminKeyFields = {
    practiceId: 'A81001',
    adminKeyId: aUuid(),
    signPublicKey: admin.signPublicKey,
    issuedAt: Date.UTC(2026, 2, 1),
    ...overrides,
  };
  return { root, admin, fields, certificate: certifyAdminKey(fields, root.signSecretKey) };
}

function aSuccession() {
  const previous = generatePracticeRootKey();
  const next = generatePracticeRootKey();
  const fields: RootSuccessorFields = {
    practiceId: 'A81001',
    previousSignPublicKey: previous.signPublicKey,
    signPublicKey: next.signPublicKey,
    issuedAt: Date.UTC(2026, 3, 1),
  };
  return { previous, next, fields, signature: signRootSuccessor(fields, previous.signSecretKey) };
}

describe('verifyAdminKeyCertificate', () => {
  it('accepts a certificate under the root that signed it, whatever the case of the id', () => {
    const { root, fields, certificate } = aCertifiedAdminKey();

    expect(errorCodeOf(() => verifyAdminKeyCertificate({ ...fields, adminKeyId: fields.adminKeyId.toUpperCase() }, certificate, root.signPublicKey))).toBe(
      'no error',
    );
  });

  it('fails as bad_certificate for an admin key the root never certified (signed by the admin key itself)', () => {
    const { root, admin, fields } = aCertifiedAdminKey();

    const selfSigned = certifyAdminKey(fields, admin.signSecretKey);

    expect(errorCodeOf(() => verifyAdminKeyCertificate(fields, selfSigned, root.signPublicKey))).toBe('bad_certificate');
  });

  it('fails as bad_certificate for a flipped signature bit', () => {
    const { root, fields, certificate } = aCertifiedAdminKey();

    expect(errorCodeOf(() => verifyAdminKeyCertificate(fields, flipped(certificate, 3), root.signPublicKey))).toBe('bad_certificate');
  });

  it.each<[string, (fields: AdminKeyFields) => AdminKeyFields]>([
    ['the practice changes', (fields) => ({ ...fields, practiceId: 'B82002' })],
    ['the admin key id changes', (fields) => ({ ...fields, adminKeyId: aUuid() })],
    ['the key is swapped', (fields) => ({ ...fields, signPublicKey: generatePracticeRootKey().signPublicKey })],
    ['the issue time changes', (fields) => ({ ...fields, issuedAt: fields.issuedAt + 1 })],
  ])('fails as bad_certificate when %s', (_what, tamper) => {
    const { root, fields, certificate } = aCertifiedAdminKey();

    expect(errorCodeOf(() => verifyAdminKeyCertificate(tamper(fields), certificate, root.signPublicKey))).toBe('bad_certificate');
  });

  it('refuses ids that are not UUIDs and keys of the wrong size before signing', () => {
    const { root, fields } = aCertifiedAdminKey();

    expect(errorCodeOf(() => certifyAdminKey({ ...fields, adminKeyId: 'admin-1' }, root.signSecretKey))).toBe('invalid_input');
    expect(errorCodeOf(() => certifyAdminKey({ ...fields, signPublicKey: new Uint8Array(31) }, root.signSecretKey))).toBe('invalid_length');
    expect(errorCodeOf(() => certifyAdminKey(fields, root.signPublicKey))).toBe('invalid_length');
  });
});

describe('verifyRootSuccessor', () => {
  it('accepts the statement under the previous root it names', () => {
    const { fields, signature } = aSuccession();

    expect(errorCodeOf(() => verifyRootSuccessor(fields, signature))).toBe('no error');
  });

  it('fails as bad_certificate when the statement is re-labelled as coming from another root (a server naming its own root)', () => {
    const { fields, next } = aSuccession();
    const forger = generatePracticeRootKey();

    const forged = signRootSuccessor({ ...fields, previousSignPublicKey: forger.signPublicKey }, forger.signSecretKey);

    expect(errorCodeOf(() => verifyRootSuccessor({ ...fields, signPublicKey: next.signPublicKey }, forged))).toBe('bad_certificate');
  });

  it.each<[string, (fields: RootSuccessorFields) => RootSuccessorFields]>([
    ['the practice changes', (fields) => ({ ...fields, practiceId: 'B82002' })],
    ['the successor is swapped', (fields) => ({ ...fields, signPublicKey: generatePracticeRootKey().signPublicKey })],
    ['the issue time changes', (fields) => ({ ...fields, issuedAt: fields.issuedAt - 1 })],
  ])('fails as bad_certificate when %s', (_what, tamper) => {
    const { fields, signature } = aSuccession();

    expect(errorCodeOf(() => verifyRootSuccessor(tamper(fields), signature))).toBe('bad_certificate');
  });

  it('cannot be read the other way round: the new root does not vouch for the old one', () => {
    const { fields, signature } = aSuccession();

    const reversed = { ...fields, previousSignPublicKey: fields.signPublicKey, signPublicKey: fields.previousSignPublicKey };

    expect(errorCodeOf(() => verifyRootSuccessor(reversed, signature))).toBe('bad_certificate');
  });

  it('refuses to sign with a key that is not the previous root, or a root succeeding itself', () => {
    const { previous, next, fields } = aSuccession();

    expect(errorCodeOf(() => signRootSuccessor(fields, next.signSecretKey))).toBe('invalid_input');
    expect(errorCodeOf(() => signRootSuccessor({ ...fields, signPublicKey: previous.signPublicKey }, previous.signSecretKey))).toBe('invalid_input');
  });
});
