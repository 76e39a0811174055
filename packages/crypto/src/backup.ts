// The PAK backup blob (docs/crypto.md "Passphrase, auth key and backup", flow A), v2. The blob is the only long-term home of
// the PAK secret keys and the device-independent copy of the pinned practice root key: a new device
// pins the root from here, never from a server answer. The server stores it with its KDF parameters
// and cannot open it.
// Layout: u32(backup_version) ‖ u32(alg) ‖ u64(ops) ‖ u64(mem) ‖ salt(16) ‖ nonce(24) ‖ ciphertext(144),
// where the first 40 bytes (the header) are also the tail of the AD and the plaintext is
// PAK_sign_sk(64) ‖ PAK_box_sk(32) ‖ pinned_root_pk(32).
import { ByteReader } from './byte-reader.js';
import { ascii, concat, lpUuid, requireBytes, u32, u64 } from './bytes.js';
import { CryptoError } from './crypto-error.js';
import type { IdentityKeys } from './keys.js';
import { BOX_SECRET_KEY_BYTES, PUBLIC_KEY_BYTES, requireCounter, SIGN_SECRET_KEY_BYTES } from './keys.js';
import type { KdfParams, PassphraseKeys } from './passphrase.js';
import { requireKdfParams, SALT_BYTES } from './passphrase.js';
import { aeadDecrypt, aeadEncrypt, ARGON2ID13, boxPublicFromSecret, equalBytes, randomBytes, signSeedKeyPair, wipe } from './sodium.js';

const BACKUP_PREFIX = ascii('parley/v2/backup');
const HEADER_BYTES = 4 + 4 + 8 + 8 + SALT_BYTES;
const NONCE_BYTES = 24;
const PLAINTEXT_BYTES = SIGN_SECRET_KEY_BYTES + BOX_SECRET_KEY_BYTES + PUBLIC_KEY_BYTES;
/** Size of every (v2) backup blob: a 40-byte header, a 24-byte nonce and 144 bytes of ciphertext; v1's 176-byte blobs are refused. */
export const BACKUP_BLOB_BYTES = HEADER_BYTES + NONCE_BYTES + PLAINTEXT_BYTES + 16;

/** What sealBackup seals. */
export interface BackupContents {
  userId: string;
  /** A generation number (≥ 1), raised each time the client re-seals (a passphrase change). */
  backupVersion: number;
  accountKeys: IdentityKeys;
  /** The practice root's Ed25519 public key, as pinned from the invitation (32 bytes). */
  pinnedRoot: Uint8Array;
  passphraseKeys: PassphraseKeys;
}

/** What openBackup restores; the public keys are recomputed from the secrets. */
export interface OpenedBackup {
  accountKeys: IdentityKeys;
  pinnedRoot: Uint8Array;
}

/** What a blob says about itself: enough to re-derive its key from the passphrase. */
export interface BackupHeader {
  backupVersion: number;
  salt: Uint8Array;
  params: Pick<KdfParams, 'opsLimit' | 'memLimit'>;
}

/**
 * Encrypts the PAK secret keys and the pinned root key under the backup key, binding user id, version, algorithm, cost and salt as AD.
 * @throws CryptoError `invalid_length`, `invalid_input`, `weak_kdf_params`, `not_ready`
 */
export function sealBackup(input: BackupContents): Uint8Array {
  return sealBackupWithNonce(input, randomBytes(NONCE_BYTES));
}

/**
 * Reads a blob's header so the caller can derive its keys (deriveAccountKeys refuses costs below the default).
 * @throws CryptoError `invalid_length`, `invalid_input`
 */
export function readBackupHeader(blob: Uint8Array): BackupHeader {
  requireBytes(blob, BACKUP_BLOB_BYTES, 'blob');
  const reader = new ByteReader(blob, 'invalid_length');
  const backupVersion = reader.u32();
  const alg = reader.u32();
  const opsLimit = reader.u64();
  const memLimit = reader.u64();
  const salt = reader.take(SALT_BYTES);
  if (alg !== ARGON2ID13) throw new CryptoError('invalid_input', 'backup uses an unknown KDF algorithm');
  if (backupVersion < 1 || opsLimit > BigInt(Number.MAX_SAFE_INTEGER) || memLimit > BigInt(Number.MAX_SAFE_INTEGER)) {
    throw new CryptoError('invalid_input', 'backup header is out of range');
  }
  return { backupVersion, salt, params: { opsLimit: Number(opsLimit), memLimit: Number(memLimit) } };
}

