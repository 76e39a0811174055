// Message encryption, exactly the layout of docs/crypto.md "Message layout". The AD is never sent
// as a blob: its fields are the message row's plaintext columns, and every reader rebuilds it from
// them, so a server that edits a column makes decryption fail. Decrypted text stays in the
// caller's memory; it never reaches logs or errors from here.
import { type AttachmentDescriptor, canonicalAttachments } from './attachments.js';
import { ByteReader } from './byte-reader.js';
import { ascii, concat, lpText, lpUuid, requireBytes, u32, u64, u8 } from './bytes.js';
import { CryptoError } from './crypto-error.js';
import { PUBLIC_KEY_BYTES, requireCounter, SIGN_SECRET_KEY_BYTES, SIGNATURE_BYTES } from './keys.js';
import { EPOCH_KEY_BYTES } from './envelopes.js';
import { aeadDecrypt, aeadEncrypt, blake2b, pad, randomBytes, signDetached, unpad, verifyDetached, wipe } from './sodium.js';

/** The suite string that starts every message AD; changing the suite changes this string. */
export const MESSAGE_SUITE = 'parley/v1/msg/xchacha20poly1305+ed25519';
const SUITE_BYTES = ascii(MESSAGE_SUITE);
const MSGSIG_PREFIX = ascii('parley/v1/msgsig');
const PADDING_BLOCK = 256;
const TAG_BYTES = 16;

/** Size of a message nonce (XChaCha20). */
export const NONCE_BYTES = 24;
/** Largest canonical payload encryptMessage accepts. */
export const MAX_PAYLOAD_BYTES = 32 * 1024;
/** Largest ciphertext a message can have: the padded maximum payload plus the Poly1305 tag (33,040 bytes). */
export const MAX_CIPHERTEXT_BYTES = paddedLength(4 + MAX_PAYLOAD_BYTES + SIGNATURE_BYTES) + TAG_BYTES;

/** The u8 written into the AD for each sender role. */
export const SENDER_ROLES = { patient: 1, clinician: 2, manager: 3, system: 4 } as const;
/** Who sent a message. */
export type SenderRole = keyof typeof SENDER_ROLES;

/** The u8 written into the AD for each content type. */
export const CONTENT_TYPES = { text: 1, attachment: 2, system: 3, 'key-rotation': 4 } as const;
/** What a message carries. */
export type ContentType = keyof typeof CONTENT_TYPES;

/** The message row's plaintext columns, from which the AD is built; ids are UUIDs except `practiceId` (the ODS code). */
export interface MessageHeader {
  practiceId: string;
  conversationId: string;
  patientId: string;
  epoch: number;
  senderUserId: string;
  senderDeviceId: string;
  senderRole: SenderRole;
  /** Counts from 1 per (sender device, conversation); a u64. */
  senderDeviceSeq: number | bigint;
  clientMsgId: string;
  contentType: ContentType;
}

/** What a message says. */
export interface MessagePayload {
  /** The text; may be empty for an attachment message (the caption). */
  body: string;
  /**
   * The files the message carries (at most 4; docs/crypto.md, "Files"): non-empty exactly when the header's
   * contentType is `attachment`. Each descriptor's `id` is an upload the message's send references.
   */
  attachments: readonly AttachmentDescriptor[];
  /** ISO-8601 UTC with milliseconds, as Date.prototype.toISOString() writes it. */
  clientSentAt: string;
  /**
   * Ids of the red-flag groups the patient's device found in this text, for which it showed the
   * 999/111 advice and the patient chose to send anyway (docs/clinical-safety.md). Absent or empty =
   * no red flag; each id matches {@link RED_FLAG_ID_PATTERN}, at most {@link MAX_RED_FLAGS}, no repeats.
   */
  redFlags?: readonly string[];
}

/** What a red-flag group id looks like (a slug such as `chest_pain`, as the patient app's reviewed list names its groups). */
export const RED_FLAG_ID_PATTERN = /^[a-z][a-z0-9_-]{0,39}$/;
/** Most red-flag ids one message can carry. */
export const MAX_RED_FLAGS = 16;

/** What the server stores besides the header columns. */
export interface EncryptedMessage {
  ciphertext: Uint8Array;
  nonce: Uint8Array;
}

/**
 * Signs, pads and encrypts a payload under the epoch key, binding every header field as AD, with a fresh random nonce.
 * @throws CryptoError `invalid_length`, `invalid_input`, `not_ready`
 */
export function encryptMessage(header: MessageHeader, payload: MessagePayload, epochKey: Uint8Array, senderSignSecretKey: Uint8Array): EncryptedMessage {
  return encryptMessageWithNonce(header, payload, epochKey, senderSignSecretKey, randomBytes(NONCE_BYTES));
}

/**
 * Decrypts a message, rebuilding the AD from the header columns, and checks the sender's signature inside.
 * @throws CryptoError `decrypt_failed`, `bad_signature`, `invalid_length`, `invalid_input`, `not_ready`
 */
