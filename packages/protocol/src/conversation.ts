import { z } from 'zod';
import {
  base64,
  base64Bytes,
  base64Exact,
  type CertifiedStaff,
  isBase64Text,
  KEY_ID_BYTES,
  MAX_CIPHERTEXT_BYTES,
  NONCE_BYTES,
  Role,
  SEALED_KEY_BYTES,
  Signature,
  Uuid,
} from './common.js';
import { MAX_ATTACHMENTS_PER_MESSAGE } from './attachments.js';
import type { PatientAccountKey } from './auth.js';
import type { RecordSystemEvent } from './record-events.js';

/** Topics a patient can open a conversation about (the practice chooses which it enables; issue #4). */
export const Topic = z.string().regex(/^[a-z][a-z0-9-]{0,39}$/);

/** Whom an epoch key is sealed to: one device, a patient's account key, or a practice record key version. */
export const EnvelopeRecipient = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('device'), deviceId: Uuid }).strict(),
  z.object({ kind: z.literal('account'), userId: Uuid }).strict(),
  z.object({ kind: z.literal('record'), version: z.number().int().min(1) }).strict(),
]);
export type EnvelopeRecipient = z.infer<typeof EnvelopeRecipient>;

/** An epoch key sealed to one recipient and signed by the creating device. */
export const Envelope = z
  .object({
    recipient: EnvelopeRecipient,
    recipientKeyId: base64Exact(KEY_ID_BYTES),
    sealedKey: base64Exact(SEALED_KEY_BYTES),
    signature: Signature,
  })
  .strict();
export type Envelope = z.infer<typeof Envelope>;

/** The most envelopes one epoch may carry (devices of every member + account + record key). */
export const MAX_ENVELOPES = 64;

/** `conversation:open`: the client picks the id so the envelopes can be bound to it before the server sees it. */
export const ConversationOpen = z
  .object({
    conversationId: Uuid,
    topic: Topic,
    envelopes: z.array(Envelope).min(1).max(MAX_ENVELOPES),
  })
  .strict();
export type ConversationOpen = z.infer<typeof ConversationOpen>;

export const ConversationRef = z.object({ conversationId: Uuid }).strict();
export type ConversationRef = z.infer<typeof ConversationRef>;

export const ConversationList = z.object({}).strict();
export type ConversationList = z.infer<typeof ConversationList>;

export const CONTENT_TYPES = ['text', 'attachment', 'system', 'key-rotation'] as const;

/** The shortest ciphertext: the 16-byte Poly1305 tag and at least one byte. */
const MIN_CIPHERTEXT_BYTES = 17;

/** `conversation:send`: an encrypted message; the AD fields travel as plain fields and are stored as columns. */
export const ConversationSend = z
  .object({
    conversationId: Uuid,
    /** UUIDv4 chosen by the sender and kept in its outbox: a retried send carries the same one. */
    clientMessageId: Uuid,
    epoch: z.number().int().min(1),
    /** Counts from 1 per (sender device, conversation). */
    senderDeviceSeq: z.number().int().min(1).max(Number.MAX_SAFE_INTEGER),
    contentType: z.enum(['text', 'attachment']),
    ciphertext: base64(MAX_CIPHERTEXT_BYTES, MIN_CIPHERTEXT_BYTES),
    nonce: base64Exact(NONCE_BYTES),
    /**
     * The uploads the message references (complete, by this device, in this conversation): required for an
     * `attachment`, refused otherwise. The gateway claims them for this client message id before it appends.
     */
    attachmentIds: z
      .array(Uuid)
      .min(1)
      .max(MAX_ATTACHMENTS_PER_MESSAGE)
      .refine((ids) => new Set(ids.map((id) => id.toLowerCase())).size === ids.length, 'ids must not repeat')
      .optional(),
  })
  .strict()
  .superRefine((send, context) => {
    if ((send.contentType === 'attachment') !== (send.attachmentIds !== undefined)) {
      context.addIssue({ code: 'custom', path: ['attachmentIds'], message: 'required for an attachment, refused otherwise' });
    }
  });
