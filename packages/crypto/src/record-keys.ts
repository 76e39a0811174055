// Practice record keys (PRK_v): certified by the practice root key, handed to staff devices as
// grants (the 32-byte seed sealed to the device's box key, signed by the granting admin device).
// The seed is never on the server in plaintext; staff hold the secret in memory only, after
// opening their grant with the device key. The root also signs which version is current (v2), so a
// patient seals only to a record key the root named, never to an older version than it has seen.
import { ascii, concat, lpText, requireBytes, u32, u64 } from './bytes.js';
import { verifyCertificate } from './certificates.js';
import { CryptoError } from './crypto-error.js';
import type { BoxKeys, RecordKey } from './keys.js';
import {
  createRecordKey,
  keyId,
  KEY_ID_BYTES,
  PUBLIC_KEY_BYTES,
  requireCounter,
  SEALED_KEY_BYTES,
  SEED_BYTES,
  SIGN_SECRET_KEY_BYTES,
  SIGNATURE_BYTES,
} from './keys.js';
import { blake2b, boxSeedKeyPair, equalBytes, openSealed, sealTo, signDetached, verifyDetached } from './sodium.js';

const PRK_PREFIX = ascii('parley/v1/prk');
const GRANT_PREFIX = ascii('parley/v1/prk-grant');
const CURRENT_PREFIX = ascii('parley/v2/record-key-current');

/** The facts a record key certificate vouches for; `validFrom` is milliseconds since the Unix epoch. */
export interface RecordKeyCertificateFields {
  practiceId: string;
  version: number;
  publicKey: Uint8Array;
  validFrom: number;
}

/** A record key version's public key signed by the practice root key. */
export interface RecordKeyCertificate extends RecordKeyCertificateFields {
  signature: Uint8Array;
}

/**
 * The root's statement that version `version` with `publicKey` is the practice's current record key,
 * as of `issuedAt` (milliseconds since the Unix epoch). Clients keep the highest version they have seen
 * and refuse to seal to a lower one, so a server cannot roll them back to a retired key.
 */
export interface RecordKeyCurrentFields {
  practiceId: string;
  version: number;
  publicKey: Uint8Array;
  issuedAt: number;
}

/** A record key seed sealed to one staff device and signed by the granting device. */
export interface RecordKeyGrant {
  practiceId: string;
  version: number;
  recordKeyId: Uint8Array;
  recipientKeyId: Uint8Array;
  sealedSeed: Uint8Array;
  signature: Uint8Array;
}

/**
 * Signs ("parley/v1/prk", practice id, version, public key, valid from) with the practice root key.
 * @throws CryptoError `invalid_length`, `invalid_input`, `not_ready`
 */
export function certifyRecordKey(fields: RecordKeyCertificateFields, rootSignSecretKey: Uint8Array): RecordKeyCertificate {
  requireBytes(rootSignSecretKey, SIGN_SECRET_KEY_BYTES, 'rootSignSecretKey');
  const signature = signDetached(recordKeyCertificateBytes(fields), rootSignSecretKey);
  return { ...fields, publicKey: fields.publicKey.slice(), signature };
}

/**
 * Checks a record key certificate against the pinned practice root public key.
 * @throws CryptoError `bad_certificate`, `invalid_length`, `invalid_input`, `not_ready`
 */
export function verifyRecordKeyCertificate(certificate: RecordKeyCertificate, rootSignPublicKey: Uint8Array): void {
  verifyCertificate(recordKeyCertificateBytes(certificate), certificate.signature, rootSignPublicKey);
}

/**
 * Signs ("parley/v2/record-key-current", practice id, version, public key, issued at) with the practice root key.
 * @throws CryptoError `invalid_length`, `invalid_input`, `not_ready`
 */
export function signRecordKeyCurrent(fields: RecordKeyCurrentFields, rootSignSecretKey: Uint8Array): Uint8Array {
  requireBytes(rootSignSecretKey, SIGN_SECRET_KEY_BYTES, 'rootSignSecretKey');
  return signDetached(recordKeyCurrentSignedBytes(fields), rootSignSecretKey);
}

/**
 * Checks a record-key-current statement against the pinned practice root public key.
 * @throws CryptoError `bad_certificate`, `invalid_length`, `invalid_input`, `not_ready`
 */
export function verifyRecordKeyCurrent(fields: RecordKeyCurrentFields, signature: Uint8Array, rootSignPublicKey: Uint8Array): void {
  verifyCertificate(recordKeyCurrentSignedBytes(fields), signature, rootSignPublicKey);
}

/**
 * Seals a record key's seed to a staff device's box key and signs the grant with the granting device's key.
 * @throws CryptoError `invalid_length`, `invalid_input`, `key_mismatch`, `not_ready`
 */
export function grantRecordKey(input: {
  practiceId: string;
  recordKey: RecordKey;
  recipientBoxPublicKey: Uint8Array;
  granterSignSecretKey: Uint8Array;
}): RecordKeyGrant {
  const { practiceId, recordKey } = input;
  requireCounter(recordKey.version, 'recordKey.version');
  requireBytes(recordKey.seed, SEED_BYTES, 'recordKey.seed');
  requireBytes(input.granterSignSecretKey, SIGN_SECRET_KEY_BYTES, 'granterSignSecretKey');
  // A RecordKey whose public half does not come from its seed would grant a key nobody certified.
  if (!equalBytes(boxSeedKeyPair(recordKey.seed).publicKey, requireBytes(recordKey.boxPublicKey, PUBLIC_KEY_BYTES, 'recordKey.boxPublicKey'))) {
    throw new CryptoError('key_mismatch', 'recordKey.boxPublicKey does not come from recordKey.seed');
  }
  const sealedSeed = sealTo(recordKey.seed, requireBytes(input.recipientBoxPublicKey, PUBLIC_KEY_BYTES, 'recipientBoxPublicKey'));
  const unsigned = {
    practiceId,
    version: recordKey.version,
    recordKeyId: keyId(recordKey.boxPublicKey),
    recipientKeyId: keyId(input.recipientBoxPublicKey),
    sealedSeed,
  };
  return signRecordKeyGrant(unsigned, input.granterSignSecretKey);
}

