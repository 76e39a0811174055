import {
  createEpochKey,
  decryptMessage,
  encryptMessage,
  fromBase64,
  openEpochKey,
  sealEpochKey,
  toBase64,
  type AttachmentDescriptor,
  type BoxKeys,
  type MessagePayload,
} from '@parley/crypto';
import type { ConversationSend, ConversationSummary, Envelope, EnvelopeRecipient, RecordEntry, StoredEnvelope } from '@parley/protocol';

/** One recipient of an epoch key: who it is on the wire, and the X25519 key it is sealed to. */
export interface EnvelopeTarget {
  recipient: EnvelopeRecipient;
  boxPublicKey: Uint8Array;
}

/** A new epoch key sealed and signed for every target, as `conversation:open` carries them. */
export function sealEnvelopes(input: {
  conversationId: string;
  epoch: number;
  epochKey: Uint8Array;
  targets: readonly EnvelopeTarget[];
  creatorSignSecretKey: Uint8Array;
}): Envelope[] {
  return input.targets.map((target) => {
    const sealed = sealEpochKey({
      conversationId: input.conversationId,
      epoch: input.epoch,
      epochKey: input.epochKey,
      recipientBoxPublicKey: target.boxPublicKey,
      creatorSignSecretKey: input.creatorSignSecretKey,
    });
    return {
      recipient: target.recipient,
      recipientKeyId: toBase64(sealed.recipientKeyId),
      sealedKey: toBase64(sealed.sealedKey),
      signature: toBase64(sealed.signature),
    };
  });
}

/** A fresh epoch key and its envelopes. */
export function newEpoch(input: { conversationId: string; epoch: number; targets: readonly EnvelopeTarget[]; creatorSignSecretKey: Uint8Array }) {
  const epochKey = createEpochKey();
  return { epochKey, envelopes: sealEnvelopes({ ...input, epochKey }) };
}

/**
 * Opens a stored envelope with the recipient's box keys, after checking its signature by the
 * creator device. @throws CryptoError `bad_signature`, `untrusted_creator`, `not_member`, `decrypt_failed`
 */
export function openEnvelope(input: {
  conversationId: string;
  envelope: Pick<StoredEnvelope, 'epoch' | 'recipientKeyId' | 'sealedKey' | 'signature'>;
  recipient: BoxKeys;
  creator: { signPublicKey: Uint8Array; isTrusted: boolean; isMember: boolean };
}): Uint8Array {
  return openEpochKey({
    conversationId: input.conversationId,
    epoch: input.envelope.epoch,
    envelope: {
      recipientKeyId: fromBase64(input.envelope.recipientKeyId),
      sealedKey: fromBase64(input.envelope.sealedKey),
      signature: fromBase64(input.envelope.signature),
    },
    recipient: input.recipient,
    creator: input.creator,
  });
}

/** The sender as the additional data names it. */
export interface Sender {
  userId: string;
  deviceId: string;
  role: 'patient' | 'clinician' | 'manager';
  signSecretKey: Uint8Array;
}

/**
 * Encrypts and signs a message for a conversation: the `conversation:send` payload, ready for the outbox. With
 * attachments (descriptors of files this device encrypted and uploaded itself) it is an `attachment` message that
 * references their uploads, the body its caption; without, a `text`.
 */
export function encryptForSend(input: {
  conversation: Pick<ConversationSummary, 'id' | 'practiceOdsCode' | 'patientId'>;
  epoch: number;
  epochKey: Uint8Array;
  sender: Sender;
  senderDeviceSeq: number;
  clientMessageId: string;
  body: string;
  /** Red-flag group ids the patient was warned about before sending (docs/clinical-safety.md); none when absent or empty. */
  redFlags?: readonly string[];
  attachments?: readonly AttachmentDescriptor[];
  clientSentAt?: Date;
}): ConversationSend {
  const attachments = input.attachments ?? [];
  const contentType = attachments.length > 0 ? ('attachment' as const) : ('text' as const);
  const header = {
    practiceId: input.conversation.practiceOdsCode,
    conversationId: input.conversation.id,
    patientId: input.conversation.patientId,
    epoch: input.epoch,
    senderUserId: input.sender.userId,
    senderDeviceId: input.sender.deviceId,
    senderRole: input.sender.role,
    senderDeviceSeq: input.senderDeviceSeq,
    clientMsgId: input.clientMessageId,
    contentType,
  };
  const payload: MessagePayload = {
    body: input.body,
    attachments,
    clientSentAt: (input.clientSentAt ?? new Date()).toISOString(),
    ...(input.redFlags ? { redFlags: input.redFlags } : {}),
  };
  const { ciphertext, nonce } = encryptMessage(header, payload, input.epochKey, input.sender.signSecretKey);
  return {
    conversationId: input.conversation.id,
    clientMessageId: input.clientMessageId,
    epoch: input.epoch,
    senderDeviceSeq: input.senderDeviceSeq,
    contentType,
    ciphertext: toBase64(ciphertext),
    nonce: toBase64(nonce),
    ...(attachments.length > 0 ? { attachmentIds: attachments.map((attachment) => attachment.id) } : {}),
  };
}

/**
 * Decrypts and verifies a stored message, rebuilding the additional data from the entry's fields
 * and the conversation's: an entry moved or edited by the server fails here.
 * @throws CryptoError `decrypt_failed`, `bad_signature`, `invalid_length`
 */
export function decryptEntry(input: {
  conversation: Pick<ConversationSummary, 'id' | 'practiceOdsCode' | 'patientId'>;
  entry: RecordEntry;
  epochKey: Uint8Array;
  senderSignPublicKey: Uint8Array;
}): MessagePayload {
  const m = input.entry.message;
  if (!m) throw new TypeError('decryptEntry needs a message entry');
  const header = {
    practiceId: input.conversation.practiceOdsCode,
    conversationId: input.entry.conversationId,
    patientId: input.conversation.patientId,
    epoch: m.epoch,
    senderUserId: m.senderUserId,
    senderDeviceId: m.senderDeviceId,
    senderRole: m.senderRole,
    senderDeviceSeq: m.senderDeviceSeq,
    clientMsgId: m.clientMessageId,
    contentType: m.contentType,
  };
  return decryptMessage(header, fromBase64(m.ciphertext), fromBase64(m.nonce), input.epochKey, input.senderSignPublicKey);
}