export type ConversationSend = z.infer<typeof ConversationSend>;

/** The keys of a text send, the only ones it may have. */
const TEXT_SEND_KEYS = new Set(['conversationId', 'clientMessageId', 'epoch', 'senderDeviceSeq', 'contentType', 'ciphertext', 'nonce']);
/** A UUID of versions 1–8 in lower case: some of the UUIDs `Uuid` accepts (which also takes upper case and the nil and max UUIDs). */
const LOWER_CASE_UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[1-8][0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

/**
 * Whether `value` is a text `conversation:send` that `ConversationSend` accepts exactly as it is: the schema's rules in
 * plain code, for the common case only, as the gateway checks every message (zod's machinery was about 6 % of its CPU
 * per message). `false` means "not this fast way": validate with the schema, which gives the reasons. Never true where
 * the schema refuses or would change the value (property-tested against it).
 */
export function isPlainTextSend(value: unknown): value is ConversationSend {
  if (typeof value !== 'object' || value === null || Object.getPrototypeOf(value) !== Object.prototype) return false;
  const keys = Object.keys(value);
  if (keys.length !== TEXT_SEND_KEYS.size || !keys.every((key) => TEXT_SEND_KEYS.has(key))) return false;
  const send = value as Record<string, unknown>;
  return (
    send.contentType === 'text' &&
    isLowerCaseUuid(send.conversationId) &&
    isLowerCaseUuid(send.clientMessageId) &&
    isPositiveSafeInteger(send.epoch) &&
    isPositiveSafeInteger(send.senderDeviceSeq) &&
    isBase64Of(send.ciphertext, MIN_CIPHERTEXT_BYTES, MAX_CIPHERTEXT_BYTES) &&
    isBase64Of(send.nonce, NONCE_BYTES, NONCE_BYTES)
  );
}

const isLowerCaseUuid = (value: unknown) => typeof value === 'string' && LOWER_CASE_UUID.test(value);
const isPositiveSafeInteger = (value: unknown) => Number.isSafeInteger(value) && (value as number) >= 1;

/** `base64(maxBytes, minBytes)`'s rules: padded standard base64 decoding to minBytes..maxBytes bytes. */
function isBase64Of(value: unknown, minBytes: number, maxBytes: number): boolean {
  if (typeof value !== 'string' || value.length > Math.ceil(maxBytes / 3) * 4 || value.length % 4 !== 0 || !isBase64Text(value)) return false;
  const bytes = base64Bytes(value);
  return bytes >= minBytes && bytes <= maxBytes;
}

/** `conversation:sync`: entries after `afterSeq`, in order, at most `limit` of them. */
export const ConversationSync = z
  .object({
    conversationId: Uuid,
    afterSeq: z.number().int().min(0),
    limit: z.number().int().min(1).max(500).default(200),
  })
  .strict();
export type ConversationSync = z.input<typeof ConversationSync>;

export const ConversationTyping = z.object({ conversationId: Uuid, isTyping: z.boolean() }).strict();
export type ConversationTyping = z.infer<typeof ConversationTyping>;

/** Cumulative: everything up to `upToSeq` was delivered to (or read on) the caller's device. */
export const ConversationReceipt = z.object({ conversationId: Uuid, kind: z.enum(['delivered', 'read']), upToSeq: z.number().int().min(1) }).strict();
export type ConversationReceipt = z.infer<typeof ConversationReceipt>;

export type ConversationStatus = 'waiting' | 'assigned' | 'on_hold' | 'closed';

/** A conversation as its members see it. */
export interface ConversationSummary {
  id: string;
  practiceId: string;
  /** The practice's ODS code: part of every message's additional data. */
  practiceOdsCode: string;
  patientId: string;
  topic: string;
  /** waiting in the queue, assigned to a clinician (or held by them), or closed. */
  status: ConversationStatus;
  /** The clinician it is assigned to (assigned or on hold). */
  assignedClinicianId: string | null;
  currentEpoch: number;
  lastSeq: number;
  createdAt: string;
  /** When the patient's device marked it urgent (`conversation:urgent`, after the red-flag advice); null when not. Urgent ones head the queue. */
  urgentAt: string | null;
}

/** A stored envelope, as `conversation:join` returns it. */
export interface StoredEnvelope extends Envelope {
  epoch: number;
  creatorDeviceId: string;
}

/** A participant device with the keys a member needs to verify its messages. */
export interface MemberDevice {
  id: string;
  userId: string;
  role: z.infer<typeof Role>;
  displayName: string;
  signPublicKey: string;
  boxPublicKey: string;
  certificate: string | null;
  /** Staff devices: the name and roles the root-signed certificate vouches for (clients show these, never `displayName`, for staff). */
  certifiedAs: CertifiedStaff | null;
  revokedAt: string | null;
}

/** What `conversation:join` answers after the server put the socket in the conversation's room. */
export interface JoinedConversation {
  conversation: ConversationSummary;
  /** Envelopes the caller can open: to its devices, its account key, or (staff) the record key. */
  envelopes: StoredEnvelope[];
  devices: MemberDevice[];
  /** The patient's account key, which certifies their devices, with its chain to the practice root (invitation, or a root certificate). */
  patientAccount: PatientAccountKey | null;
  /** The newest read and delivered receipts of each member. */
  receipts: ReceiptUpdated[];
  /**
   * The current epoch as stored: when it started and whom its envelopes are addressed to (key ids, no sealed keys).
   * Clients read it only to decide whether to start a new epoch (a device added or revoked, a newer record key, its
   * age), never to trust a key. Absent from older servers.
   */
  currentEpochState?: CurrentEpochState;
}

/** The current epoch's start and recipients, as `conversation:join` lists them. */
export interface CurrentEpochState {
  epoch: number;
  startedAt: string;
  recipients: { recipient: EnvelopeRecipient; recipientKeyId: string }[];
}

/** One entry of a conversation's append-only, hash-chained record: a message or a system event. */
export interface RecordEntry {
  conversationId: string;
  seq: number;
  kind: 'message' | 'system';
  serverTime: string;
  /** Hex SHA-256 chaining this entry to the previous one (see docs/crypto.md). */
  hash: string;
  message?: {
    epoch: number;
    senderUserId: string;
    senderDeviceId: string;
    senderRole: 'patient' | 'clinician' | 'manager';
    senderDeviceSeq: number;
    clientMessageId: string;
    contentType: 'text' | 'attachment';
    ciphertext: string;
    nonce: string;
  };
  /** Metadata only (the server writes these): opened, assigned, closed, … */
  system?: RecordSystemEvent;
}

/** `conversation:send` result: the entry's place in the record, after it is committed. */
export interface SendResult {
  seq: number;
  serverTime: string;
  /** True when this client message id was already stored with the same content: nothing new was written. */
  isDuplicate: boolean;
}

export interface SyncResult {
  entries: RecordEntry[];
  lastSeq: number;
  hasMore: boolean;
}

/** Fact `conversation:typing`. */
export interface TypingChanged {
  conversationId: string;
  userId: string;
  role: z.infer<typeof Role>;
  isTyping: boolean;
}

/** Fact `receipt:updated`. */
export interface ReceiptUpdated {
  conversationId: string;
  userId: string;
  deviceId: string;
  kind: 'delivered' | 'read';
  upToSeq: number;
}

/** Fact `presence:changed`: a member of a conversation the socket joined came online or went offline. */
export interface PresenceChanged {
  conversationId: string;
  userId: string;
  role: z.infer<typeof Role>;
  isOnline: boolean;
}

/** Fact `session:ended`: the server is about to disconnect this socket. */
export interface SessionEnded {
  /** `keys_changed`: a practice-assisted recovery replaced the patient's account key (flow B); the device's keys are the old ones. */
  reason: 'signed_out' | 'revoked' | 'expired' | 'device_revoked' | 'keys_changed';
}
