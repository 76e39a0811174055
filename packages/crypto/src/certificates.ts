// Device and patient-account-key certificates: an issuer's Ed25519 signature over a domain-separated
// encoding of who the keys belong to. Certificates are public and live on the server; the issuer's
// secret key never leaves the issuing device (or the practice's signing ceremony). v2 staff device
// certificates are signed by the practice root and also carry the person's name and roles; v1
// device certificates remain for patient devices (signed by the patient's account key), and the v1
// PAK certificate for a later practice-assisted recovery.
import { ascii, concat, lp, lpText, lpUuid, requireBytes, u8, utf8 } from './bytes.js';
import { CryptoError } from './crypto-error.js';
import { PUBLIC_KEY_BYTES, SIGN_SECRET_KEY_BYTES, SIGNATURE_BYTES } from './keys.js';
import { signDetached, verifyDetached } from './sodium.js';

const DEVICE_PREFIX = ascii('parley/v1/device');
const PAK_PREFIX = ascii('parley/v1/pak');
const STAFF_DEVICE_PREFIX = ascii('parley/v2/staff-device');
/** The bit each staff role sets in the certificate's role byte. */
const STAFF_ROLE_BITS: Readonly<Record<StaffRole, number>> = { clinician: 1, manager: 2 };
const MAX_DISPLAY_NAME_BYTES = 1024;

/** What a staff member may do, as the practice root vouches for it. */
export type StaffRole = 'clinician' | 'manager';

/** The facts a device certificate vouches for. */
export interface DeviceCertificateFields {
  userId: string;
  deviceId: string;
  signPublicKey: Uint8Array;
  boxPublicKey: Uint8Array;
}

/** A device's keys signed by the patient's PAK, or by an admin device or the practice root key for staff. */
export interface DeviceCertificate extends DeviceCertificateFields {
  signature: Uint8Array;
}

/**
 * The facts a v2 staff device certificate vouches for: the device's keys and, so that clients show a
 * name and role the practice signed rather than a server field, the person's display name and roles.
 */
export interface StaffDeviceCertificateFields extends DeviceCertificateFields {
  practiceId: string;
  /** Signed in NFC; 1 to 1,024 bytes of UTF-8. */
  displayName: string;
  /** At least one; order and repeats do not matter. */
  roles: readonly StaffRole[];
}

/** The facts a patient account key certificate vouches for. */
export interface PatientAccountKeyCertificateFields {
  patientId: string;
  signPublicKey: Uint8Array;
  boxPublicKey: Uint8Array;
}

/** A patient account key (PAK) signed by the practice after identity verification. */
export interface PatientAccountKeyCertificate extends PatientAccountKeyCertificateFields {
  signature: Uint8Array;
}

/**
 * Signs ("parley/v1/device", user id, device id, sign pk, box pk) with the issuer's Ed25519 secret key.
 * @throws CryptoError `invalid_length`, `invalid_input`, `not_ready`
 */
export function certifyDevice(fields: DeviceCertificateFields, issuerSignSecretKey: Uint8Array): DeviceCertificate {
  requireBytes(issuerSignSecretKey, SIGN_SECRET_KEY_BYTES, 'issuerSignSecretKey');
  const signature = signDetached(deviceCertificateBytes(fields), issuerSignSecretKey);
  return { ...copyDeviceFields(fields), signature };
}

/**
 * Checks a device certificate against the issuer's Ed25519 public key.
 * @throws CryptoError `bad_certificate`, `invalid_length`, `invalid_input`, `not_ready`
 */
export function verifyDeviceCertificate(certificate: DeviceCertificate, issuerSignPublicKey: Uint8Array): void {
  verifyCertificate(deviceCertificateBytes(certificate), certificate.signature, issuerSignPublicKey);
}

/**
 * Signs a v2 staff device certificate ("parley/v2/staff-device", practice, user, device, keys, roles, name) with the practice root key.
 * @throws CryptoError `invalid_length`, `invalid_input`, `not_ready`
 */
export function certifyStaffDevice(fields: StaffDeviceCertificateFields, rootSignSecretKey: Uint8Array): Uint8Array {
  requireBytes(rootSignSecretKey, SIGN_SECRET_KEY_BYTES, 'rootSignSecretKey');
  return signDetached(staffDeviceCertificateBytes(fields), rootSignSecretKey);
}

/**
 * Checks a v2 staff device certificate against the pinned practice root public key.
 * @throws CryptoError `bad_certificate`, `invalid_length`, `invalid_input`, `not_ready`
 */
export function verifyStaffDeviceCertificate(fields: StaffDeviceCertificateFields, signature: Uint8Array, rootSignPublicKey: Uint8Array): void {
  verifyCertificate(staffDeviceCertificateBytes(fields), signature, rootSignPublicKey);
}

/**
 * Signs ("parley/v1/pak", patient id, sign pk, box pk) with the practice's Ed25519 secret key.
 * @throws CryptoError `invalid_length`, `invalid_input`, `not_ready`
 */
