// Writes test/vectors.json: fixed inputs → fixed outputs of @parley/crypto, for the known-answer
// tests and for any other implementation of the format. Run `pnpm --filter @parley/crypto vectors`
// (or `pnpm vectors` in packages/crypto) after a deliberate change to the format, and say why in
// the commit. Sealed boxes are randomised: an existing sealed vector that still opens to the
// expected key is kept, so regenerating without a format change rewrites the file identically.
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import type { AdminKeyFields, RootSuccessorFields } from '../src/authority.js';
import { adminKeySignedBytes, certifyAdminKey, rootSuccessorSignedBytes, signRootSuccessor } from '../src/authority.js';
import { sealBackupWithNonce } from '../src/backup.js';
import type { StaffDeviceCertificateFields } from '../src/certificates.js';
import { certifyDevice, certifyPatientAccountKey, certifyStaffDevice, staffDeviceCertificateBytes } from '../src/certificates.js';
import { CryptoError } from '../src/crypto-error.js';
import { decryptFile, describeFile, encryptFileWithKey, type EncryptedFile } from '../src/attachments.js';
import { envelopeSignedBytes, sealEpochKey, signEnvelope } from '../src/envelopes.js';
import type { AccountKeyFields, InvitationFields } from '../src/invitations.js';
import {
  accountKeySignedBytes,
  deriveInvitationKeys,
  invitationRootSignedBytes,
  invitationSalt,
  invitationSignedBytes,
  normaliseInvitationCode,
  signAccountKey,
  signInvitation,
  signInvitationRoot,
} from '../src/invitations.js';
import type { IdentityKeys } from '../src/keys.js';
import { createRecordKey, fingerprint, generateDeviceKeys, generatePatientAccountKeys, generatePracticeRootKey, keyId } from '../src/keys.js';
import type { MessageHeader, MessagePayload } from '../src/messages.js';
import { encodePayload, encryptMessageWithNonce, messageAssociatedData, messagePlaintext } from '../src/messages.js';
import { deriveAccountKeys, TEST_KDF_PARAMS } from '../src/passphrase.js';
import type { RecordKeyCurrentFields } from '../src/record-keys.js';
import { certifyRecordKey, grantRecordKey, recordKeyCurrentSignedBytes, signRecordKeyCurrent, signRecordKeyGrant } from '../src/record-keys.js';
import type { RecoveryFields } from '../src/recovery.js';
import {
  deriveRecoveryKeys,
  recoveryAccountSignedBytes,
  recoveryRootSignedBytes,
  recoverySalt,
  recoverySignedBytes,
  signRecovery,
  signRecoveryAccountKey,
  signRecoveryRoot,
} from '../src/recovery.js';
import type { RevocationListFields } from '../src/revocations.js';
import { revocationListSignedBytes, signRevocationList } from '../src/revocations.js';
import { blake2b, openSealed, ready } from '../src/sodium.js';
import { ascii } from '../src/bytes.js';

const outputPath = process.argv[2];
if (outputPath === undefined) throw new Error('usage: generate-vectors <output.json>');

await ready();

const hex = (bytes: Uint8Array): string => Buffer.from(bytes).toString('hex');
const fromHex = (text: string): Uint8Array => new Uint8Array(Buffer.from(text, 'hex'));
const filled = (length: number, byte: number): Uint8Array => new Uint8Array(length).fill(byte);

/** The parts of an earlier vectors.json that are reused; every field is probed before use. */
interface EarlierVectors {
  recordKeyGrant?: { sealedSeed?: unknown };
  envelope?: { sealedKey?: unknown };
  file?: { header?: unknown; ciphertext?: unknown };
  fileTwoChunks?: { header?: unknown; ciphertext?: unknown };
}
const previous: EarlierVectors = existsSync(outputPath) ? (JSON.parse(readFileSync(outputPath, 'utf8')) as EarlierVectors) : {};

const seeds = {
  practiceRoot: filled(32, 0x01),
  clinicianDevice: filled(32, 0x02),
  adminDevice: filled(32, 0x03),
  patientAccount: filled(32, 0x04),
  patientDevice: filled(32, 0x05),
  recordKey: filled(32, 0x06),
};
const root = generatePracticeRootKey(seeds.practiceRoot);
const clinicianDevice = generateDeviceKeys(seeds.clinicianDevice);
const adminDevice = generateDeviceKeys(seeds.adminDevice);
const patientAccount = generatePatientAccountKeys(seeds.patientAccount);
const patientDevice = generateDeviceKeys(seeds.patientDevice);
const recordKey = createRecordKey(1, seeds.recordKey);

