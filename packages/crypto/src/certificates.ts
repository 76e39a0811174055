// Device and patient-account-key certificates: an issuer's Ed25519 signature over a domain-separated
// encoding of who the keys belong to. Certificates are public and live on the server; the
// issuer's secret key never leaves the issuing device (or the practice's signing ceremony).
import { ascii, concat, lpUuid, requireBytes } from './bytes.js';
import { CryptoError } from './crypto-error.js';
import { PUBLIC_KEY_BYTES, SIGN_SECRET_KEY_BYTES, SIGNATURE_BYTES } from './keys.js';
import { signDetached, verifyDetached } from './sodium.js';

const DEVICE_PREFIX = ascii('parley/v1/device');
const PAK_PREFIX = ascii('parley/v1/pak');

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
 * Signs ("parley/v1/pak", patient id, sign pk, box pk) with the practice's Ed25519 secret key.
 * @throws CryptoError `invalid_length`, `invalid_input`, `not_ready`
 */
export function certifyPatientAccountKey(
  fields: PatientAccountKeyCertificateFields,
  practiceSignSecretKey: Uint8Array,
): PatientAccountKeyCertificate {
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
export function verifyPatientAccountKeyCertificate(
  certificate: PatientAccountKeyCertificate,
  practiceSignPublicKey: Uint8Array,
): void {
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
