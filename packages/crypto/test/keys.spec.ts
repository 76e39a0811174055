import { createRecordKey, fingerprint, generateDeviceKeys, generatePatientAccountKeys, generatePracticeRootKey, keyId, ready } from '../src/index.js';
import { errorCodeOf, hexOf } from './factories.js';

await ready();

describe('keyId', () => {
  it('returns 16 bytes that differ between keys', () => {
    const a = generateDeviceKeys();
    const b = generateDeviceKeys();

    expect(keyId(a.boxPublicKey)).toHaveLength(16);
    expect(hexOf(keyId(a.boxPublicKey))).not.toBe(hexOf(keyId(b.boxPublicKey)));
  });

  it.each([0, 31, 33, 64])('refuses a %i-byte public key as invalid_length', (length) => {
    expect(errorCodeOf(() => keyId(new Uint8Array(length)))).toBe('invalid_length');
  });
});

describe('fingerprint', () => {
  it('is 8 groups of 5 decimal digits', () => {
    const root = generatePracticeRootKey();

    expect(fingerprint(root.signPublicKey)).toMatch(/^\d{5}( \d{5}){7}$/);
  });

  it('differs for keys that differ in one bit', () => {
    const key = generatePracticeRootKey().signPublicKey;
    const other = key.slice();
    other[0] = (other[0] ?? 0) ^ 1;

    expect(fingerprint(key)).not.toBe(fingerprint(other));
  });

  it('refuses a wrong-length key as invalid_length', () => {
    expect(errorCodeOf(() => fingerprint(new Uint8Array(31)))).toBe('invalid_length');
  });
});

describe('generateDeviceKeys', () => {
  it('makes 32-byte public keys, a 64-byte Ed25519 secret and a 32-byte X25519 secret', () => {
    const keys = generateDeviceKeys();

    expect([keys.signPublicKey.length, keys.signSecretKey.length, keys.boxPublicKey.length, keys.boxSecretKey.length]).toEqual([32, 64, 32, 32]);
  });

  it('is deterministic from a seed and random without one', () => {
    const seed = new Uint8Array(32).fill(9);

    expect(generateDeviceKeys(seed)).toEqual(generateDeviceKeys(seed));
    expect(hexOf(generateDeviceKeys().signPublicKey)).not.toBe(hexOf(generateDeviceKeys().signPublicKey));
  });

  it('does not wipe or keep the caller seed', () => {
    const seed = new Uint8Array(32).fill(9);

    generatePatientAccountKeys(seed);

    expect(seed).toEqual(new Uint8Array(32).fill(9));
  });

  it('refuses a 16-byte seed as invalid_length', () => {
    expect(errorCodeOf(() => generateDeviceKeys(new Uint8Array(16)))).toBe('invalid_length');
  });
});

describe('createRecordKey', () => {
  it('derives the X25519 pair from its seed', () => {
    const key = createRecordKey(1);

    expect(createRecordKey(1, key.seed).boxPublicKey).toEqual(key.boxPublicKey);
  });

  it.each([0, -1, 1.5])('refuses version %p as invalid_input', (version) => {
    expect(errorCodeOf(() => createRecordKey(version))).toBe('invalid_input');
  });
});