export function certifyPatientAccountKey(fields: PatientAccountKeyCertificateFields, practiceSignSecretKey: Uint8Array): PatientAccountKeyCertificate {
  requireBytes(practiceSignSecretKey, SIGN_SECRET_KEY_BYTES, 'practiceSignSecretKey');
  const signature = signDetached(pakCertificateBytes(fields), practiceSignSecretKey);
  return {
    patientId: fields.patientId,
    signPublicKey: fields.signPublicKey.slice(),
    boxPublicKey: fields.boxPublicKey.slice(),
    signature,
  };
}

/**
 * Checks a PAK certificate against the practice's (pinned) Ed25519 public key.
 * @throws CryptoError `bad_certificate`, `invalid_length`, `invalid_input`, `not_ready`
 */
export function verifyPatientAccountKeyCertificate(certificate: PatientAccountKeyCertificate, practiceSignPublicKey: Uint8Array): void {
  verifyCertificate(pakCertificateBytes(certificate), certificate.signature, practiceSignPublicKey);
}

export function verifyCertificate(signedBytes: Uint8Array, signature: Uint8Array, issuerSignPublicKey: Uint8Array): void {
  requireBytes(signature, SIGNATURE_BYTES, 'signature');
  requireBytes(issuerSignPublicKey, PUBLIC_KEY_BYTES, 'issuerSignPublicKey');
  if (!verifyDetached(signature, signedBytes, issuerSignPublicKey)) {
    throw new CryptoError('bad_certificate', 'certificate signature does not verify against the issuer key');
  }
}

function deviceCertificateBytes(fields: DeviceCertificateFields): Uint8Array {
  return concat(
    DEVICE_PREFIX,
    lpUuid(fields.userId, 'userId'),
    lpUuid(fields.deviceId, 'deviceId'),
    requireBytes(fields.signPublicKey, PUBLIC_KEY_BYTES, 'signPublicKey'),
    requireBytes(fields.boxPublicKey, PUBLIC_KEY_BYTES, 'boxPublicKey'),
  );
}

/**
 * Internal (not in index.ts): "parley/v2/staff-device" ‖ lp(practice_id) ‖ lp(user_id) ‖ lp(device_id)
 * ‖ sign_pk ‖ box_pk ‖ u8(role bits) ‖ lp(UTF-8 of NFC(display_name)).
 */
export function staffDeviceCertificateBytes(fields: StaffDeviceCertificateFields): Uint8Array {
  return concat(
    STAFF_DEVICE_PREFIX,
    lpText(fields.practiceId, 'practiceId'),
    lpUuid(fields.userId, 'userId'),
    lpUuid(fields.deviceId, 'deviceId'),
    requireBytes(fields.signPublicKey, PUBLIC_KEY_BYTES, 'signPublicKey'),
    requireBytes(fields.boxPublicKey, PUBLIC_KEY_BYTES, 'boxPublicKey'),
    u8(staffRoleBits(fields.roles), 'roles'),
    lp(displayNameBytes(fields.displayName)),
  );
}

/** A set of roles as bits, so that order and repeats cannot give one set two encodings. */
function staffRoleBits(roles: readonly StaffRole[]): number {
  if (!Array.isArray(roles) || roles.length === 0) throw new CryptoError('invalid_input', 'roles must name at least one role');
  let bits = 0;
  for (const role of roles) {
    if (!isStaffRole(role)) throw new CryptoError('invalid_input', 'roles holds an unknown role');
    bits |= STAFF_ROLE_BITS[role];
  }
  return bits;
}

function isStaffRole(role: unknown): role is StaffRole {
  // Own-property lookup: a role such as 'toString' must not reach Object.prototype.
  return typeof role === 'string' && Object.hasOwn(STAFF_ROLE_BITS, role);
}

function displayNameBytes(displayName: string): Uint8Array {
  if (typeof displayName !== 'string') throw new CryptoError('invalid_input', 'displayName is not a well-formed string');
  // NFC so a name typed with composed or decomposed accents is one signed name.
  const bytes = utf8(displayName.normalize('NFC'), 'displayName');
  if (bytes.length === 0 || bytes.length > MAX_DISPLAY_NAME_BYTES) {
    throw new CryptoError('invalid_input', `displayName must be 1 to ${MAX_DISPLAY_NAME_BYTES} bytes`);
  }
  return bytes;
}

function pakCertificateBytes(fields: PatientAccountKeyCertificateFields): Uint8Array {
  return concat(
    PAK_PREFIX,
    lpUuid(fields.patientId, 'patientId'),
    requireBytes(fields.signPublicKey, PUBLIC_KEY_BYTES, 'signPublicKey'),
    requireBytes(fields.boxPublicKey, PUBLIC_KEY_BYTES, 'boxPublicKey'),
  );
}

function copyDeviceFields(fields: DeviceCertificateFields): DeviceCertificateFields {
  return {
    userId: fields.userId,
    deviceId: fields.deviceId,
    signPublicKey: fields.signPublicKey.slice(),
    boxPublicKey: fields.boxPublicKey.slice(),
  };
}