const ids = {
  practiceId: 'A81001',
  conversationId: '0f8fad5b-d9cb-469f-a165-70867728950e',
  patientId: '7c9e6679-7425-40de-944b-e07fc1f90ae7',
  patientDeviceId: 'c56a4180-65aa-42ec-a945-5fd21dec0538',
  clinicianUserId: '16fd2706-8baf-433b-82eb-8c7fada847da',
  clinicianDeviceId: '886313e1-3b8a-5372-9b90-0c9aee199e5d',
  clientMsgId: 'f47ac10b-58cc-4372-a567-0e02b2c3d479',
  adminUserId: '3f2504e0-4f89-41d3-9a0c-0305e82c3301',
  adminDeviceId: 'd9428888-122b-41b3-9e84-b6a1b9f0c2c4',
};

function identity(seed: Uint8Array, keys: IdentityKeys) {
  return {
    seed: hex(seed),
    signPublicKey: hex(keys.signPublicKey),
    boxPublicKey: hex(keys.boxPublicKey),
    signKeyId: hex(keyId(keys.signPublicKey)),
    boxKeyId: hex(keyId(keys.boxPublicKey)),
    signFingerprint: fingerprint(keys.signPublicKey),
  };
}

/** Keeps an earlier sealed box when it still opens to `expected`; otherwise seals afresh. */
function reuseSealed(earlier: unknown, recipient: { boxPublicKey: Uint8Array; boxSecretKey: Uint8Array }, expected: Uint8Array): Uint8Array | null {
  if (typeof earlier !== 'string') return null;
  const opened = openSealed(fromHex(earlier), recipient.boxPublicKey, recipient.boxSecretKey);
  return opened !== null && hex(opened) === hex(expected) ? fromHex(earlier) : null;
}

// Certificates.
const patientDeviceCertificate = certifyDevice(
  { userId: ids.patientId, deviceId: ids.patientDeviceId, signPublicKey: patientDevice.signPublicKey, boxPublicKey: patientDevice.boxPublicKey },
  patientAccount.signSecretKey,
);
const clinicianDeviceCertificate = certifyDevice(
  { userId: ids.clinicianUserId, deviceId: ids.clinicianDeviceId, signPublicKey: clinicianDevice.signPublicKey, boxPublicKey: clinicianDevice.boxPublicKey },
  root.signSecretKey,
);
const pakCertificate = certifyPatientAccountKey(
  { patientId: ids.patientId, signPublicKey: patientAccount.signPublicKey, boxPublicKey: patientAccount.boxPublicKey },
  root.signSecretKey,
);
const validFrom = Date.UTC(2026, 0, 1);
const recordKeyCertificate = certifyRecordKey(
  { practiceId: ids.practiceId, version: recordKey.version, publicKey: recordKey.boxPublicKey, validFrom },
  root.signSecretKey,
);

// v2 staff device certificates: roles as bits, the display name signed in NFC. The admin's name is
// given decomposed (NFD) and its roles out of order and repeated, so the vector pins both rules.
const clinicianStaffFields: StaffDeviceCertificateFields = {
  practiceId: ids.practiceId,
  userId: ids.clinicianUserId,
  deviceId: ids.clinicianDeviceId,
  signPublicKey: clinicianDevice.signPublicKey,
  boxPublicKey: clinicianDevice.boxPublicKey,
  displayName: 'Dr Amara Okafor',
  roles: ['clinician'],
};
const adminStaffFields: StaffDeviceCertificateFields = {
  practiceId: ids.practiceId,
  userId: ids.adminUserId,
  deviceId: ids.adminDeviceId,
  signPublicKey: adminDevice.signPublicKey,
  boxPublicKey: adminDevice.boxPublicKey,
  displayName: 'Zoe\u0308 O\u0301 Briain',
  roles: ['manager', 'clinician', 'manager'],
};
function staffDeviceVector(subject: string, fields: StaffDeviceCertificateFields) {
  return {
    issuer: 'practiceRoot',
    subject,
    practiceId: fields.practiceId,
    userId: fields.userId,
    deviceId: fields.deviceId,
    displayName: fields.displayName,
    roles: fields.roles,
    signedBytes: hex(staffDeviceCertificateBytes(fields)),
    signature: hex(certifyStaffDevice(fields, root.signSecretKey)),
  };
}

