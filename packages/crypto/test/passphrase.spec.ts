import { checkPassphraseStrength, DEFAULT_KDF_PARAMS, deriveAccountKeys, generatePassphrase, newSalt, ready, TEST_KDF_PARAMS } from '../src/index.js';
import { PASSPHRASE_WORDS } from '../src/passphrase-words.js';
import { errorCodeOf, hexOf } from './factories.js';

await ready();

describe('deriveAccountKeys', () => {
  it('derives two different 32-byte keys, the same again for the same passphrase and salt', () => {
    const salt = newSalt();

    const first = deriveAccountKeys('a long passphrase here', salt, TEST_KDF_PARAMS);
    const again = deriveAccountKeys('a long passphrase here', salt, TEST_KDF_PARAMS);

    expect(first.authKey).toHaveLength(32);
    expect(hexOf(first.authKey)).not.toBe(hexOf(first.backupKey));
    expect(again).toEqual(first);
  });

  it('derives other keys from another salt or passphrase', () => {
    const salt = newSalt();
    const base = deriveAccountKeys('a long passphrase here', salt, TEST_KDF_PARAMS);

    const otherSalt = deriveAccountKeys('a long passphrase here', newSalt(), TEST_KDF_PARAMS);
    const otherPhrase = deriveAccountKeys('a long passphrase herE', salt, TEST_KDF_PARAMS);

    expect(hexOf(otherSalt.authKey)).not.toBe(hexOf(base.authKey));
    expect(hexOf(otherPhrase.authKey)).not.toBe(hexOf(base.authKey));
  });

  it('gives composed and decomposed accents the same keys (NFKC)', () => {
    const salt = newSalt();

    const composed = deriveAccountKeys('caf\u00e9 au lait', salt, TEST_KDF_PARAMS);
    const decomposed = deriveAccountKeys('cafe\u0301 au lait', salt, TEST_KDF_PARAMS);

    expect(decomposed.authKey).toEqual(composed.authKey);
  });

  it('refuses costs below 3 passes over 64 MiB without the test-only flag as weak_kdf_params', () => {
    const salt = newSalt();

    expect(errorCodeOf(() => deriveAccountKeys('pass', salt, { opsLimit: 2, memLimit: 64 * 1024 * 1024 }))).toBe('weak_kdf_params');
    expect(errorCodeOf(() => deriveAccountKeys('pass', salt, { opsLimit: 3, memLimit: 32 * 1024 * 1024 }))).toBe('weak_kdf_params');
  });

  it('refuses absurd costs, an empty passphrase and a short salt as typed errors', () => {
    expect(errorCodeOf(() => deriveAccountKeys('pass', newSalt(), { opsLimit: 3, memLimit: 8 * 1024 * 1024 * 1024 }))).toBe('invalid_input');
    expect(errorCodeOf(() => deriveAccountKeys('', newSalt(), TEST_KDF_PARAMS))).toBe('invalid_input');
    expect(errorCodeOf(() => deriveAccountKeys('pass', new Uint8Array(8), TEST_KDF_PARAMS))).toBe('invalid_length');
  });

  it('runs with the default cost (3 passes, 64 MiB) in under 5 s', () => {
    const started = performance.now();

    const keys = deriveAccountKeys('the default cost is slow on purpose', newSalt());

    const elapsedMs = performance.now() - started;
    expect(keys.params).toEqual(DEFAULT_KDF_PARAMS);
    expect(elapsedMs).toBeLessThan(5000);
    // Measured ≈ 0.2–0.4 s in Node 20 on 2 cores; the browser is about three times slower.
  });
});

describe('generatePassphrase', () => {
  it('draws six words from the shipped list', () => {
    const words = new Set(PASSPHRASE_WORDS);

    const phrase = generatePassphrase();

    expect(phrase.split(' ')).toHaveLength(6);
    expect(phrase.split(' ').every((word) => words.has(word))).toBe(true);
  });

  it('ships a list of 1,203 distinct lower-case words (about 61 bits for six)', () => {
    expect(new Set(PASSPHRASE_WORDS).size).toBe(1203);
    expect(PASSPHRASE_WORDS.every((word) => /^[a-z]{3,7}$/.test(word))).toBe(true);
    expect(6 * Math.log2(PASSPHRASE_WORDS.length)).toBeGreaterThan(61);
  });

  it('does not repeat itself', () => {
    const phrases = new Set(Array.from({ length: 50 }, () => generatePassphrase()));

    expect(phrases.size).toBe(50);
  });
});

describe('checkPassphraseStrength', () => {
  it('accepts a generated phrase', () => {
    expect(checkPassphraseStrength(generatePassphrase())).toEqual({ isAcceptable: true, isGenerated: true, reasons: [] });
  });

  it('accepts a user phrase of 15 or more characters without a pattern', () => {
    expect(checkPassphraseStrength('my cat sleeps on the piano')).toEqual({ isAcceptable: true, isGenerated: false, reasons: [] });
  });

  it.each([
    ['too_short', 'tulip fence 7'],
    ['too_few_distinct_characters', 'aaaaabbbbbaaaaabbbbb'],
    ['common_password', 'P@ssw0rd!P@ssw0rd!'],
    ['sequence', 'my code is 123456 ok?'],
    ['sequence', 'qwertyuiop and more'],
  ])('gives the reason %s for %p', (reason, phrase) => {
    const result = checkPassphraseStrength(phrase);

    expect(result.isAcceptable).toBe(false);
    expect(result.reasons).toContain(reason);
  });

  it('counts characters, not UTF-16 units', () => {
    expect(checkPassphraseStrength('🐱🐶🐭🐹🐰🦊🐻🐼🐨🐯🦁🐮🐷🐸').reasons).toContain('too_short');
  });
});
