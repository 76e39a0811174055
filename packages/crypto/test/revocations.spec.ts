import type { RevocationListFields } from '../src/index.js';
import { generateDeviceKeys, generatePracticeRootKey, ready, signRevocationList, verifyRevocationList } from '../src/index.js';
import { aUuid, errorCodeOf, flipped } from './factories.js';

await ready();

function aSignedList(overrides: Partial<RevocationListFields> = {}) {
  const root = generatePracticeRootKey();
  const fields: RevocationListFields = {
    practiceId: 'A81001',
    version: 3,
    issuedAt: Date.UTC(2026, 1, 1),
    entries: [
      { deviceId: aUuid(), revokedAt: Date.UTC(2026, 0, 10) },
      { deviceId: aUuid(), revokedAt: Date.UTC(2026, 0, 20) },
    ],
    ...overrides,
  };
  return { root, fields, signature: signRevocationList(fields, root.signSecretKey) };
}

describe('verifyRevocationList', () => {
  it('accepts the list under the key that signed it, in any entry order and id case', () => {
    const { root, fields, signature } = aSignedList();
    const reordered = { ...fields, entries: [...fields.entries].reverse().map((entry) => ({ ...entry, deviceId: entry.deviceId.toUpperCase() })) };

    expect(errorCodeOf(() => verifyRevocationList(reordered, signature, root.signPublicKey))).toBe('no error');
  });

  it('accepts an empty list', () => {
    const { root, fields, signature } = aSignedList({ entries: [] });

    expect(errorCodeOf(() => verifyRevocationList(fields, signature, root.signPublicKey))).toBe('no error');
  });

  it('fails as bad_certificate under another key (a list the server signed itself)', () => {
    const { fields, signature } = aSignedList();

    expect(errorCodeOf(() => verifyRevocationList(fields, signature, generateDeviceKeys().signPublicKey))).toBe('bad_certificate');
  });

  it('fails as bad_certificate for a flipped signature bit', () => {
    const { root, fields, signature } = aSignedList();

    expect(errorCodeOf(() => verifyRevocationList(fields, flipped(signature, 10), root.signPublicKey))).toBe('bad_certificate');
  });

  it.each<[string, (fields: RevocationListFields) => RevocationListFields]>([
    ['the practice id changes', (fields) => ({ ...fields, practiceId: 'B82002' })],
    ['the version changes', (fields) => ({ ...fields, version: fields.version + 1 })],
    ['the issue time changes', (fields) => ({ ...fields, issuedAt: fields.issuedAt + 1 })],
    ['an entry is dropped (a device re-listed)', (fields) => ({ ...fields, entries: fields.entries.slice(1) })],
    ['an entry is added', (fields) => ({ ...fields, entries: [...fields.entries, { deviceId: aUuid(), revokedAt: 1 }] })],
    ['a revocation time moves later', (fields) => ({ ...fields, entries: fields.entries.map((entry) => ({ ...entry, revokedAt: entry.revokedAt + 1 })) })],
    [
      'a revoked device id is swapped',
      (fields) => ({ ...fields, entries: fields.entries.map((entry, index) => (index === 0 ? { ...entry, deviceId: aUuid() } : entry)) }),
    ],
  ])('fails as bad_certificate when %s', (_what, tamper) => {
    const { root, fields, signature } = aSignedList();

    expect(errorCodeOf(() => verifyRevocationList(tamper(fields), signature, root.signPublicKey))).toBe('bad_certificate');
  });

  it.each<[string, Partial<RevocationListFields>]>([
    ['version 0', { version: 0 }],
    ['a negative issue time', { issuedAt: -1 }],
    ['a device id that is not a UUID', { entries: [{ deviceId: 'not-a-uuid', revokedAt: 1 }] }],
    ['a fractional revocation time', { entries: [{ deviceId: aUuid(), revokedAt: 1.5 }] }],
    ['an empty practice id', { practiceId: '' }],
  ])('refuses %s as invalid_input', (_what, change) => {
    const root = generatePracticeRootKey();
    const fields: RevocationListFields = { practiceId: 'A81001', version: 1, issuedAt: 1, entries: [], ...change };

    expect(errorCodeOf(() => signRevocationList(fields, root.signSecretKey))).toBe('invalid_input');
  });

  it('refuses a device listed twice, whatever the case of its id', () => {
    const root = generatePracticeRootKey();
    const deviceId = aUuid();
    const fields = {
      practiceId: 'A81001',
      version: 1,
      issuedAt: 1,
      entries: [
        { deviceId, revokedAt: 1 },
        { deviceId: deviceId.toUpperCase(), revokedAt: 2 },
      ],
    };

    expect(errorCodeOf(() => signRevocationList(fields, root.signSecretKey))).toBe('invalid_input');
  });

  it('refuses a short signature as invalid_length', () => {
    const { root, fields, signature } = aSignedList();

    expect(errorCodeOf(() => verifyRevocationList(fields, signature.slice(1), root.signPublicKey))).toBe('invalid_length');
  });
});
