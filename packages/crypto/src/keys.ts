// Key generation, key ids and fingerprints. Where each key lives (docs/crypto.md, "Keys and who holds what"):
// device secret keys in the device's IndexedDB wrapped by a non-extractable WebCrypto key; the PAK
// secret keys only in the passphrase backup blob and transiently in memory; the record key secret
// only in staff memory after opening a grant; the root secret key offline (or, in the first
// version, sealed to manager devices). This module only makes them; storing them is the caller's job.
import { ascii, concat, requireBytes, requireInteger } from './bytes.js';
import { blake2b, boxSeedKeyPair, kdfDerive, randomBytes, signSeedKeyPair, wipe } from './sodium.js';

/** Size of an Ed25519 or X25519 public key. */
export const PUBLIC_KEY_BYTES = 32;
/** Size of an Ed25519 secret key in libsodium's form (seed ‖ public key). */
export const SIGN_SECRET_KEY_BYTES = 64;
/** Size of an X25519 secret key. */
export const BOX_SECRET_KEY_BYTES = 32;
/** Size of a key seed. */
export const SEED_BYTES = 32;
/** Size of a key id, BLAKE2b-128. */
export const KEY_ID_BYTES = 16;
/** Size of an Ed25519 signature. */
export const SIGNATURE_BYTES = 64;
/** crypto_box_seal of a 32-byte key: 32-byte ephemeral public key + 32 + 16-byte tag. */
export const SEALED_KEY_BYTES = 80;

const KEY_ID_PREFIX = ascii('parley/v1/keyid');
const FINGERPRINT_PREFIX = ascii('parley/v1/fingerprint');
/** crypto_kdf context splitting one identity seed into a signing seed (id 1) and a box seed (id 2). */
const IDENTITY_SEED_CONTEXT = 'parleyid';
const FINGERPRINT_GROUPS = 8;

/** An Ed25519 key pair; the secret key is libsodium's 64-byte form (seed ‖ public key). */
export interface SigningKeys {
  signPublicKey: Uint8Array;
  signSecretKey: Uint8Array;
}

/** An X25519 key pair for sealed boxes. */
export interface BoxKeys {
  boxPublicKey: Uint8Array;
  boxSecretKey: Uint8Array;
}

/** A device's or a patient account key's (PAK) pair of Ed25519 and X25519 keys. */
export interface IdentityKeys extends SigningKeys, BoxKeys {}

/** A version of the practice record key (PRK_v): the 32-byte seed is what grants and escrow carry. */
export interface RecordKey extends BoxKeys {
  version: number;
  seed: Uint8Array;
}

/**
 * Returns the 16-byte key id BLAKE2b-128("parley/v1/keyid" ‖ pk) of a 32-byte public key.
 * @throws CryptoError `invalid_length`, `not_ready`
 */
export function keyId(publicKey: Uint8Array): Uint8Array {
  requireBytes(publicKey, PUBLIC_KEY_BYTES, 'publicKey');
  return blake2b(KEY_ID_BYTES, concat(KEY_ID_PREFIX, publicKey));
}

/**
 * Returns a 40-digit fingerprint ("12345 67890 …", 8 groups of 5 digits, about 133 bits) for people to compare.
 * @throws CryptoError `invalid_length`, `not_ready`
 */
export function fingerprint(publicKey: Uint8Array): string {
  requireBytes(publicKey, PUBLIC_KEY_BYTES, 'publicKey');
  const digest = blake2b(FINGERPRINT_GROUPS * 5, concat(FINGERPRINT_PREFIX, publicKey));
  const groups: string[] = [];
  for (let group = 0; group < FINGERPRINT_GROUPS; group++) {
    // Signal's safety-number construction: 5 bytes (40 bits) reduced mod 10^5 per group.
    let value = 0n;
    for (const byte of digest.subarray(group * 5, group * 5 + 5)) value = (value << 8n) | BigInt(byte);
    groups.push((value % 100_000n).toString().padStart(5, '0'));
  }
  return groups.join(' ');
}

/**
 * Makes a device's Ed25519 and X25519 keys, at random or from a 32-byte seed.
 * @throws CryptoError `invalid_length`, `not_ready`
 */
export function generateDeviceKeys(seed?: Uint8Array): IdentityKeys {
  return identityKeys(seed);
}

/**
 * Makes a patient account key (PAK): Ed25519 and X25519 keys, at random or from a 32-byte seed.
 * @throws CryptoError `invalid_length`, `not_ready`
 */
export function generatePatientAccountKeys(seed?: Uint8Array): IdentityKeys {
  return identityKeys(seed);
}

/**
 * Makes the practice root key (PRootK), an Ed25519 pair, at random or from its 32-byte seed.
 * @throws CryptoError `invalid_length`, `not_ready`
 */
export function generatePracticeRootKey(seed?: Uint8Array): SigningKeys {
  const pair = signSeedKeyPair(seed === undefined ? randomBytes(SEED_BYTES) : requireBytes(seed, SEED_BYTES, 'seed'));
  return { signPublicKey: pair.publicKey, signSecretKey: pair.secretKey };
}

/**
 * Makes version `version` (≥ 1) of the practice record key: X25519 via crypto_box_seed_keypair from a random or given 32-byte seed.
 * @throws CryptoError `invalid_length`, `invalid_input`, `not_ready`
 */
export function createRecordKey(version: number, seed?: Uint8Array): RecordKey {
  requireCounter(version, 'version');
  const ownSeed = seed === undefined ? randomBytes(SEED_BYTES) : requireBytes(seed, SEED_BYTES, 'seed').slice();
  const pair = boxSeedKeyPair(ownSeed);
  return { version, seed: ownSeed, boxPublicKey: pair.publicKey, boxSecretKey: pair.secretKey };
}

/** Record key versions and conversation epochs count from 1 and fit in a u32. */
export function requireCounter(value: number, field: string): number {
  return requireInteger(value, 1, 0xffff_ffff, field);
}

function identityKeys(seed: Uint8Array | undefined): IdentityKeys {
  const root = seed === undefined ? randomBytes(SEED_BYTES) : requireBytes(seed, SEED_BYTES, 'seed').slice();
  const signSeed = kdfDerive(SEED_BYTES, 1, IDENTITY_SEED_CONTEXT, root);
  const boxSeed = kdfDerive(SEED_BYTES, 2, IDENTITY_SEED_CONTEXT, root);
  const sign = signSeedKeyPair(signSeed);
  const box = boxSeedKeyPair(boxSeed);
  wipe(root);
  wipe(signSeed);
  wipe(boxSeed);
  return { signPublicKey: sign.publicKey, signSecretKey: sign.secretKey, boxPublicKey: box.publicKey, boxSecretKey: box.secretKey };
}
