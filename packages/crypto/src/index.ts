// The public API of @parley/crypto. Call `await ready()` once before anything else.
// Internal helpers (fixed-nonce encryption for test vectors, byte encodings) are deliberately absent.
export { ready, toBase64, fromBase64 } from './sodium.js';
export { CryptoError, CRYPTO_ERROR_CODES } from './crypto-error.js';
export type { CryptoErrorCode } from './crypto-error.js';
export {
  keyId,
  fingerprint,
  generateDeviceKeys,
  generatePatientAccountKeys,
  generatePracticeRootKey,
  createRecordKey,
  PUBLIC_KEY_BYTES,
  SIGNATURE_BYTES,
  KEY_ID_BYTES,
  SEALED_KEY_BYTES,
} from './keys.js';
export type { SigningKeys, BoxKeys, IdentityKeys, RecordKey } from './keys.js';
export {
  certifyDevice,
  verifyDeviceCertificate,
  certifyStaffDevice,
  verifyStaffDeviceCertificate,
  certifyPatientAccountKey,
  verifyPatientAccountKeyCertificate,
} from './certificates.js';
export type {
  DeviceCertificate,
  DeviceCertificateFields,
  StaffDeviceCertificateFields,
  StaffRole,
  PatientAccountKeyCertificate,
  PatientAccountKeyCertificateFields,
} from './certificates.js';
export {
  certifyRecordKey,
  verifyRecordKeyCertificate,
  signRecordKeyCurrent,
  verifyRecordKeyCurrent,
  grantRecordKey,
  openRecordKeyGrant,
} from './record-keys.js';
export type { RecordKeyCertificate, RecordKeyCertificateFields, RecordKeyCurrentFields, RecordKeyGrant } from './record-keys.js';
export {
  INVITATION_CODE_ALPHABET,
  INVITATION_CODE_LENGTH,
  INVITATION_KDF_PARAMS,
  generateInvitationCode,
  normaliseInvitationCode,
  deriveInvitationKeys,
  signInvitation,
  verifyInvitation,
  signInvitationRoot,
  verifyInvitationRoot,
  signAccountKey,
  verifyAccountKeySignature,
} from './invitations.js';
export type { InvitationKeys, InvitationFields, AccountKeyFields } from './invitations.js';
export {
  deriveRecoveryKeys,
  signRecovery,
  verifyRecovery,
  signRecoveryRoot,
  verifyRecoveryRoot,
  signRecoveryAccountKey,
  verifyRecoveryAccountKey,
} from './recovery.js';
export type { RecoveryFields } from './recovery.js';
export { certifyAdminKey, verifyAdminKeyCertificate, signRootSuccessor, verifyRootSuccessor } from './authority.js';
export type { AdminKeyFields, RootSuccessorFields } from './authority.js';
export { signRevocationList, verifyRevocationList, MAX_REVOCATION_ENTRIES } from './revocations.js';
export type { RevocationListFields, RevokedDeviceEntry } from './revocations.js';
export { createEpochKey, sealEpochKey, envelopeSignedBytes, verifyEnvelopeSignature, openEpochKey, EPOCH_KEY_BYTES } from './envelopes.js';
export type { EpochRef, EpochEnvelope, EnvelopeCreator } from './envelopes.js';
export {
  encryptMessage,
  decryptMessage,
  MESSAGE_SUITE,
  SENDER_ROLES,
  CONTENT_TYPES,
  NONCE_BYTES,
  MAX_PAYLOAD_BYTES,
  MAX_CIPHERTEXT_BYTES,
  RED_FLAG_ID_PATTERN,
  MAX_RED_FLAGS,
} from './messages.js';
export type { MessageHeader, MessagePayload, EncryptedMessage, SenderRole, ContentType } from './messages.js';
export {
  encryptFile,
  decryptFile,
  describeFile,
  fileRefOf,
  fileCipherBytes,
  ATTACHMENT_TYPES,
  MAX_ATTACHMENTS,
  MAX_ATTACHMENT_NAME_CHARS,
  MAX_FILE_BYTES,
  MAX_IMAGE_EDGE,
  FILE_CHUNK_BYTES,
  FILE_CHUNK_OVERHEAD,
  FILE_KEY_BYTES,
  FILE_HEADER_BYTES,
  FILE_HASH_BYTES,
} from './attachments.js';
export type { EncryptedFile, FileRef, AttachmentDescriptor, AttachmentType } from './attachments.js';
export { ReceiveGuard } from './receive-guard.js';
export type { SeqGap, ReceivedMessage, ReceiveGuardState } from './receive-guard.js';
export { newSalt, deriveAccountKeys, DEFAULT_KDF_PARAMS, TEST_KDF_PARAMS, SALT_BYTES } from './passphrase.js';
export type { KdfParams, PassphraseKeys } from './passphrase.js';
export { sealBackup, openBackup, readBackupHeader, BACKUP_BLOB_BYTES } from './backup.js';
export type { BackupHeader } from './backup.js';
export { generatePassphrase, checkPassphraseStrength, PASSPHRASE_WORD_COUNT, MIN_PASSPHRASE_CHARS } from './passphrase-strength.js';
export type { PassphraseStrength, PassphraseWeakness } from './passphrase-strength.js';
