import { HttpApi } from '@parley/client';
import { CryptoError, DEFAULT_KDF_PARAMS, deriveAccountKeys, fromBase64, newSalt, openBackup, readBackupHeader, ready, type KdfParams } from '@parley/crypto';
import { AccountFlowError } from './accounts.js';

const MiB = 1024 * 1024;

/**
 * The device lock's Argon2id cost: 3 passes over 64 MiB, the sign-in derivation's, so a guess against a
 * copied browser profile costs what a guess against the server's auth-key hash costs (≈ 0.4 s in Chromium on
 * the development machine), and an old phone can still afford it at every unlock (docs/crypto.md, "The device lock").
 */
export const DEVICE_LOCK_KDF_PARAMS: Readonly<KdfParams> = DEFAULT_KDF_PARAMS;

/** The most a stored lock may ask for: the cost is read back from the browser's storage, which must not be able to stall the page. */
const DEVICE_LOCK_MAX_KDF = Object.freeze({ opsLimit: 8, memLimit: 256 * MiB });

/** How a device lock key was derived (kept beside what it seals, never secret). */
export interface DeviceLockKdf {
  salt: Uint8Array;
  opsLimit: number;
  memLimitBytes: number;
}

/**
 * Derives the patient app's device lock key from the passphrase: Argon2id (NFKC-normalised passphrase) with a
 * salt of this device's own, never the sign-in salt, then the derivation's second subkey (`parleybk`). No key,
 * salt or intermediate value is shared with the sign-in derivation, so the server's auth-key hash says nothing
 * about it, and it needs nothing from the server: unlocking works offline. Without `kdf` a new salt is drawn
 * (a new lock, at sign-in or activation); with it, the stored lock's salt and cost are used again (unlock).
 * The caller owns the 32 key bytes and should overwrite them once used (the web vault's `SecretLock` does).
 * @throws AccountFlowError `invalid_payload` (a stored cost below 3 passes over 64 MiB or above 8 passes over 256 MiB, a malformed salt, a passphrase over 1,024 characters), `invalid_input` (an empty passphrase)
 */
export async function deriveDeviceLockKey(passphrase: string, kdf?: DeviceLockKdf): Promise<{ key: Uint8Array; kdf: DeviceLockKdf }> {
  await ready();
  const params: Readonly<KdfParams> = kdf ? { opsLimit: kdf.opsLimit, memLimit: kdf.memLimitBytes } : DEVICE_LOCK_KDF_PARAMS;
  if (params.opsLimit > DEVICE_LOCK_MAX_KDF.opsLimit || params.memLimit > DEVICE_LOCK_MAX_KDF.memLimit) {
    throw new AccountFlowError('invalid_payload', 'the device lock asks for more Argon2id cost than a lock may');
  }
  if (typeof passphrase !== 'string' || passphrase.length === 0) throw new AccountFlowError('invalid_input', 'the passphrase is empty');
  try {
    const derived = deriveAccountKeys(passphrase, kdf ? kdf.salt : newSalt(), params);
    derived.authKey.fill(0);
    return { key: derived.backupKey, kdf: { salt: derived.salt, opsLimit: derived.params.opsLimit, memLimitBytes: derived.params.memLimit } };
  } catch (error) {
    if (!(error instanceof CryptoError)) throw error;
    // A stored lock below the floor (weak_kdf_params), with a salt of the wrong size or a cost that is no integer was not written by this app.
    throw new AccountFlowError('invalid_payload', `device lock: ${error.message}`);
  }
}

/**
 * Checks a signed-in patient's passphrase against their own encrypted key backup, without a new
 * sign-in: downloads the blob, derives the backup key with the blob's own salt and cost, and tries to
 * open it. Resolves false for a wrong passphrase; the passphrase never leaves the device. Downloads are
 * rate-limited and audited by the gateway. The patient app uses it once, to move a vault kept before the
 * device lock (which holds no lock to open) to one (docs/patient-client.md, "Where keys live").
 * @throws AccountFlowError with the gateway's code (`unauthorized`, `rate_limited`, `network` …)
 */
export async function verifyPatientPassphrase(input: { baseUrl: string; token: string; userId: string; passphrase: string }): Promise<boolean> {
  await ready();
  const backup = await new HttpApi({ baseUrl: input.baseUrl, token: input.token }).getBackup();
  if (!backup.ok) throw AccountFlowError.of(backup.error, 'download backup');
  const blob = fromBase64(backup.data.backup);
  const header = readBackupHeader(blob);
  const passphraseKeys = deriveAccountKeys(input.passphrase, header.salt, header.params);
  try {
    openBackup({ blob, userId: input.userId, passphraseKeys });
    return true;
  } catch (error) {
    if (error instanceof CryptoError) return false;
    throw error;
  }
}