/** Internal (not in index.ts): signs an already sealed grant, so the vector script can re-sign a stored sealed seed. */
export function signRecordKeyGrant(unsigned: Omit<RecordKeyGrant, 'signature'>, granterSignSecretKey: Uint8Array): RecordKeyGrant {
  const { practiceId, version, recordKeyId, recipientKeyId, sealedSeed } = unsigned;
  const signature = signDetached(grantSignedBytes(unsigned), requireBytes(granterSignSecretKey, SIGN_SECRET_KEY_BYTES, 'granterSignSecretKey'));
  return { practiceId, version, recordKeyId, recipientKeyId, sealedSeed, signature };
}

/**
 * Verifies a grant (certificate against the root key, grant signature against the granter) and only then unseals the record key.
 * The caller must already trust the granter: its device certificate chains to the practice root key.
 * @throws CryptoError `bad_certificate`, `bad_signature`, `key_mismatch`, `decrypt_failed`, `invalid_length`, `invalid_input`, `not_ready`
 */
export function openRecordKeyGrant(input: {
  grant: RecordKeyGrant;
  certificate: RecordKeyCertificate;
  rootSignPublicKey: Uint8Array;
  granterSignPublicKey: Uint8Array;
  recipient: BoxKeys;
}): RecordKey {
  const { grant, certificate, recipient } = input;
  requireBytes(grant.recordKeyId, KEY_ID_BYTES, 'grant.recordKeyId');
  requireBytes(grant.recipientKeyId, KEY_ID_BYTES, 'grant.recipientKeyId');
  requireBytes(grant.sealedSeed, SEALED_KEY_BYTES, 'grant.sealedSeed');
  requireBytes(grant.signature, SIGNATURE_BYTES, 'grant.signature');
  requireBytes(input.granterSignPublicKey, PUBLIC_KEY_BYTES, 'granterSignPublicKey');
  requireBytes(recipient.boxSecretKey, 32, 'recipient.boxSecretKey');
  verifyRecordKeyCertificate(certificate, input.rootSignPublicKey);

  if (grant.practiceId !== certificate.practiceId || grant.version !== certificate.version || !equalBytes(grant.recordKeyId, keyId(certificate.publicKey))) {
    throw new CryptoError('key_mismatch', 'grant is for another record key than the certificate');
  }
  if (!equalBytes(grant.recipientKeyId, keyId(recipient.boxPublicKey))) {
    throw new CryptoError('key_mismatch', 'grant is sealed to another device');
  }
  if (!verifyDetached(grant.signature, grantSignedBytes(grant), input.granterSignPublicKey)) {
    throw new CryptoError('bad_signature', 'grant signature does not verify against the granter key');
  }

  const seed = openSealed(grant.sealedSeed, recipient.boxPublicKey, recipient.boxSecretKey);
  if (seed === null || seed.length !== SEED_BYTES) throw new CryptoError('decrypt_failed', 'grant does not open with this device key');
  const recordKey = createRecordKey(certificate.version, seed);
  if (!equalBytes(recordKey.boxPublicKey, certificate.publicKey)) {
    throw new CryptoError('key_mismatch', 'granted seed does not match the certified record key');
  }
  return recordKey;
}

function recordKeyCertificateBytes(fields: RecordKeyCertificateFields): Uint8Array {
  return concat(
    PRK_PREFIX,
    lpText(fields.practiceId, 'practiceId'),
    u32(requireCounter(fields.version, 'version'), 'version'),
    requireBytes(fields.publicKey, PUBLIC_KEY_BYTES, 'publicKey'),
    u64(fields.validFrom, 'validFrom'),
  );
}

/** Internal (not in index.ts): "parley/v2/record-key-current" ‖ lp(practice_id) ‖ u32(v) ‖ prk_pk ‖ u64(issued_at). */
export function recordKeyCurrentSignedBytes(fields: RecordKeyCurrentFields): Uint8Array {
  return concat(
    CURRENT_PREFIX,
    lpText(fields.practiceId, 'practiceId'),
    u32(requireCounter(fields.version, 'version'), 'version'),
    requireBytes(fields.publicKey, PUBLIC_KEY_BYTES, 'publicKey'),
    u64(fields.issuedAt, 'issuedAt'),
  );
}

/** "parley/v1/prk-grant" ‖ lp(practice_id) ‖ u32(v) ‖ keyid(PRK_v) ‖ keyid(recipient) ‖ BLAKE2b-256(sealed). */
function grantSignedBytes(grant: Omit<RecordKeyGrant, 'signature'>): Uint8Array {
  return concat(
    GRANT_PREFIX,
    lpText(grant.practiceId, 'practiceId'),
    u32(requireCounter(grant.version, 'version'), 'version'),
    requireBytes(grant.recordKeyId, KEY_ID_BYTES, 'recordKeyId'),
    requireBytes(grant.recipientKeyId, KEY_ID_BYTES, 'recipientKeyId'),
    blake2b(32, requireBytes(grant.sealedSeed, SEALED_KEY_BYTES, 'sealedSeed')),
  );
}