export function decryptMessage(
  header: MessageHeader,
  ciphertext: Uint8Array,
  nonce: Uint8Array,
  epochKey: Uint8Array,
  senderSignPublicKey: Uint8Array,
): MessagePayload {
  requireBytes(nonce, NONCE_BYTES, 'nonce');
  requireBytes(epochKey, EPOCH_KEY_BYTES, 'epochKey');
  requireBytes(senderSignPublicKey, PUBLIC_KEY_BYTES, 'senderSignPublicKey');
  requireCiphertextLength(ciphertext);
  const ad = messageAssociatedData(header);

  const padded = aeadDecrypt(ciphertext, ad, nonce, epochKey);
  if (padded === null) throw new CryptoError('decrypt_failed', 'message does not decrypt with this key, nonce and header');
  const plaintext = unpad(padded, PADDING_BLOCK);
  wipe(padded);
  if (plaintext === null) throw new CryptoError('decrypt_failed', 'message padding is invalid');
  try {
    const reader = new ByteReader(plaintext, 'decrypt_failed');
    const payloadBytes = reader.take(reader.u32());
    const signature = reader.take(SIGNATURE_BYTES);
    if (reader.remaining !== 0) throw new CryptoError('decrypt_failed', 'message plaintext has trailing bytes');
    if (!verifyDetached(signature, signedMessageBytes(ad, payloadBytes), senderSignPublicKey)) {
      throw new CryptoError('bad_signature', 'message signature does not verify against the sender key');
    }
    const payload = decodePayload(payloadBytes);
    // Signed, but self-contradictory: a reader must not show a text message's files, nor an empty attachment message.
    if (!contentTypeFits(header.contentType, payload.attachments.length)) {
      throw new CryptoError('decrypt_failed', 'message contentType disagrees with its attachment list');
    }
    return payload;
  } finally {
    wipe(plaintext);
  }
}

/** Internal (not in index.ts): encryptMessage with a caller-chosen nonce, for test vectors only. */
export function encryptMessageWithNonce(
  header: MessageHeader,
  payload: MessagePayload,
  epochKey: Uint8Array,
  senderSignSecretKey: Uint8Array,
  nonce: Uint8Array,
): EncryptedMessage {
  requireBytes(epochKey, EPOCH_KEY_BYTES, 'epochKey');
  requireBytes(senderSignSecretKey, SIGN_SECRET_KEY_BYTES, 'senderSignSecretKey');
  requireBytes(nonce, NONCE_BYTES, 'nonce');
  const ad = messageAssociatedData(header);
  const payloadBytes = encodePayload(payload);
  if (!contentTypeFits(header.contentType, payload.attachments.length)) {
    throw new CryptoError('invalid_input', 'contentType must be attachment exactly when payload.attachments is non-empty');
  }
  const plaintext = messagePlaintext(ad, payloadBytes, senderSignSecretKey);

  const ciphertext = aeadEncrypt(plaintext, ad, nonce, epochKey);
  wipe(plaintext);
  return { ciphertext, nonce: nonce.slice() };
}

/** Internal: AD = suite ‖ lp(practice) ‖ lp(conversation) ‖ lp(patient) ‖ u32(epoch) ‖ lp(sender user) ‖ lp(sender device) ‖ u8(role) ‖ u64(seq) ‖ lp(client msg id) ‖ u8(content type). */
export function messageAssociatedData(header: MessageHeader): Uint8Array {
  return concat(
    SUITE_BYTES,
    lpText(header.practiceId, 'practiceId'),
    lpUuid(header.conversationId, 'conversationId'),
    lpUuid(header.patientId, 'patientId'),
    u32(requireCounter(header.epoch, 'epoch'), 'epoch'),
    lpUuid(header.senderUserId, 'senderUserId'),
    lpUuid(header.senderDeviceId, 'senderDeviceId'),
    u8(enumCode(SENDER_ROLES, header.senderRole, 'senderRole'), 'senderRole'),
    u64(requireSeq(header.senderDeviceSeq), 'senderDeviceSeq'),
    lpUuid(header.clientMsgId, 'clientMsgId'),
    u8(enumCode(CONTENT_TYPES, header.contentType, 'contentType'), 'contentType'),
  );
}

/** Internal: pad(u32(len(payload)) ‖ payload ‖ sig, 256), sig over "parley/v1/msgsig" ‖ BLAKE2b-256(AD) ‖ payload. */
export function messagePlaintext(ad: Uint8Array, payloadBytes: Uint8Array, senderSignSecretKey: Uint8Array): Uint8Array {
  const signature = signDetached(signedMessageBytes(ad, payloadBytes), senderSignSecretKey);
  return pad(concat(u32(payloadBytes.length, 'payload length'), payloadBytes, signature), PADDING_BLOCK);
}