// v2 record-key currency: the root names version 1 as current.
const recordKeyCurrent: RecordKeyCurrentFields = {
  practiceId: ids.practiceId,
  version: recordKey.version,
  publicKey: recordKey.boxPublicKey,
  issuedAt: Date.UTC(2026, 0, 1),
};

// v2 revocation list: the root revokes the patient device and the clinician device, given out of
// order (and the clinician's id in upper case) so the vector pins the sort and the UUID bytes.
const revocationList: RevocationListFields = {
  practiceId: ids.practiceId,
  version: 2,
  issuedAt: Date.UTC(2026, 1, 1),
  entries: [
    { deviceId: ids.patientDeviceId, revokedAt: Date.UTC(2026, 0, 20) },
    { deviceId: ids.clinicianDeviceId.toUpperCase(), revokedAt: Date.UTC(2026, 0, 10) },
  ],
};

// v2 practice authority: the root certifies an admin key, then names its successor.
const adminKey = generatePracticeRootKey(filled(32, 0x07));
const successorRoot = generatePracticeRootKey(filled(32, 0x08));
const adminKeyFields: AdminKeyFields = {
  practiceId: ids.practiceId,
  adminKeyId: '5b6f0b9e-2d3c-4a51-8e7f-90a1b2c3d4e5',
  signPublicKey: adminKey.signPublicKey,
  issuedAt: Date.UTC(2026, 2, 1),
};
const rootSuccessor: RootSuccessorFields = {
  practiceId: ids.practiceId,
  previousSignPublicKey: root.signPublicKey,
  signPublicKey: successorRoot.signPublicKey,
  issuedAt: Date.UTC(2026, 3, 1),
};

// Record key grant: admin device → clinician device. A reused sealed seed is signed again, so a
// change to the signed layout still shows in the vectors.
const earlierGrant = reuseSealed(previous.recordKeyGrant?.sealedSeed, clinicianDevice, recordKey.seed);
let grant = grantRecordKey({
  practiceId: ids.practiceId,
  recordKey,
  recipientBoxPublicKey: clinicianDevice.boxPublicKey,
  granterSignSecretKey: adminDevice.signSecretKey,
});
if (earlierGrant !== null) grant = signRecordKeyGrant({ ...grant, sealedSeed: earlierGrant }, adminDevice.signSecretKey);

// Epoch envelope: clinician device opens epoch 1 and seals CK to the patient device.
const epochKey = filled(32, 0x07);
const epochRef = { conversationId: ids.conversationId, epoch: 1 };
const earlierEnvelope = reuseSealed(previous.envelope?.sealedKey, patientDevice, epochKey);
const envelope =
  earlierEnvelope === null
    ? sealEpochKey({ ...epochRef, epochKey, recipientBoxPublicKey: patientDevice.boxPublicKey, creatorSignSecretKey: clinicianDevice.signSecretKey })
    : signEnvelope(epochRef, keyId(patientDevice.boxPublicKey), earlierEnvelope, clinicianDevice.signSecretKey);

// Message from the clinician device, fixed nonce.
const header: MessageHeader = {
  practiceId: ids.practiceId,
  conversationId: ids.conversationId,
  patientId: ids.patientId,
  epoch: 1,
  senderUserId: ids.clinicianUserId,
  senderDeviceId: ids.clinicianDeviceId,
  senderRole: 'clinician',
  senderDeviceSeq: 1n,
  clientMsgId: ids.clientMsgId,
  contentType: 'text',
};
const payload: MessagePayload = {
  body: 'Your blood test results are back and look normal. Café at 10:00? 👍',
  attachments: [],
  clientSentAt: '2026-01-02T09:30:00.000Z',
};
const messageNonce = filled(24, 0x08);
const ad = messageAssociatedData(header);
const payloadBytes = encodePayload(payload);
const message = encryptMessageWithNonce(header, payload, epochKey, clinicianDevice.signSecretKey, messageNonce);

