import { z } from 'zod';
import { Uuid } from './common.js';

// ---------------------------------------------------------------------------------------------
// Photos and documents (issue #18). The server stores and relays only ciphertext: the file's key, header, name,
// type and hash travel inside the signed, encrypted message that references the upload (docs/crypto.md, "Files").

/** The file types a practice may accept; the sending device sniffs them from the bytes (magic numbers). */
export const ATTACHMENT_TYPES = ['image/jpeg', 'image/png', 'image/webp', 'application/pdf'] as const;
export const AttachmentType = z.enum(ATTACHMENT_TYPES);
export type AttachmentType = z.infer<typeof AttachmentType>;

/** Plaintext bytes per secretstream chunk. */
export const ATTACHMENT_CHUNK_BYTES = 65_536;
/** What secretstream adds to each chunk (crypto_secretstream_xchacha20poly1305_ABYTES: a tag byte and a MAC). */
export const ATTACHMENT_CHUNK_OVERHEAD = 17;
/** Ciphertext bytes per upload part: one whole secretstream chunk (the last part may be shorter). */
export const ATTACHMENT_PART_BYTES = ATTACHMENT_CHUNK_BYTES + ATTACHMENT_CHUNK_OVERHEAD;
/** The most files one message may reference. */
export const MAX_ATTACHMENTS_PER_MESSAGE = 4;
/** The largest file (plaintext bytes) any practice setting may allow: 25 MiB. */
export const MAX_ATTACHMENT_FILE_BYTES = 26_214_400;
/** The largest per-conversation or per-patient-per-day total (plaintext bytes) a practice setting may allow: 250 MiB. */
export const MAX_ATTACHMENT_TOTAL_BYTES = 262_144_000;
/** The smallest limit a practice setting may set (one chunk). */
export const MIN_ATTACHMENT_LIMIT_BYTES = ATTACHMENT_CHUNK_BYTES;

/** Ciphertext size of a file of `plainBytes`: chunks = max(1, ceil(plain / 65536)); cipher = plain + 17 × chunks. */
export function cipherBytesFor(plainBytes: number): number {
  const chunks = Math.max(1, Math.ceil(plainBytes / ATTACHMENT_CHUNK_BYTES));
  return plainBytes + ATTACHMENT_CHUNK_OVERHEAD * chunks;
}

/** Number of chunks (= upload parts) of a ciphertext of `cipherBytes`: ceil(cipherBytes / 65553). */
export function chunkCountFor(cipherBytes: number): number {
  return Math.ceil(cipherBytes / ATTACHMENT_PART_BYTES);
}

/** The largest ciphertext an upload may announce (the largest file any setting allows). */
export const MAX_ATTACHMENT_CIPHER_BYTES = cipherBytesFor(MAX_ATTACHMENT_FILE_BYTES);

// ---------------------------------------------------------------------------------------------
// Practice settings (HTTP, /api/practice/attachment-settings)

const limitBytes = (max: number) => z.number().int().min(MIN_ATTACHMENT_LIMIT_BYTES).max(max);

/**
 * What a practice lets patients send (GET any signed-in user of the practice; PUT managers). Limits are plaintext
 * bytes; the server compares the ciphertext it sees with `cipherBytesFor(limit)`.
 */
export const AttachmentSettings = z
  .object({
    /** Unprompted (`always`), only while a clinician's request is open (`when-asked`), or `never`. Staff may always send. */
    patientUploads: z.enum(['always', 'when-asked', 'never']),
    acceptedTypes: z
      .array(AttachmentType)
      .min(1)
      .max(ATTACHMENT_TYPES.length)
      .refine((types) => new Set(types).size === types.length, 'types must not repeat'),
    maxFileBytes: limitBytes(MAX_ATTACHMENT_FILE_BYTES),
    maxConversationBytes: limitBytes(MAX_ATTACHMENT_TOTAL_BYTES),
    maxPatientDailyBytes: limitBytes(MAX_ATTACHMENT_TOTAL_BYTES),
  })
  .strict();
export type AttachmentSettings = z.infer<typeof AttachmentSettings>;

/** A practice that never changed its settings: only requested files, every type, 10 MiB a file, 50 MiB a conversation and a day. */
export const DEFAULT_ATTACHMENT_SETTINGS: Readonly<AttachmentSettings> = Object.freeze({
  patientUploads: 'when-asked',
  acceptedTypes: [...ATTACHMENT_TYPES],
  maxFileBytes: 10_485_760,
  maxConversationBytes: 52_428_800,
  maxPatientDailyBytes: 52_428_800,
});

/** The `details` of a `too_large` refusal: which cap, and its value in plaintext bytes. */
export interface TooLargeDetails {
  limit: 'file' | 'conversation' | 'daily';
  maxBytes: number;
}

// ---------------------------------------------------------------------------------------------
// Uploads (HTTP, /api/attachments/...)

/** POST /api/attachments/uploads: announces an encrypted file before its parts are sent. */
export const CreateUploadRequest = z
  .object({
    conversationId: Uuid,
    contentType: AttachmentType,
    /** Ciphertext bytes (= cipherBytesFor(plaintext bytes)); at least one chunk's overhead. */
    cipherBytes: z.number().int().min(ATTACHMENT_CHUNK_OVERHEAD).max(MAX_ATTACHMENT_CIPHER_BYTES),
  })
  .strict();
export type CreateUploadRequest = z.infer<typeof CreateUploadRequest>;

/** 201 of POST /api/attachments/uploads: where to send the parts, and until when the upload is kept unreferenced. */
export interface UploadCreated {
  uploadId: string;
  /** Bytes per part (ATTACHMENT_PART_BYTES); the last part is the remainder. */
  chunkBytes: number;
  chunkCount: number;
  expiresAt: string;
}

/** GET /api/attachments/uploads/:uploadId (uploader only): what the server holds, so a client resumes after a dropped connection. */
export interface UploadStatus {
  uploadId: string;
  conversationId: string;
  contentType: AttachmentType;
  cipherBytes: number;
  chunkCount: number;
  /** Indexes of the parts stored, ascending. */
  receivedChunks: number[];
  isComplete: boolean;
  /** True once a stored message references it: it can no longer be cancelled and is kept with the record. */
  isReferenced: boolean;
}

/** The path parameters of the upload routes. */
export const UploadRef = z.object({ uploadId: Uuid }).strict();
export type UploadRef = z.infer<typeof UploadRef>;

/** The path parameters of PUT /api/attachments/uploads/:uploadId/chunks/:index (the index arrives as text). */
export const UploadChunkRef = z
  .object({
    uploadId: Uuid,
    index: z
      .string()
      .regex(/^(0|[1-9][0-9]{0,5})$/, 'not a part index')
      .transform(Number),
  })
  .strict();
export type UploadChunkRef = z.infer<typeof UploadChunkRef>;

// ---------------------------------------------------------------------------------------------
// Requests (socket, conversation:request-attachment)

export const ATTACHMENT_REQUEST_KINDS = ['photo', 'document'] as const;
export const AttachmentRequestKind = z.enum(ATTACHMENT_REQUEST_KINDS);
export type AttachmentRequestKind = z.infer<typeof AttachmentRequestKind>;

/** `conversation:request-attachment`: the assigned clinician or a manager asks the patient for a photo or a document. */
export const ConversationRequestAttachment = z.object({ conversationId: Uuid, kind: AttachmentRequestKind }).strict();
export type ConversationRequestAttachment = z.infer<typeof ConversationRequestAttachment>;

/** Ack of `conversation:request-attachment`: the record entry (`attachment.requested`) it wrote. */
export interface AttachmentRequestResult {
  seq: number;
}
