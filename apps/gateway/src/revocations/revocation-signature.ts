import { createPublicKey, verify } from 'node:crypto';
import type { RevokedDevice } from '@parley/protocol';

/** The DER header of an Ed25519 SubjectPublicKeyInfo, before the 32 raw key bytes (RFC 8410). */
const ED25519_SPKI_PREFIX = Buffer.from('302a300506032b6570032100', 'hex');
const REVOCATIONS_PREFIX = Buffer.from('parley/v2/revocations', 'ascii');
const KEY_BYTES = 32;
const SIGNATURE_BYTES = 64;

/** A revocation list as its signer signed it. */
export interface RevocationListFields {
  /** The practice's ODS code, as the clients sign it. */
  practiceOdsCode: string;
  version: number;
  issuedAt: number;
  entries: readonly RevokedDevice[];
}

/**
 * Whether `signature` is the Ed25519 signature of `signerSignPublicKey` over the list (docs/crypto.md,
 * "Revocation lists"). The gateway checks it so that it stores only lists the practice signed; clients
 * verify it again themselves. A list naming a device twice has no encoding, so it is refused too.
 */
export function isRevocationListSignatureValid(fields: RevocationListFields, signature: Buffer, signerSignPublicKey: Buffer): boolean {
  if (signature.length !== SIGNATURE_BYTES || signerSignPublicKey.length !== KEY_BYTES) return false;
  const bytes = revocationListSignedBytes(fields);
  if (!bytes) return false;
  const key = createPublicKey({ key: Buffer.concat([ED25519_SPKI_PREFIX, signerSignPublicKey]), format: 'der', type: 'spki' });
  return verify(null, bytes, key, signature);
}

/**
 * "parley/v2/revocations" ‖ lp(practice_id) ‖ u32(version) ‖ u64(issued_at) ‖ u32(n) ‖ n × (lp(uuid16(device_id)) ‖ u64(revoked_at)),
 * entries sorted by the device id's bytes (lower-case hex sorts the same); null when a device is named twice.
 */
export function revocationListSignedBytes(fields: RevocationListFields): Buffer | null {
  const entries = fields.entries
    .map((entry) => ({ deviceId: entry.deviceId.toLowerCase(), revokedAt: entry.revokedAt }))
    .sort((a, b) => (a.deviceId < b.deviceId ? -1 : a.deviceId > b.deviceId ? 1 : 0));
  if (entries.some((entry, index) => index > 0 && entry.deviceId === entries[index - 1]?.deviceId)) return null;
  return Buffer.concat([
    REVOCATIONS_PREFIX,
    lengthPrefixed(Buffer.from(fields.practiceOdsCode, 'utf8')),
    u32(fields.version),
    u64(fields.issuedAt),
    u32(entries.length),
    ...entries.flatMap((entry) => [lengthPrefixed(Buffer.from(entry.deviceId.replace(/-/g, ''), 'hex')), u64(entry.revokedAt)]),
  ]);
}

function lengthPrefixed(bytes: Buffer): Buffer {
  return Buffer.concat([u32(bytes.length), bytes]);
}

function u32(value: number): Buffer {
  const out = Buffer.alloc(4);
  out.writeUInt32BE(value);
  return out;
}

function u64(value: number): Buffer {
  const out = Buffer.alloc(8);
  out.writeBigUInt64BE(BigInt(value));
  return out;
}
