// Practice-assisted recovery (flow B) after a forgotten passphrase. It reuses the invitation's machinery:
// a staff browser makes a code like an invitation code, derives from it a lookup id and a recovery key V,
// signs V for this patient and this recovery, and V signs the practice root (so the patient's new device
// pins the root from the code, as at activation). The patient's client signs its NEW account key with V.
// Every statement has its own "parley/v2/recovery..." prefix, so nothing signed here can pass for an
// invitation (an S_pak by a recovery key would otherwise let staff clients trust the new key with no
// second approval): the new key is trusted only once the root certifies it (certifyPatientAccountKey).
import { ascii, concat, lpText, lpUuid, requireBytes, u64 } from './bytes.js';
import { verifyCertificate } from './certificates.js';
import type { AccountKeyFields, InvitationKeys } from './invitations.js';
import { deriveCodeKeys, INVITATION_KDF_PARAMS } from './invitations.js';
import { PUBLIC_KEY_BYTES, SIGN_SECRET_KEY_BYTES } from './keys.js';
import type { KdfParams } from './passphrase.js';
import { blake2b, signDetached } from './sodium.js';

const RECOVERY_PREFIX = ascii('parley/v2/recovery');
const RECOVERY_ROOT_PREFIX = ascii('parley/v2/recovery-root');
const RECOVERY_ACCOUNT_PREFIX = ascii('parley/v2/recovery-account');
const SALT_BYTES = 16;

/** What the staff device that starts a recovery signs (S_rec); `expiresAt` is milliseconds since the Unix epoch. */
export interface RecoveryFields {
  practiceId: string;
  patientId: string;
  recoveryId: string;
  recoverySignPublicKey: Uint8Array;
  expiresAt: number;
}

/**
 * Derives a recovery code's lookup id and recovery key V (Argon2id at `params`, as invitations, under the salt
 * BLAKE2b-128("parley/v2/recovery" ‖ lp(practice_id))). Codes are made and normalised as invitation codes.
 * @throws CryptoError `invalid_input`, `weak_kdf_params`, `not_ready`
 */
export function deriveRecoveryKeys(code: string, practiceId: string, params: Readonly<KdfParams> = INVITATION_KDF_PARAMS): InvitationKeys {
  return deriveCodeKeys(code, recoverySalt(practiceId), params);
}

/**
 * Signs S_rec, ("parley/v2/recovery", practice id, patient id, recovery id, V's public key, expiry), with the starting staff device's key.
 * @throws CryptoError `invalid_length`, `invalid_input`, `not_ready`
 */
export function signRecovery(fields: RecoveryFields, creatorDeviceSignSecretKey: Uint8Array): Uint8Array {
  requireBytes(creatorDeviceSignSecretKey, SIGN_SECRET_KEY_BYTES, 'creatorDeviceSignSecretKey');
  return signDetached(recoverySignedBytes(fields), creatorDeviceSignSecretKey);
}

/**
 * Checks S_rec against the starting staff device's public key (whose certificate the caller checks against the root).
 * @throws CryptoError `bad_certificate`, `invalid_length`, `invalid_input`, `not_ready`
 */
export function verifyRecovery(fields: RecoveryFields, signature: Uint8Array, creatorDeviceSignPublicKey: Uint8Array): void {
  verifyCertificate(recoverySignedBytes(fields), signature, creatorDeviceSignPublicKey);
}

/**
 * Signs ("parley/v2/recovery-root", practice id, root public key) with the recovery key V.
 * @throws CryptoError `invalid_length`, `invalid_input`, `not_ready`
 */
export function signRecoveryRoot(input: { practiceId: string; rootSignPublicKey: Uint8Array }, recoverySignSecretKey: Uint8Array): Uint8Array {
  requireBytes(recoverySignSecretKey, SIGN_SECRET_KEY_BYTES, 'recoverySignSecretKey');
  return signDetached(recoveryRootSignedBytes(input), recoverySignSecretKey);
}

/**
 * Checks the root statement against V derived from the code: success pins `rootSignPublicKey` as the practice root.
 * @throws CryptoError `bad_certificate`, `invalid_length`, `invalid_input`, `not_ready`
 */
export function verifyRecoveryRoot(
  input: { practiceId: string; rootSignPublicKey: Uint8Array },
  signature: Uint8Array,
  recoverySignPublicKey: Uint8Array,
): void {
  verifyCertificate(recoveryRootSignedBytes(input), signature, recoverySignPublicKey);
}

/**
 * Signs the patient's new account key, ("parley/v2/recovery-account", practice id, patient id, sign pk, box pk), with V.
 * @throws CryptoError `invalid_length`, `invalid_input`, `not_ready`
 */
export function signRecoveryAccountKey(fields: AccountKeyFields, recoverySignSecretKey: Uint8Array): Uint8Array {
  requireBytes(recoverySignSecretKey, SIGN_SECRET_KEY_BYTES, 'recoverySignSecretKey');
  return signDetached(recoveryAccountSignedBytes(fields), recoverySignSecretKey);
}

/**
 * Checks the new account key's signature by V (itself vouched for by S_rec).
 * @throws CryptoError `bad_certificate`, `invalid_length`, `invalid_input`, `not_ready`
 */
export function verifyRecoveryAccountKey(fields: AccountKeyFields, signature: Uint8Array, recoverySignPublicKey: Uint8Array): void {
  verifyCertificate(recoveryAccountSignedBytes(fields), signature, recoverySignPublicKey);
}

/** Internal: the Argon2id salt BLAKE2b-128("parley/v2/recovery" ‖ lp(practice_id)). */
export function recoverySalt(practiceId: string): Uint8Array {
  return blake2b(SALT_BYTES, concat(RECOVERY_PREFIX, lpText(practiceId, 'practiceId')));
}

/** Internal: "parley/v2/recovery" ‖ lp(practice_id) ‖ lp(patient_id) ‖ lp(recovery_id) ‖ V.pk ‖ u64(expires_at). */
export function recoverySignedBytes(fields: RecoveryFields): Uint8Array {
  return concat(
    RECOVERY_PREFIX,
    lpText(fields.practiceId, 'practiceId'),
    lpUuid(fields.patientId, 'patientId'),
    lpUuid(fields.recoveryId, 'recoveryId'),
    requireBytes(fields.recoverySignPublicKey, PUBLIC_KEY_BYTES, 'recoverySignPublicKey'),
    u64(fields.expiresAt, 'expiresAt'),
  );
}

/** Internal: "parley/v2/recovery-root" ‖ lp(practice_id) ‖ root.pk. */
export function recoveryRootSignedBytes(input: { practiceId: string; rootSignPublicKey: Uint8Array }): Uint8Array {
  return concat(RECOVERY_ROOT_PREFIX, lpText(input.practiceId, 'practiceId'), requireBytes(input.rootSignPublicKey, PUBLIC_KEY_BYTES, 'rootSignPublicKey'));
}

/** Internal: "parley/v2/recovery-account" ‖ lp(practice_id) ‖ lp(patient_id) ‖ sign_pk ‖ box_pk. */
export function recoveryAccountSignedBytes(fields: AccountKeyFields): Uint8Array {
  return concat(
    RECOVERY_ACCOUNT_PREFIX,
    lpText(fields.practiceId, 'practiceId'),
    lpUuid(fields.patientId, 'patientId'),
    requireBytes(fields.signPublicKey, PUBLIC_KEY_BYTES, 'signPublicKey'),
    requireBytes(fields.boxPublicKey, PUBLIC_KEY_BYTES, 'boxPublicKey'),
  );
}