/**
 * Decrypts the PAK secret keys and the pinned root; the caller then pins that root and checks the PAK against its signed chain.
 * @throws CryptoError `wrong_passphrase`, `decrypt_failed`, `invalid_length`, `invalid_input`, `not_ready`
 */
export function openBackup(input: { blob: Uint8Array; userId: string; passphraseKeys: PassphraseKeys }): OpenedBackup {
  const { blob, passphraseKeys } = input;
  const header = readBackupHeader(blob);
  requireBytes(passphraseKeys.backupKey, 32, 'backupKey');
  if (
    !equalBytes(header.salt, passphraseKeys.salt) ||
    header.params.opsLimit !== passphraseKeys.params.opsLimit ||
    header.params.memLimit !== passphraseKeys.params.memLimit
  ) {
    throw new CryptoError('invalid_input', 'passphrase keys were derived with another salt or cost than this blob');
  }
  const ad = concat(BACKUP_PREFIX, lpUuid(input.userId, 'userId'), blob.subarray(0, HEADER_BYTES));
  const nonce = blob.subarray(HEADER_BYTES, HEADER_BYTES + NONCE_BYTES);

  const plaintext = aeadDecrypt(blob.subarray(HEADER_BYTES + NONCE_BYTES), ad, nonce, passphraseKeys.backupKey);
  // Authenticated decryption cannot tell a wrong passphrase from a tampered blob; the first is far likelier.
  if (plaintext === null) throw new CryptoError('wrong_passphrase', 'backup does not open with this passphrase');
  const signSecretKey = plaintext.slice(0, SIGN_SECRET_KEY_BYTES);
  const boxSecretKey = plaintext.slice(SIGN_SECRET_KEY_BYTES, SIGN_SECRET_KEY_BYTES + BOX_SECRET_KEY_BYTES);
  const pinnedRoot = plaintext.slice(SIGN_SECRET_KEY_BYTES + BOX_SECRET_KEY_BYTES);
  wipe(plaintext);
  const signPublicKey = signSecretKey.slice(32);
  const seed = signSecretKey.slice(0, 32);
  const isConsistent = equalBytes(signSeedKeyPair(seed).publicKey, signPublicKey);
  wipe(seed);
  if (!isConsistent) throw new CryptoError('decrypt_failed', 'backup holds an inconsistent signing key');
  return { accountKeys: { signPublicKey, signSecretKey, boxPublicKey: boxPublicFromSecret(boxSecretKey), boxSecretKey }, pinnedRoot };
}

/** Internal (not in index.ts): sealBackup with a caller-chosen nonce, for test vectors only. */
export function sealBackupWithNonce(input: BackupContents, nonce: Uint8Array): Uint8Array {
  const { accountKeys, passphraseKeys } = input;
  requireBytes(nonce, NONCE_BYTES, 'nonce');
  requireBytes(passphraseKeys.backupKey, 32, 'backupKey');
  requireBytes(passphraseKeys.salt, SALT_BYTES, 'salt');
  const params = requireKdfParams(passphraseKeys.params);
  const header = concat(
    u32(requireCounter(input.backupVersion, 'backupVersion'), 'backupVersion'),
    u32(ARGON2ID13, 'alg'),
    u64(params.opsLimit, 'opsLimit'),
    u64(params.memLimit, 'memLimit'),
    passphraseKeys.salt,
  );
  const ad = concat(BACKUP_PREFIX, lpUuid(input.userId, 'userId'), header);
  const plaintext = concat(
    requireBytes(accountKeys.signSecretKey, SIGN_SECRET_KEY_BYTES, 'signSecretKey'),
    requireBytes(accountKeys.boxSecretKey, BOX_SECRET_KEY_BYTES, 'boxSecretKey'),
    requireBytes(input.pinnedRoot, PUBLIC_KEY_BYTES, 'pinnedRoot'),
  );

  const ciphertext = aeadEncrypt(plaintext, ad, nonce, passphraseKeys.backupKey);
  wipe(plaintext);
  return concat(header, nonce, ciphertext);
}