// Message from the patient device that carries red flags (the patient saw the 999/111 advice and sent anyway).
const redFlagHeader: MessageHeader = {
  ...header,
  senderUserId: ids.patientId,
  senderDeviceId: ids.patientDeviceId,
  senderRole: 'patient',
  clientMsgId: 'a3bb189e-8bf9-4888-9912-ace4e6543002',
};
const redFlagPayload: MessagePayload = {
  body: 'I have crushing chest pain and I can’t catch my breath',
  attachments: [],
  clientSentAt: '2026-01-02T09:31:00.000Z',
  redFlags: ['chest_pain', 'breathing'],
};
const redFlagNonce = filled(24, 0x0b);
const redFlagAd = messageAssociatedData(redFlagHeader);
const redFlagPayloadBytes = encodePayload(redFlagPayload);
const redFlagMessage = encryptMessageWithNonce(redFlagHeader, redFlagPayload, epochKey, patientDevice.signSecretKey, redFlagNonce);

// Files: secretstream draws its header at random, so (as with sealed boxes) an earlier header and ciphertext that still
// decrypt to the expected plaintext under the fixed key are kept.
function fileVector(earlier: EarlierVectors['file'], plaintext: Uint8Array, key: Uint8Array): EncryptedFile {
  if (typeof earlier?.header === 'string' && typeof earlier.ciphertext === 'string') {
    const ciphertext = fromHex(earlier.ciphertext);
    const kept = { key, header: fromHex(earlier.header), ciphertext, hash: blake2b(32, ciphertext), size: plaintext.length };
    try {
      if (hex(decryptFile(kept, ciphertext)) === hex(plaintext)) return kept;
    } catch {
      // The format changed: encrypt afresh below.
    }
  }
  return encryptFileWithKey(plaintext, key);
}
const filePlaintext = new TextEncoder().encode('A photo of the rash on my left forearm (not really: vector bytes).');
const file = fileVector(previous.file, filePlaintext, filled(32, 0x0c));
/** Two chunks (65,536 + 1 bytes): byte i is i mod 251, so an implementation can rebuild it. */
const twoChunkPlaintext = Uint8Array.from({ length: 65_537 }, (_, i) => i % 251);
const twoChunkFile = fileVector(previous.fileTwoChunks, twoChunkPlaintext, filled(32, 0x0d));

// Message from the patient device that carries the file (a photo of 640 × 480 pixels) with a caption.
const attachmentHeader: MessageHeader = {
  ...header,
  senderUserId: ids.patientId,
  senderDeviceId: ids.patientDeviceId,
  senderRole: 'patient',
  senderDeviceSeq: 2n,
  clientMsgId: 'a3bb189e-8bf9-4888-9912-ace4e6543003',
  contentType: 'attachment',
};
const attachmentPayload: MessagePayload = {
  body: 'The rash this morning',
  attachments: [describeFile(file, { id: 'c56a4180-65aa-42ec-a945-5fd21dec0538', type: 'image/jpeg', name: 'rash.jpg', width: 640, height: 480 })],
  clientSentAt: '2026-01-02T09:32:00.000Z',
};
const attachmentNonce = filled(24, 0x0e);
const attachmentAd = messageAssociatedData(attachmentHeader);
const attachmentPayloadBytes = encodePayload(attachmentPayload);
const attachmentMessage = encryptMessageWithNonce(attachmentHeader, attachmentPayload, epochKey, patientDevice.signSecretKey, attachmentNonce);

// Passphrase → keys (low-cost test parameters), and the backup blob.
const salt = filled(16, 0x09);
const passphrase = 'dune mentor canvas deal proud garage';
const kdf = deriveAccountKeys(passphrase, salt, TEST_KDF_PARAMS);
// "café" typed with a combining accent (NFD) must give the same keys as the composed form.
const unicodePassphrase = 'cafe\u0301 crème brûlée ﬁve';
const unicodeKdf = deriveAccountKeys(unicodePassphrase, salt, TEST_KDF_PARAMS);
const backupNonce = filled(24, 0x0a);
const backupBlob = sealBackupWithNonce(
  { userId: ids.patientId, backupVersion: 1, accountKeys: patientAccount, pinnedRoot: root.signPublicKey, passphraseKeys: kdf },
  backupNonce,
);

