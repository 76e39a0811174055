import type { PassphraseKeys } from '../src/index.js';
import {
  BACKUP_BLOB_BYTES,
  deriveAccountKeys,
  generatePatientAccountKeys,
  generatePracticeRootKey,
  newSalt,
  openBackup,
  readBackupHeader,
  ready,
  sealBackup,
  TEST_KDF_PARAMS,
} from '../src/index.js';
import { aUuid, errorCodeOf, flipped } from './factories.js';

await ready();

function aBackup() {
  const userId = aUuid();
  const pak = generatePatientAccountKeys();
  const pinnedRoot = generatePracticeRootKey().signPublicKey;
  const passphraseKeys = deriveAccountKeys('tulip fence canvas deal proud garage', newSalt(), TEST_KDF_PARAMS);
  const blob = sealBackup({ userId, backupVersion: 7, accountKeys: pak, pinnedRoot, passphraseKeys });
  return { userId, pak, pinnedRoot, passphraseKeys, blob };
}

describe('sealBackup', () => {
  it('makes a 208-byte blob whose header carries version, cost and salt', () => {
    const { blob, passphraseKeys } = aBackup();

    const header = readBackupHeader(blob);

    expect(blob).toHaveLength(BACKUP_BLOB_BYTES);
    expect(BACKUP_BLOB_BYTES).toBe(208);
    expect(header).toEqual({ backupVersion: 7, salt: passphraseKeys.salt, params: { opsLimit: TEST_KDF_PARAMS.opsLimit, memLimit: TEST_KDF_PARAMS.memLimit } });
  });

  it('refuses a pinned root that is not 32 bytes as invalid_length', () => {
    const { userId, pak, passphraseKeys } = aBackup();

    const action = () => sealBackup({ userId, backupVersion: 1, accountKeys: pak, pinnedRoot: new Uint8Array(64), passphraseKeys });

    expect(errorCodeOf(action)).toBe('invalid_length');
  });

  it('refuses a missing pinned root as invalid_input', () => {
    const { userId, pak, passphraseKeys } = aBackup();

    const action = () => sealBackup({ userId, backupVersion: 1, accountKeys: pak, pinnedRoot: undefined as unknown as Uint8Array, passphraseKeys });

    expect(errorCodeOf(action)).toBe('invalid_input');
  });

  it('refuses weak passphrase keys without the test-only flag as weak_kdf_params', () => {
    const { userId, pak, pinnedRoot, passphraseKeys } = aBackup();
    const weak = { ...passphraseKeys, params: { opsLimit: TEST_KDF_PARAMS.opsLimit, memLimit: TEST_KDF_PARAMS.memLimit } };

    expect(errorCodeOf(() => sealBackup({ userId, backupVersion: 1, accountKeys: pak, pinnedRoot, passphraseKeys: weak }))).toBe('weak_kdf_params');
  });
});

describe('openBackup', () => {
  it('restores the PAK and the pinned root from the passphrase and the blob header alone', () => {
    const { userId, pak, pinnedRoot, blob } = aBackup();
    const header = readBackupHeader(blob);
    const keys = deriveAccountKeys('tulip fence canvas deal proud garage', header.salt, { ...header.params, isTestOnly: true });

    const restored = openBackup({ blob, userId, passphraseKeys: keys });

    expect(restored).toEqual({ accountKeys: pak, pinnedRoot });
  });

  it('fails as wrong_passphrase when any ciphertext byte, including the sealed root, is altered', () => {
    const { userId, blob, passphraseKeys } = aBackup();

    // header 40 ‖ nonce 24 ‖ sign sk 64 ‖ box sk 32 ‖ root 32 ‖ tag 16: the stream cipher keeps positions.
    for (const index of [64, 128, 160, 191, 207]) {
      expect(errorCodeOf(() => openBackup({ blob: flipped(blob, index), userId, passphraseKeys }))).toBe('wrong_passphrase');
    }
  });

  it('fails as wrong_passphrase when the nonce is altered', () => {
    const { userId, blob, passphraseKeys } = aBackup();

    expect(errorCodeOf(() => openBackup({ blob: flipped(blob, 40), userId, passphraseKeys }))).toBe('wrong_passphrase');
  });

  it('fails as wrong_passphrase for a wrong passphrase', () => {
    const { userId, blob, passphraseKeys } = aBackup();
    const wrong = deriveAccountKeys('tulip fence canvas deal proud garag', passphraseKeys.salt, TEST_KDF_PARAMS);

    expect(errorCodeOf(() => openBackup({ blob, userId, passphraseKeys: wrong }))).toBe('wrong_passphrase');
  });

  it('fails as wrong_passphrase for another user id or an altered ciphertext', () => {
    const { userId, blob, passphraseKeys } = aBackup();

    expect(errorCodeOf(() => openBackup({ blob, userId: aUuid(), passphraseKeys }))).toBe('wrong_passphrase');
    expect(errorCodeOf(() => openBackup({ blob: flipped(blob, -1), userId, passphraseKeys }))).toBe('wrong_passphrase');
  });

  it('fails as wrong_passphrase when the backup version in the header is altered', () => {
    const { userId, blob, passphraseKeys } = aBackup();

    expect(errorCodeOf(() => openBackup({ blob: flipped(blob, 3), userId, passphraseKeys }))).toBe('wrong_passphrase');
  });

  it('refuses keys derived with another salt or cost than the blob as invalid_input', () => {
    const { userId, blob, passphraseKeys } = aBackup();
    const otherSalt: PassphraseKeys = { ...passphraseKeys, salt: newSalt() };

    expect(errorCodeOf(() => openBackup({ blob, userId, passphraseKeys: otherSalt }))).toBe('invalid_input');
    expect(errorCodeOf(() => openBackup({ blob: flipped(blob, 15), userId, passphraseKeys }))).toBe('invalid_input');
  });

  it('refuses a blob of the wrong length as invalid_length and an unknown algorithm as invalid_input', () => {
    const { userId, blob, passphraseKeys } = aBackup();

    expect(errorCodeOf(() => openBackup({ blob: blob.subarray(1), userId, passphraseKeys }))).toBe('invalid_length');
    expect(errorCodeOf(() => openBackup({ blob: new Uint8Array([...blob, 0]), userId, passphraseKeys }))).toBe('invalid_length');
    expect(errorCodeOf(() => readBackupHeader(flipped(blob, 7)))).toBe('invalid_input');
  });

  it('no longer reads a 176-byte v1 blob (invalid_length)', () => {
    const { userId, blob, passphraseKeys } = aBackup();
    const v1Sized = blob.slice(0, 176);

    expect(errorCodeOf(() => readBackupHeader(v1Sized))).toBe('invalid_length');
    expect(errorCodeOf(() => openBackup({ blob: v1Sized, userId, passphraseKeys }))).toBe('invalid_length');
  });
});
