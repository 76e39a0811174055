import { jitteredDelay, type BackoffOptions, type HttpApi, type HttpFailure } from '@parley/client';
import { decryptFile, fileRefOf, MAX_ATTACHMENT_NAME_CHARS, type AttachmentDescriptor } from '@parley/crypto';
import { ATTACHMENT_PART_BYTES, chunkCountFor, type AttachmentType } from '@parley/protocol';

export type { AttachmentDescriptor } from '@parley/crypto';

/** A file the app hands to `Conversation.sendAttachments`: bytes it sniffed (and, for an image, re-encoded) itself. */
export interface OutgoingFile {
  bytes: Uint8Array;
  /** The type the app sniffed from the bytes (packages/web `sniffAttachmentType`), never the file picker's claim. */
  type: AttachmentType;
  /** Shown to the other side and used when saving; made safe by {@link safeAttachmentName}. */
  name: string;
  /** Images: their size in pixels after the re-encode. */
  width?: number;
  height?: number;
}

/** What a pending attachment send shows before the record hands it back: the files, never their bytes. */
export interface PendingAttachment {
  name: string;
  type: AttachmentType;
  /** Plaintext bytes. */
  size: number;
}

/** How far an attachment send is: ciphertext bytes the server confirmed, of all the files'. */
export interface UploadProgress {
  sentBytes: number;
  totalBytes: number;
}

/** Why an attachment send stopped before its message was sent: the server's refusal, the network, or the caller's abort. */
export interface AttachmentFailure {
  code: HttpFailure['code'] | 'aborted';
  message: string;
  details?: HttpFailure['details'];
}

/** The routes an upload uses (HttpApi's; a test may pass its own). */
export type UploadApi = Pick<HttpApi, 'createUpload' | 'putUploadChunk' | 'uploadStatus' | 'completeUpload' | 'cancelUpload'>;

/** How an upload retries: after a dropped connection or a busy server it asks what the server holds and sends the rest. */
export interface UploadOptions {
  signal?: AbortSignal;
  /** Called with the ciphertext bytes of this file the server holds, after each part. */
  onProgress?: (sentBytes: number) => void;
  backoff?: BackoffOptions;
  /** Consecutive failures without progress before the upload gives up (default 8: about a minute with the default backoff). */
  maxFailures?: number;
}

const DEFAULT_BACKOFF: BackoffOptions = { baseMs: 500, maxMs: 10_000 };
const DEFAULT_MAX_FAILURES = 8;
/** Parts in flight at once: enough to hide the round trip, few enough for a phone on a weak connection. */
const PARALLEL_PARTS = 3;
/** The longest a `rate_limited` answer's retryAfterSeconds is waited out before the next try. */
const MAX_RETRY_AFTER_MS = 60_000;
/** Failures that may pass: the connection dropped, the server or a proxy failed, or asked to slow down. */
const RETRYABLE: ReadonlySet<AttachmentFailure['code']> = new Set(['network', 'internal', 'unexpected_response', 'rate_limited']);

const ABORTED: AttachmentFailure = { code: 'aborted', message: 'the upload was cancelled' };

/**
 * Uploads one encrypted file: announces it, sends its parts (PARALLEL_PARTS at a time), and completes it. After a
 * failure that may pass (`network`, `internal`, `rate_limited`, a proxy's page) it waits (jittered backoff), asks the
 * server which parts it holds (`GET /uploads/:id`) and sends only the others: a dropped connection resumes, never
 * duplicates (a part sent twice is the same bytes, which the server takes once). A refusal (`too_large`, `forbidden`,
 * `invalid_payload`, …) ends it at once. Never throws; an upload it created and then gave up on is cancelled.
 */
