// The practice's revocation list (v2): which devices are revoked and since when, signed so that a
// client need not believe the server's `revokedAt`. A server that re-lists a revoked device cannot
// also forge the list, and clients keep the highest version they have verified, so it cannot roll
// one back to a list from before the revocation either. The package signs and verifies; which key
// may sign (the pinned root, or an admin key the root certified) and the version floor are the caller's.
import { ascii, concat, lpText, lpUuid, normalizeUuid, requireBytes, u32, u64 } from './bytes.js';
import { verifyCertificate } from './certificates.js';
import { CryptoError } from './crypto-error.js';
import { requireCounter, SIGN_SECRET_KEY_BYTES } from './keys.js';
import { signDetached } from './sodium.js';

const REVOCATIONS_PREFIX = ascii('parley/v2/revocations');
/** A practice revokes far fewer devices than this; the cap bounds what a verifier will encode. */
export const MAX_REVOCATION_ENTRIES = 100_000;

/** One revoked device: from `revokedAt` (milliseconds since the Unix epoch) nothing it makes is trusted. */
export interface RevokedDeviceEntry {
  deviceId: string;
  revokedAt: number;
}

/**
 * A version of the practice's revocation list. `entries` may come in any order (they are signed sorted
 * by device id); a device listed twice is `invalid_input`, so one list has one encoding.
 */
export interface RevocationListFields {
  practiceId: string;
  version: number;
  issuedAt: number;
  entries: readonly RevokedDeviceEntry[];
}

/**
 * Signs a revocation list with an Ed25519 secret key: the practice root's, or an admin key's when the
 * caller's verifiers accept the root's certificate over it.
 * @throws CryptoError `invalid_length`, `invalid_input`, `not_ready`
 */
export function signRevocationList(fields: RevocationListFields, signerSignSecretKey: Uint8Array): Uint8Array {
  requireBytes(signerSignSecretKey, SIGN_SECRET_KEY_BYTES, 'signerSignSecretKey');
  return signDetached(revocationListSignedBytes(fields), signerSignSecretKey);
}

/**
 * Checks a revocation list's signature under `signerSignPublicKey`. The caller decides whether that key
 * may sign lists (the pinned root, or an admin key it verified the root certified) and refuses a
 * version lower than the highest it has seen.
 * @throws CryptoError `bad_certificate`, `invalid_length`, `invalid_input`, `not_ready`
 */
export function verifyRevocationList(fields: RevocationListFields, signature: Uint8Array, signerSignPublicKey: Uint8Array): void {
  verifyCertificate(revocationListSignedBytes(fields), signature, signerSignPublicKey);
}

/**
 * Internal (not in index.ts): "parley/v2/revocations" ‖ lp(practice_id) ‖ u32(version) ‖ u64(issued_at)
 * ‖ u32(n) ‖ n × (lp(device_id) ‖ u64(revoked_at)), entries sorted by the device id's 16 bytes.
 */
export function revocationListSignedBytes(fields: RevocationListFields): Uint8Array {
  const entries = sortedEntries(fields.entries);
  return concat(
    REVOCATIONS_PREFIX,
    lpText(fields.practiceId, 'practiceId'),
    u32(requireCounter(fields.version, 'version'), 'version'),
    u64(fields.issuedAt, 'issuedAt'),
    u32(entries.length, 'entries.length'),
    ...entries.flatMap((entry) => [lpUuid(entry.deviceId, 'entries.deviceId'), u64(entry.revokedAt, 'entries.revokedAt')]),
  );
}

/** Sorted by lower-case id, which orders UUIDs as their 16 bytes do; a repeated device is refused. */
function sortedEntries(entries: readonly RevokedDeviceEntry[]): RevokedDeviceEntry[] {
  if (!Array.isArray(entries)) throw new CryptoError('invalid_input', 'entries must be an array');
  if (entries.length > MAX_REVOCATION_ENTRIES) throw new CryptoError('invalid_input', `entries must hold at most ${MAX_REVOCATION_ENTRIES}`);
  const sorted = entries
    .map((entry) => ({ deviceId: normalizeUuid(entry.deviceId, 'entries.deviceId'), revokedAt: entry.revokedAt }))
    .sort((a, b) => (a.deviceId < b.deviceId ? -1 : a.deviceId > b.deviceId ? 1 : 0));
  for (let i = 1; i < sorted.length; i++) {
    if (sorted[i]?.deviceId === sorted[i - 1]?.deviceId) throw new CryptoError('invalid_input', 'entries names a device twice');
  }
  return sorted;
}