/**
 * Internal: the canonical payload encoding, UTF-8 JSON with exactly the keys body, attachments,
 * clientSentAt and, only when the list is non-empty, redFlags, in that order and with no whitespace
 * (JSON.stringify's output for that object). Each attachment has its keys in the order of
 * AttachmentDescriptor, width and height only when stated. A payload without red flags or files
 * encodes as before they existed.
 */
export function encodePayload(payload: MessagePayload): Uint8Array {
  if (typeof payload.body !== 'string') throw new CryptoError('invalid_input', 'payload.body must be a string');
  const attachments = canonicalAttachments(payload.attachments);
  requireTimestamp(payload.clientSentAt);
  const redFlags = requireRedFlags(payload.redFlags);
  const json = JSON.stringify({
    body: payload.body,
    attachments,
    clientSentAt: payload.clientSentAt,
    ...(redFlags.length > 0 ? { redFlags } : {}),
  });
  const bytes = new TextEncoder().encode(json);
  if (bytes.length > MAX_PAYLOAD_BYTES) throw new CryptoError('invalid_length', `payload exceeds ${MAX_PAYLOAD_BYTES} bytes`);
  return bytes;
}

function decodePayload(bytes: Uint8Array): MessagePayload {
  let parsed: unknown;
  try {
    parsed = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes));
  } catch {
    throw new CryptoError('decrypt_failed', 'message payload is not UTF-8 JSON');
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw new CryptoError('decrypt_failed', 'message payload is not an object');
  }
  const { body, attachments, clientSentAt, redFlags } = parsed as Record<string, unknown>;
  const payload = { body, attachments, clientSentAt, redFlags } as MessagePayload;
  let canonical: Uint8Array;
  try {
    canonical = encodePayload(payload);
  } catch {
    throw new CryptoError('decrypt_failed', 'message payload has invalid fields');
  }
  // Re-encoding must give the same bytes: one payload, one encoding, no extra keys.
  if (canonical.length !== bytes.length || canonical.some((byte, i) => byte !== bytes[i])) {
    throw new CryptoError('decrypt_failed', 'message payload is not in canonical form');
  }
  const decoded: MessagePayload = { body: payload.body, attachments: canonicalAttachments(payload.attachments), clientSentAt: payload.clientSentAt };
  // encodePayload checked the list; an empty one was written nowhere, so the byte comparison refused it.
  return payload.redFlags === undefined ? decoded : { ...decoded, redFlags: [...payload.redFlags] };
}

function contentTypeFits(contentType: ContentType, attachmentCount: number): boolean {
  return (contentType === 'attachment') === attachmentCount > 0;
}

function signedMessageBytes(ad: Uint8Array, payloadBytes: Uint8Array): Uint8Array {
  return concat(MSGSIG_PREFIX, blake2b(32, ad), payloadBytes);
}

function requireCiphertextLength(ciphertext: Uint8Array): void {
  if (!(ciphertext instanceof Uint8Array)) throw new CryptoError('invalid_input', 'ciphertext must be a Uint8Array');
  const length = ciphertext.length;
  if (length < PADDING_BLOCK + TAG_BYTES || length > MAX_CIPHERTEXT_BYTES || (length - TAG_BYTES) % PADDING_BLOCK !== 0) {
    throw new CryptoError('invalid_length', 'ciphertext length is not a padded message length');
  }
}

function requireSeq(seq: number | bigint): number | bigint {
  if ((typeof seq === 'number' && seq < 1) || (typeof seq === 'bigint' && seq < 1n)) {
    throw new CryptoError('invalid_input', 'senderDeviceSeq counts from 1');
  }
  return seq;
}

function requireTimestamp(value: unknown): void {
  const isIso = typeof value === 'string' && /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/.test(value);
  if (!isIso || Number.isNaN(Date.parse(value)) || new Date(value).toISOString() !== value) {
    throw new CryptoError('invalid_input', 'payload.clientSentAt must be an ISO-8601 UTC timestamp with milliseconds');
  }
}

function requireRedFlags(value: unknown): readonly string[] {
  if (value === undefined) return [];
  if (!Array.isArray(value) || value.length > MAX_RED_FLAGS) {
    throw new CryptoError('invalid_input', `payload.redFlags must be a list of at most ${MAX_RED_FLAGS} ids`);
  }
  if (!value.every((id) => typeof id === 'string' && RED_FLAG_ID_PATTERN.test(id))) {
    throw new CryptoError('invalid_input', 'payload.redFlags has an id that is not a red-flag group id');
  }
  if (new Set(value).size !== value.length) throw new CryptoError('invalid_input', 'payload.redFlags repeats an id');
  return value as readonly string[];
}

function enumCode<T extends Record<string, number>>(codes: T, value: unknown, field: string): number {
  if (typeof value !== 'string' || !Object.hasOwn(codes, value)) throw new CryptoError('invalid_input', `${field} is not recognised`);
  return codes[value] as number;
}

function paddedLength(length: number): number {
  // sodium.pad always adds at least one byte (0x80), so a full block gains a whole new block.
  return (Math.floor(length / PADDING_BLOCK) + 1) * PADDING_BLOCK;
}