export async function uploadEncryptedFile(
  api: UploadApi,
  input: { conversationId: string; type: AttachmentType; ciphertext: Uint8Array },
  options: UploadOptions = {},
): Promise<{ ok: true; uploadId: string } | { ok: false; error: AttachmentFailure }> {
  const { ciphertext } = input;
  const backoff = options.backoff ?? DEFAULT_BACKOFF;
  const maxFailures = options.maxFailures ?? DEFAULT_MAX_FAILURES;
  const { signal } = options;
  let failures = 0;
  /** Waits before the next try after a failure that may pass; false when the upload should give up instead. */
  const mayRetry = async (error: AttachmentFailure, isRetryable = RETRYABLE.has(error.code)): Promise<boolean> => {
    if (!isRetryable || signal?.aborted) return false;
    failures += 1;
    if (failures > maxFailures) return false;
    const retryAfter = error.details?.['retryAfterSeconds'];
    const delay = typeof retryAfter === 'number' ? Math.min(retryAfter * 1000, MAX_RETRY_AFTER_MS) : jitteredDelay(failures, backoff);
    await sleep(delay, signal);
    return !signal?.aborted;
  };

  let uploadId: string;
  for (;;) {
    if (signal?.aborted) return { ok: false, error: ABORTED };
    const created = await api.createUpload({ conversationId: input.conversationId, contentType: input.type, cipherBytes: ciphertext.length });
    if (created.ok) {
      uploadId = created.data.uploadId;
      break;
    }
    if (!(await mayRetry(created.error))) return { ok: false, error: signal?.aborted ? ABORTED : created.error };
  }

  const chunkCount = chunkCountFor(ciphertext.length);
  const received = new Set<number>();
  const report = () => options.onProgress?.(sentBytesOf(received, ciphertext.length));
  const giveUp = async (error: AttachmentFailure) => {
    // Nothing will reference it: free the server's space now rather than at the sweep.
    await api.cancelUpload(uploadId);
    return { ok: false as const, error: signal?.aborted ? ABORTED : error };
  };
  for (;;) {
    if (signal?.aborted) return giveUp(ABORTED);
    const missing = Array.from({ length: chunkCount }, (_, index) => index).filter((index) => !received.has(index));
    let failure: AttachmentFailure | null;
    let isMissingParts = false;
    if (missing.length > 0) {
      const before = received.size;
      failure = await sendParts(api, uploadId, ciphertext, missing, received, report, signal);
      if (received.size > before) failures = 0;
    } else {
      const completed = await api.completeUpload(uploadId);
      if (completed.ok) return { ok: true, uploadId };
      failure = completed.error;
      // `conflict` with `missing`: a part this device thought stored is not (an answer lost on the way); the status says which.
      isMissingParts = failure.code === 'conflict' && typeof failure.details?.['missing'] === 'number';
    }
    if (failure === null) continue;
    if (!(await mayRetry(failure, isMissingParts || RETRYABLE.has(failure.code)))) return giveUp(failure);
    const status = await api.uploadStatus(uploadId);
    if (status.ok) {
      received.clear();
      for (const index of status.data.receivedChunks) received.add(index);
      report();
    }
  }
}

/**
 * Downloads a file a message describes and checks it against the signed descriptor (length, BLAKE2b hash, every chunk,
 * the final tag) before decrypting: a blob the server swapped, truncated or extended is refused, never shown in part.
 * @throws AttachmentDownloadError (the server's or the network's refusal), CryptoError `decrypt_failed`
 */
export async function downloadAttachment(api: Pick<HttpApi, 'downloadAttachment'>, attachment: AttachmentDescriptor): Promise<Uint8Array> {
  const ref = fileRefOf(attachment);
  const result = await api.downloadAttachment(attachment.id);
  if (!result.ok) throw new AttachmentDownloadError(result.error);
  return decryptFile(ref, result.data);
}

/** A download the server or the network refused (`not_found`, `unauthorized`, `network` …). */
export class AttachmentDownloadError extends Error {
  readonly code: HttpFailure['code'];

  constructor(readonly failure: HttpFailure) {
    super(failure.message);
    this.name = 'AttachmentDownloadError';
    this.code = failure.code;
  }
}

// Path separators, control and bidirectional-override characters: what the descriptor refuses (docs/crypto.md, "Files").
const UNSAFE_NAME_CHARACTERS = /[/\\\p{Cc}\u061C\u200E\u200F\u202A-\u202E\u2066-\u2069]|\p{Cs}/gu;

/**
 * A file name the descriptor accepts: unsafe characters replaced by `_`, at most MAX_ATTACHMENT_NAME_CHARS characters
 * (the extension kept), and `fallback` for a name with nothing left.
 */
export function safeAttachmentName(name: string, fallback: string): string {
  const cleaned = [...name.replace(UNSAFE_NAME_CHARACTERS, '_').trim()];
  if (cleaned.length === 0) return fallback;
  if (cleaned.length <= MAX_ATTACHMENT_NAME_CHARS) return cleaned.join('');
  const dot = cleaned.lastIndexOf('.');
  const extension = dot > 0 && cleaned.length - dot <= 10 ? cleaned.slice(dot) : [];
  return [...cleaned.slice(0, MAX_ATTACHMENT_NAME_CHARS - extension.length), ...extension].join('');
}

/** Sends the missing parts, PARALLEL_PARTS at a time; stops at the first failure and returns it (null when all went). */
async function sendParts(
  api: UploadApi,
  uploadId: string,
  ciphertext: Uint8Array,
  missing: readonly number[],
  received: Set<number>,
  report: () => void,
  signal: AbortSignal | undefined,
): Promise<AttachmentFailure | null> {
  let next = 0;
  let failure: AttachmentFailure | null = null;
  const worker = async () => {
    while (failure === null && next < missing.length && !signal?.aborted) {
      const index = missing[next++]!;
      const start = index * ATTACHMENT_PART_BYTES;
      const result = await api.putUploadChunk(uploadId, index, ciphertext.subarray(start, Math.min(start + ATTACHMENT_PART_BYTES, ciphertext.length)));
      if (result.ok) {
        received.add(index);
        report();
      } else failure ??= result.error;
    }
  };
  await Promise.all(Array.from({ length: Math.min(PARALLEL_PARTS, missing.length) }, worker));
  return signal?.aborted ? ABORTED : failure;
}

function sentBytesOf(received: ReadonlySet<number>, cipherBytes: number): number {
  let sent = 0;
  for (const index of received) sent += Math.min(ATTACHMENT_PART_BYTES, cipherBytes - index * ATTACHMENT_PART_BYTES);
  return sent;
}

/** Resolves after `ms`, or at once when `signal` aborts. */
function sleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const done = () => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal?.addEventListener('abort', done, { once: true });
  });
}
