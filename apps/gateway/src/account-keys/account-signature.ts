import { createPublicKey, verify } from 'node:crypto';

/** The DER header of an Ed25519 SubjectPublicKeyInfo, before the 32 raw key bytes (RFC 8410). */
const ED25519_SPKI_PREFIX = Buffer.from('302a300506032b6570032100', 'hex');
const ACCOUNT_PREFIX = Buffer.from('parley/v2/account', 'ascii');
const KEY_BYTES = 32;
const SIGNATURE_BYTES = 64;

/** The account key a patient's client signed with the invitation key at activation (S_pak). */
export interface AccountKeyFields {
  /** The practice's ODS code, as the clients sign it. */
  practiceOdsCode: string;
  patientId: string;
  signPublicKey: Buffer;
  boxPublicKey: Buffer;
}

/**
 * Whether `signature` is the invitation key's Ed25519 signature over the account key (docs/crypto.md,
 * "Invitation-bound trust (v2)"). The gateway checks it only to refuse a broken activation early, so that
 * nothing unverifiable is stored; clients check the whole chain themselves and never rely on this.
 */
export function isAccountSignatureValid(fields: AccountKeyFields, signature: Buffer, invitationSignPublicKey: Buffer): boolean {
  if (signature.length !== SIGNATURE_BYTES || invitationSignPublicKey.length !== KEY_BYTES) return false;
  if (fields.signPublicKey.length !== KEY_BYTES || fields.boxPublicKey.length !== KEY_BYTES) return false;
  const key = createPublicKey({ key: Buffer.concat([ED25519_SPKI_PREFIX, invitationSignPublicKey]), format: 'der', type: 'spki' });
  return verify(null, accountKeySignedBytes(fields), key, signature);
}

const RECOVERY_ACCOUNT_PREFIX = Buffer.from('parley/v2/recovery-account', 'ascii');
const PAK_CERTIFICATE_PREFIX = Buffer.from('parley/v1/pak', 'ascii');

/**
 * Whether `signature` is a recovery key's signature over a patient's new account key ("parley/v2/recovery-account",
 * same fields as S_pak). Checked when the patient's device submits it, so that a stolen lookup id alone cannot.
 */
export function isRecoveryAccountSignatureValid(fields: AccountKeyFields, signature: Buffer, recoverySignPublicKey: Buffer): boolean {
  if (!hasKeySizes(fields, signature, recoverySignPublicKey)) return false;
  return verify(
    null,
    Buffer.concat([RECOVERY_ACCOUNT_PREFIX, accountKeySignedBytes(fields).subarray(ACCOUNT_PREFIX.length)]),
    ed25519(recoverySignPublicKey),
    signature,
  );
}

/**
 * Whether `certificate` is the root key's certificate over a patient's account key ("parley/v1/pak" ‖ lp(patient_id) ‖
 * sign_pk ‖ box_pk, docs/crypto.md), checked before a recovery stores it: clients verify it themselves.
 */
export function isAccountKeyCertificateValid(fields: Omit<AccountKeyFields, 'practiceOdsCode'>, certificate: Buffer, rootSignPublicKey: Buffer): boolean {
  if (!hasKeySizes({ ...fields, practiceOdsCode: '' }, certificate, rootSignPublicKey)) return false;
  const signed = Buffer.concat([
    PAK_CERTIFICATE_PREFIX,
    lengthPrefixed(Buffer.from(fields.patientId.replace(/-/g, ''), 'hex')),
    fields.signPublicKey,
    fields.boxPublicKey,
  ]);
  return verify(null, signed, ed25519(rootSignPublicKey), certificate);
}

function hasKeySizes(fields: AccountKeyFields, signature: Buffer, signerPublicKey: Buffer): boolean {
  return (
    signature.length === SIGNATURE_BYTES &&
    signerPublicKey.length === KEY_BYTES &&
    fields.signPublicKey.length === KEY_BYTES &&
    fields.boxPublicKey.length === KEY_BYTES
  );
}

function ed25519(publicKey: Buffer) {
  return createPublicKey({ key: Buffer.concat([ED25519_SPKI_PREFIX, publicKey]), format: 'der', type: 'spki' });
}

/** "parley/v2/account" ‖ lp(practice_id) ‖ lp(uuid16(patient_id)) ‖ sign_pk ‖ box_pk, where lp(x) = u32be(len x) ‖ x. */
export function accountKeySignedBytes(fields: AccountKeyFields): Buffer {
  return Buffer.concat([
    ACCOUNT_PREFIX,
    lengthPrefixed(Buffer.from(fields.practiceOdsCode, 'utf8')),
    lengthPrefixed(Buffer.from(fields.patientId.replace(/-/g, ''), 'hex')),
    fields.signPublicKey,
    fields.boxPublicKey,
  ]);
}

function lengthPrefixed(bytes: Buffer): Buffer {
  const length = Buffer.alloc(4);
  length.writeUInt32BE(bytes.length);
  return Buffer.concat([length, bytes]);
}