// Invitations (v2), at the test cost: the clinician device invites the patient.
const invitationCode = '7KQ2-M9XP-4HZ3T';
const invitationKeys = deriveInvitationKeys(invitationCode, ids.practiceId, TEST_KDF_PARAMS);
const invitationKey = invitationKeys.signKeys;
const invitationFields: InvitationFields = {
  practiceId: ids.practiceId,
  patientId: ids.patientId,
  invitationSignPublicKey: invitationKey.signPublicKey,
  expiresAt: Date.UTC(2026, 0, 31),
};
const invitationRoot = { practiceId: ids.practiceId, rootSignPublicKey: root.signPublicKey };
const accountKey: AccountKeyFields = {
  practiceId: ids.practiceId,
  patientId: ids.patientId,
  signPublicKey: patientAccount.signPublicKey,
  boxPublicKey: patientAccount.boxPublicKey,
};
// Practice-assisted recovery (flow B), at the test cost: the same code as the invitation, under the recovery's own salt.
const recoveryKeys = deriveRecoveryKeys(invitationCode, ids.practiceId, TEST_KDF_PARAMS);
const recoveryKey = recoveryKeys.signKeys;
const recoveryFields: RecoveryFields = {
  practiceId: ids.practiceId,
  patientId: ids.patientId,
  recoveryId: '9a3f6c2e-41b7-4d8a-b5e2-0c6d7e8f9a10',
  recoverySignPublicKey: recoveryKey.signPublicKey,
  expiresAt: Date.UTC(2026, 1, 7),
};
const typedCodes = ['7KQ2-M9XP-4HZ3T', ' 7kq2 m9xp 4hz3t ', 'OIL0-oil0-ABCDE', 'ｏ123-4567-89abc', '7KQ2-M9XP-4HZ3U', '7KQ2-M9XP-4HZ3', '7KQ2-M9XP-4HZ3TT'];
function normalisedOrNull(typed: string): string | null {
  try {
    return normaliseInvitationCode(typed);
  } catch (error) {
    if (error instanceof CryptoError && error.code === 'invalid_input') return null;
    throw error;
  }
}

