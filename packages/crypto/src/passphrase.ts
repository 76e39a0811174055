// One passphrase per user, never sent anywhere: Argon2id turns it into a master key K, and K into
// an auth key (sent at sign-in; the server stores only crypto_pwhash_str of it) and a backup key
// (encrypts the PAK backup blob). The server can neither sign in as the user nor open the blob.
import { requireBytes, requireInteger } from './bytes.js';
import { CryptoError } from './crypto-error.js';
import { argon2id, kdfDerive, PWHASH_MEMLIMIT_MIN, PWHASH_OPSLIMIT_MIN, randomBytes, wipe } from './sodium.js';

/** Size of the Argon2id salt (crypto_pwhash_SALTBYTES). */
export const SALT_BYTES = 16;
const MASTER_KEY_BYTES = 32;
const MAX_PASSPHRASE_CHARS = 1024;
/** Caps on parameters read from a (server-supplied) blob header: beyond them a client could be stalled or run out of memory. */
const MAX_OPS_LIMIT = 16;
const MAX_MEM_LIMIT = 1024 * 1024 * 1024;

/**
 * Argon2id cost: passes over memory and bytes of memory. Values below DEFAULT_KDF_PARAMS are
 * refused unless `isTestOnly` is set, which only tests and test vectors may do.
 */
export interface KdfParams {
  opsLimit: number;
  memLimit: number;
  isTestOnly?: true;
}

/** The production minimum and default: 3 passes over 64 MiB (≈ 0.2 s in Node, ≈ 0.6 s in Chromium). */
export const DEFAULT_KDF_PARAMS: Readonly<KdfParams> = Object.freeze({ opsLimit: 3, memLimit: 64 * 1024 * 1024 });

/** libsodium's smallest Argon2id cost (1 pass, 8 KiB), for tests and vectors only; useless against guessing. */
export const TEST_KDF_PARAMS: Readonly<KdfParams> = Object.freeze({
  opsLimit: PWHASH_OPSLIMIT_MIN,
  memLimit: PWHASH_MEMLIMIT_MIN,
  isTestOnly: true,
});

/** The two keys derived from a passphrase, with the salt and cost they were derived with. */
export interface PassphraseKeys {
  /** crypto_kdf subkey 1, context "parleyak": sent at sign-in, hashed by the server. */
  authKey: Uint8Array;
  /** crypto_kdf subkey 2, context "parleybk": encrypts the backup blob; never leaves the device. */
  backupKey: Uint8Array;
  salt: Uint8Array;
  params: Readonly<KdfParams>;
}

/**
 * Makes a random 16-byte Argon2id salt for a new account.
 * @throws CryptoError `not_ready`
 */
export function newSalt(): Uint8Array {
  return randomBytes(SALT_BYTES);
}

/**
 * Derives the auth key and the backup key from a passphrase with Argon2id (NFKC-normalised first).
 * @throws CryptoError `weak_kdf_params`, `invalid_length`, `invalid_input`, `not_ready`
 */
export function deriveAccountKeys(passphrase: string, salt: Uint8Array, params: Readonly<KdfParams> = DEFAULT_KDF_PARAMS): PassphraseKeys {
  requireBytes(salt, SALT_BYTES, 'salt');
  const checked = requireKdfParams(params);
  const password = passphraseBytes(passphrase);

  const master = argon2id(MASTER_KEY_BYTES, password, salt, checked.opsLimit, checked.memLimit);
  const authKey = kdfDerive(32, 1, 'parleyak', master);
  const backupKey = kdfDerive(32, 2, 'parleybk', master);
  wipe(master);
  wipe(password);
  return { authKey, backupKey, salt: salt.slice(), params: checked };
}

export function requireKdfParams(params: Readonly<KdfParams>): Readonly<KdfParams> {
  requireInteger(params.opsLimit, PWHASH_OPSLIMIT_MIN, MAX_OPS_LIMIT, 'opsLimit');
  requireInteger(params.memLimit, PWHASH_MEMLIMIT_MIN, MAX_MEM_LIMIT, 'memLimit');
  const isWeak = params.opsLimit < DEFAULT_KDF_PARAMS.opsLimit || params.memLimit < DEFAULT_KDF_PARAMS.memLimit;
  // A server that serves a weak salt/cost at sign-in would get a cheaply brute-forced auth key back.
  if (isWeak && params.isTestOnly !== true) {
    throw new CryptoError('weak_kdf_params', 'Argon2id parameters are below 3 passes over 64 MiB');
  }
  return Object.freeze(
    params.isTestOnly === true
      ? { opsLimit: params.opsLimit, memLimit: params.memLimit, isTestOnly: true }
      : { opsLimit: params.opsLimit, memLimit: params.memLimit },
  );
}

function passphraseBytes(passphrase: string): Uint8Array {
  if (typeof passphrase !== 'string' || passphrase.length === 0 || passphrase.length > MAX_PASSPHRASE_CHARS) {
    throw new CryptoError('invalid_input', `passphrase must be 1 to ${MAX_PASSPHRASE_CHARS} characters`);
  }
  // NFKC so the same phrase typed on two keyboards (composed or decomposed accents) gives the same key.
  return new TextEncoder().encode(passphrase.normalize('NFKC'));
}
