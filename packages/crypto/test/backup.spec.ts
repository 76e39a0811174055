import type { PassphraseKeys } from '../src/index.js';
import {
  BACKUP_BLOB_BYTES,
  deriveAccountKeys,
  generatePatientAccountKeys,
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
  const passphraseKeys = deriveAccountKeys('tulip fence canvas deal proud garage', newSalt(), TEST_KDF_PARAMS);
  const blob = sealBackup({ userId, backupVersion: 7, accountKeys: pak, passphraseKeys });
  return { userId, pak, passphraseKeys, blob };
}

describe('sealBackup', () => {
  it('makes a 176-byte blob whose header carries version, cost and salt', () => {
    const { blob, passphraseKeys } = aBackup();

    const header = readBackupHeader(blob);

    expect(blob).toHaveLength(BACKUP_BLOB_BYTES);
    expect(BACKUP_BLOB_BYTES).toBe(176);
    expect(header).toEqual({ backupVersion: 7, salt: passphraseKeys.salt, params: { opsLimit: TEST_KDF_PARAMS.opsLimit, memLimit: TEST_KDF_PARAMS.memLimit } });
  });
});

describe('openBackup', () => {
  it('restores the PAK from the passphrase and the blob header alone', () => {
    const { userId, pak, blob } = aBackup();
    const header = readBackupHeader(blob);
    const keys = deriveAccountKeys('tulip fence canvas deal proud garage', header.salt, { ...header.params, isTestOnly: true });

    const restored = openBackup({ blob, userId, passphraseKeys: keys });

    expect(restored).toEqual(pak);
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
    expect(errorCodeOf(() => readBackupHeader(flipped(blob, 7)))).toBe('invalid_input');
  });
});