const vectors = {
  _comment: 'Generated by scripts/generate-vectors.ts (`pnpm vectors` in packages/crypto). Do not edit by hand. Bytes are hex; u64 values are decimal strings.',
  keys: {
    practiceRoot: {
      seed: hex(seeds.practiceRoot),
      signPublicKey: hex(root.signPublicKey),
      signKeyId: hex(keyId(root.signPublicKey)),
      signFingerprint: fingerprint(root.signPublicKey),
    },
    clinicianDevice: identity(seeds.clinicianDevice, clinicianDevice),
    adminDevice: identity(seeds.adminDevice, adminDevice),
    patientAccount: identity(seeds.patientAccount, patientAccount),
    patientDevice: identity(seeds.patientDevice, patientDevice),
    recordKey: {
      version: recordKey.version,
      seed: hex(recordKey.seed),
      boxPublicKey: hex(recordKey.boxPublicKey),
      boxKeyId: hex(keyId(recordKey.boxPublicKey)),
    },
  },
  ids,
  certificates: {
    patientDevice: {
      issuer: 'patientAccount',
      userId: ids.patientId,
      deviceId: ids.patientDeviceId,
      subject: 'patientDevice',
      signature: hex(patientDeviceCertificate.signature),
    },
    clinicianDevice: {
      issuer: 'practiceRoot',
      userId: ids.clinicianUserId,
      deviceId: ids.clinicianDeviceId,
      subject: 'clinicianDevice',
      signature: hex(clinicianDeviceCertificate.signature),
    },
    patientAccount: { issuer: 'practiceRoot', patientId: ids.patientId, subject: 'patientAccount', signature: hex(pakCertificate.signature) },
    recordKey: { issuer: 'practiceRoot', practiceId: ids.practiceId, version: recordKey.version, validFrom, signature: hex(recordKeyCertificate.signature) },
    clinicianStaffDevice: staffDeviceVector('clinicianDevice', clinicianStaffFields),
    adminStaffDevice: staffDeviceVector('adminDevice', adminStaffFields),
    recordKeyCurrent: {
      issuer: 'practiceRoot',
      subject: 'recordKey',
      practiceId: recordKeyCurrent.practiceId,
      version: recordKeyCurrent.version,
      issuedAt: recordKeyCurrent.issuedAt,
      signedBytes: hex(recordKeyCurrentSignedBytes(recordKeyCurrent)),
      signature: hex(signRecordKeyCurrent(recordKeyCurrent, root.signSecretKey)),
    },
  },
  revocationList: {
    signer: 'practiceRoot',
    practiceId: revocationList.practiceId,
    version: revocationList.version,
    issuedAt: revocationList.issuedAt,
    entries: revocationList.entries,
    signedBytes: hex(revocationListSignedBytes(revocationList)),
    signature: hex(signRevocationList(revocationList, root.signSecretKey)),
  },
  adminKey: {
    signer: 'practiceRoot',
    seed: hex(filled(32, 0x07)),
    practiceId: adminKeyFields.practiceId,
    adminKeyId: adminKeyFields.adminKeyId,
    signPublicKey: hex(adminKey.signPublicKey),
    issuedAt: adminKeyFields.issuedAt,
    signedBytes: hex(adminKeySignedBytes(adminKeyFields)),
    signature: hex(certifyAdminKey(adminKeyFields, root.signSecretKey)),
  },
  rootSuccessor: {
    signer: 'practiceRoot',
    seed: hex(filled(32, 0x08)),
    practiceId: rootSuccessor.practiceId,
    previousSignPublicKey: hex(rootSuccessor.previousSignPublicKey),
    signPublicKey: hex(rootSuccessor.signPublicKey),
    issuedAt: rootSuccessor.issuedAt,
    signedBytes: hex(rootSuccessorSignedBytes(rootSuccessor)),
    signature: hex(signRootSuccessor(rootSuccessor, root.signSecretKey)),
  },
  recordKeyGrant: {
    granter: 'adminDevice',
    recipient: 'clinicianDevice',
    practiceId: grant.practiceId,
    version: grant.version,
    recordKeyId: hex(grant.recordKeyId),
    recipientKeyId: hex(grant.recipientKeyId),
    sealedSeed: hex(grant.sealedSeed),
    signature: hex(grant.signature),
  },
  envelope: {
    creator: 'clinicianDevice',
    recipient: 'patientDevice',
    ...epochRef,
    epochKey: hex(epochKey),
    recipientKeyId: hex(envelope.recipientKeyId),
    sealedKey: hex(envelope.sealedKey),
    signedBytes: hex(envelopeSignedBytes(epochRef, envelope)),
    signature: hex(envelope.signature),
  },
  message: {
    sender: 'clinicianDevice',
    header: { ...header, senderDeviceSeq: header.senderDeviceSeq.toString() },
    payload,
    epochKey: hex(epochKey),
    nonce: hex(messageNonce),
    associatedData: hex(ad),
    payloadBytes: hex(payloadBytes),
    plaintext: hex(messagePlaintext(ad, payloadBytes, clinicianDevice.signSecretKey)),
    ciphertext: hex(message.ciphertext),
  },
  messageWithRedFlags: {
    sender: 'patientDevice',
    header: { ...redFlagHeader, senderDeviceSeq: redFlagHeader.senderDeviceSeq.toString() },
    payload: redFlagPayload,
    epochKey: hex(epochKey),
    nonce: hex(redFlagNonce),
    associatedData: hex(redFlagAd),
    payloadBytes: hex(redFlagPayloadBytes),
    plaintext: hex(messagePlaintext(redFlagAd, redFlagPayloadBytes, patientDevice.signSecretKey)),
    ciphertext: hex(redFlagMessage.ciphertext),
  },
  file: {
    associatedData: hex(ascii('parley/v1/file')),
    chunkBytes: 65_536,
    key: hex(file.key),
    plaintext: hex(filePlaintext),
    header: hex(file.header),
    ciphertext: hex(file.ciphertext),
    hash: hex(file.hash),
    size: file.size,
  },
  fileTwoChunks: {
    associatedData: hex(ascii('parley/v1/file')),
    chunkBytes: 65_536,
    key: hex(twoChunkFile.key),
    plaintextRule: 'byte i is i mod 251',
    header: hex(twoChunkFile.header),
    ciphertext: hex(twoChunkFile.ciphertext),
    hash: hex(twoChunkFile.hash),
    size: twoChunkFile.size,
  },
  messageWithAttachment: {
    sender: 'patientDevice',
    header: { ...attachmentHeader, senderDeviceSeq: attachmentHeader.senderDeviceSeq.toString() },
    payload: attachmentPayload,
    epochKey: hex(epochKey),
    nonce: hex(attachmentNonce),
    associatedData: hex(attachmentAd),
    payloadBytes: hex(attachmentPayloadBytes),
    plaintext: hex(messagePlaintext(attachmentAd, attachmentPayloadBytes, patientDevice.signSecretKey)),
    ciphertext: hex(attachmentMessage.ciphertext),
  },
  kdf: [
    {
      passphrase,
      salt: hex(salt),
      params: { opsLimit: TEST_KDF_PARAMS.opsLimit, memLimit: TEST_KDF_PARAMS.memLimit },
      authKey: hex(kdf.authKey),
      backupKey: hex(kdf.backupKey),
    },
    {
      passphrase: unicodePassphrase,
      salt: hex(salt),
      params: { opsLimit: TEST_KDF_PARAMS.opsLimit, memLimit: TEST_KDF_PARAMS.memLimit },
      authKey: hex(unicodeKdf.authKey),
      backupKey: hex(unicodeKdf.backupKey),
    },
  ],
  backup: {
    account: 'patientAccount',
    userId: ids.patientId,
    backupVersion: 1,
    passphrase,
    salt: hex(salt),
    params: { opsLimit: TEST_KDF_PARAMS.opsLimit, memLimit: TEST_KDF_PARAMS.memLimit },
    pinnedRoot: hex(root.signPublicKey),
    nonce: hex(backupNonce),
    blob: hex(backupBlob),
  },
  invitationCodes: typedCodes.map((typed) => ({ typed, normalised: normalisedOrNull(typed) })),
  invitation: {
    code: invitationCode,
    practiceId: ids.practiceId,
    params: { opsLimit: TEST_KDF_PARAMS.opsLimit, memLimit: TEST_KDF_PARAMS.memLimit },
    salt: hex(invitationSalt(ids.practiceId)),
    lookupId: hex(invitationKeys.lookupId),
    signPublicKey: hex(invitationKey.signPublicKey),
    invitation: {
      signer: 'clinicianDevice',
      patientId: invitationFields.patientId,
      expiresAt: invitationFields.expiresAt,
      signedBytes: hex(invitationSignedBytes(invitationFields)),
      signature: hex(signInvitation(invitationFields, clinicianDevice.signSecretKey)),
    },
    root: {
      signer: 'invitation',
      subject: 'practiceRoot',
      signedBytes: hex(invitationRootSignedBytes(invitationRoot)),
      signature: hex(signInvitationRoot(invitationRoot, invitationKey.signSecretKey)),
    },
    account: {
      signer: 'invitation',
      subject: 'patientAccount',
      patientId: accountKey.patientId,
      signedBytes: hex(accountKeySignedBytes(accountKey)),
      signature: hex(signAccountKey(accountKey, invitationKey.signSecretKey)),
    },
  },
  recovery: {
    code: invitationCode,
    practiceId: ids.practiceId,
    params: { opsLimit: TEST_KDF_PARAMS.opsLimit, memLimit: TEST_KDF_PARAMS.memLimit },
    salt: hex(recoverySalt(ids.practiceId)),
    lookupId: hex(recoveryKeys.lookupId),
    signPublicKey: hex(recoveryKey.signPublicKey),
    recovery: {
      signer: 'clinicianDevice',
      patientId: recoveryFields.patientId,
      recoveryId: recoveryFields.recoveryId,
      expiresAt: recoveryFields.expiresAt,
      signedBytes: hex(recoverySignedBytes(recoveryFields)),
      signature: hex(signRecovery(recoveryFields, clinicianDevice.signSecretKey)),
    },
    root: {
      signer: 'recovery',
      subject: 'practiceRoot',
      signedBytes: hex(recoveryRootSignedBytes(invitationRoot)),
      signature: hex(signRecoveryRoot(invitationRoot, recoveryKey.signSecretKey)),
    },
    account: {
      signer: 'recovery',
      subject: 'patientAccount',
      patientId: accountKey.patientId,
      signedBytes: hex(recoveryAccountSignedBytes(accountKey)),
      signature: hex(signRecoveryAccountKey(accountKey, recoveryKey.signSecretKey)),
    },
  },
};

writeFileSync(outputPath, `${JSON.stringify(vectors, null, 2)}\n`);
console.log(`wrote ${outputPath}`);
