import { createPublicKey, verify } from 'node:crypto';

// The practice authority's statements (docs/crypto.md, "Practice authority"), checked with Node's Ed25519 so the
// gateway never imports libsodium. The gateway checks them only to refuse what no client would accept, so that
// nothing unverifiable is stored; clients verify every link themselves and never rely on these checks.

/** The DER header of an Ed25519 SubjectPublicKeyInfo, before the 32 raw key bytes (RFC 8410). */
const ED25519_SPKI_PREFIX = Buffer.from('302a300506032b6570032100', 'hex');
const ADMIN_KEY_PREFIX = Buffer.from('parley/v2/admin-key', 'ascii');
const ROOT_SUCCESSOR_PREFIX = Buffer.from('parley/v2/root-successor', 'ascii');
const RECORD_KEY_PREFIX = Buffer.from('parley/v1/prk', 'ascii');
const RECORD_KEY_CURRENT_PREFIX = Buffer.from('parley/v2/record-key-current', 'ascii');
const KEY_BYTES = 32;
const SIGNATURE_BYTES = 64;

/** Whether `signature` is `signerSignPublicKey`'s Ed25519 signature over `message`; false for keys or signatures of the wrong size. */
export function isSignedBy(message: Buffer, signature: Buffer, signerSignPublicKey: Buffer): boolean {
  if (signature.length !== SIGNATURE_BYTES || signerSignPublicKey.length !== KEY_BYTES) return false;
  const key = createPublicKey({ key: Buffer.concat([ED25519_SPKI_PREFIX, signerSignPublicKey]), format: 'der', type: 'spki' });
  return verify(null, message, key, signature);
}

/** "parley/v2/admin-key" ‖ lp(practice_id) ‖ lp(uuid16(admin_key_id)) ‖ admin_sign_pk ‖ u64(issued_at). */
export function adminKeySignedBytes(fields: { practiceOdsCode: string; adminKeyId: string; signPublicKey: Buffer; issuedAt: number }): Buffer {
  return Buffer.concat([ADMIN_KEY_PREFIX, lp(text(fields.practiceOdsCode)), lp(uuid(fields.adminKeyId)), fields.signPublicKey, u64(fields.issuedAt)]);
}

/** "parley/v2/root-successor" ‖ lp(practice_id) ‖ old_pk ‖ new_pk ‖ u64(issued_at). */
export function rootSuccessorSignedBytes(fields: { practiceOdsCode: string; previousSignPublicKey: Buffer; signPublicKey: Buffer; issuedAt: number }): Buffer {
  return Buffer.concat([ROOT_SUCCESSOR_PREFIX, lp(text(fields.practiceOdsCode)), fields.previousSignPublicKey, fields.signPublicKey, u64(fields.issuedAt)]);
}

/** "parley/v1/prk" ‖ lp(practice_id) ‖ u32(v) ‖ pk ‖ u64(valid_from). */
export function recordKeySignedBytes(fields: { practiceOdsCode: string; version: number; boxPublicKey: Buffer; validFrom: number }): Buffer {
  return Buffer.concat([RECORD_KEY_PREFIX, lp(text(fields.practiceOdsCode)), u32(fields.version), fields.boxPublicKey, u64(fields.validFrom)]);
}

/** "parley/v2/record-key-current" ‖ lp(practice_id) ‖ u32(v) ‖ pk ‖ u64(issued_at). */
export function recordKeyCurrentSignedBytes(fields: { practiceOdsCode: string; version: number; boxPublicKey: Buffer; issuedAt: number }): Buffer {
  return Buffer.concat([RECORD_KEY_CURRENT_PREFIX, lp(text(fields.practiceOdsCode)), u32(fields.version), fields.boxPublicKey, u64(fields.issuedAt)]);
}

const text = (value: string) => Buffer.from(value, 'utf8');
const uuid = (id: string) => Buffer.from(id.replace(/-/g, ''), 'hex');

function lp(bytes: Buffer): Buffer {
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
