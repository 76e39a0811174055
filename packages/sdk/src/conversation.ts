import {
  ConversationFeed,
  type EntryCodec,
  type FeedCursorStore,
  type FeedEntry,
  type HttpApi,
  type Outbox,
  type OutboxResult,
  type ParleyClient,
  type RequestResult,
} from '@parley/client';
import {
  describeFile,
  encryptFile,
  fileCipherBytes,
  fromBase64,
  keyId,
  MAX_ATTACHMENTS,
  MAX_FILE_BYTES,
  toBase64,
  type AttachmentDescriptor,
  type BoxKeys,
  type FileRef,
  type ReceiveGuard,
  type RecordKey,
} from '@parley/crypto';
import type {
  AttachmentRequestKind,
  CloseOutcome,
  EpochReason,
  EnvelopeRecipient,
  ConversationSummary,
  FollowUpRequest,
  JoinedConversation,
  MemberDevice,
  PresenceChanged,
  ReceiptUpdated,
  RecordEntry,
  StoredEnvelope,
  TypingChanged,
} from '@parley/protocol';
import { AccountFlowError, epochKeyId, type SignedIn } from './accounts.js';
import {
  downloadAttachment,
  safeAttachmentName,
  uploadEncryptedFile,
  type AttachmentFailure,
  type OutgoingFile,
  type PendingAttachment,
  type UploadProgress,
} from './attachments.js';
import type { TrustAnchor } from './authority.js';
import { decryptEntry, encryptForSend, newEpoch, openEnvelope, type EnvelopeTarget } from './conversation-crypto.js';
import { applySystemEvent, parseSystemEvent, type SystemEvent } from './record-events.js';
import { isAccountKeyTrusted, isDeviceTrusted, type CurrentRecordKey, type RevokedDevices } from './trust.js';

/** A member role as a conversation names it. */
export type MemberRole = 'patient' | 'clinician' | 'manager';

/** One step of a conversation as the app shows it: a decrypted, verified message or a system event. */
export type ChatEntry =
  | {
      kind: 'message';
      seq: number;
      serverTime: string;
      senderUserId: string;
      senderDeviceId: string;
      senderRole: MemberRole;
      senderName: string;
      /** The id the sending device gave the message: how a sender matches its own local copy. */
      clientMessageId: string;
      body: string;
      clientSentAt: string;
      /**
       * Red-flag group ids (e.g. `chest_pain`) the patient's device found in this text, for which it showed
       * the 999/111 advice and the patient chose to send anyway; signed with the text. Empty when none,
       * and always empty for a staff sender. {@link redFlagLabel} words them.
       */
      redFlags: string[];
      /**
       * The files the message carries (signed with it; empty for a text): {@link Conversation.fetchAttachment} downloads,
       * checks and decrypts one. Images are shown only after a re-encode through a canvas (packages/web `safeImageBlob`).
       */
      attachments: AttachmentDescriptor[];
      /** Sent by the signed-in user, from this device or another of theirs. */
      isMine: boolean;
    }
  | ({ kind: 'system'; seq: number; serverTime: string } & SystemEvent);

/** Why an entry could not be opened (besides the crypto codes): its sender or key is unknown or untrusted. */
export class ChatEntryError extends Error {
  constructor(
    readonly code: 'unknown_sender' | 'untrusted_sender' | 'no_key',
    message: string,
  ) {
    super(message);
    this.name = 'ChatEntryError';
  }
}

/** A member as a screen may name them: staff only as their root-signed certificate names them, a patient only if their device chains to the account key. */
export interface ConversationMember {
  userId: string;
  name: string;
  role: MemberRole;
}

/** A member's newest receipts: read implies delivered, so `delivered` is never below `read`. */
export interface MemberReceipts {
  read: number;
  delivered: number;
}

/** A send of this device not yet seen back in the record: its text lives here, in memory only. */
export interface PendingSend {
  clientMessageId: string;
  body: string;
  /** When it was written (ISO), for the screen. */
  at: string;
  /** `sending` until the server answers; a refused send leaves this list, so `failed` is only a transport loss the outbox gave up on. */
  status: 'sending' | 'failed';
  /** The seq the server gave it, once acknowledged. */
  seq: number | null;
  /** An attachment send: its files (names, types and sizes only). */
  attachments?: PendingAttachment[];
  /** An attachment send: how much of its files' ciphertext the server holds; `sentBytes === totalBytes` once uploaded. */
  progress?: UploadProgress;
}

/** How an attachment send ended: as a text's send, or stopped before its message was sent (`aborted`, `network`, a refusal). */
export type AttachmentSendResult = OutboxResult | { ok: false; error: AttachmentFailure };

/** The request for a photo or document the patient has not answered yet (docs/protocol.md, "Requesting a photo"). */
export interface AttachmentRequest {
  kind: AttachmentRequestKind;
  /** The record entry that asked. */
  seq: number;
}

/** What changed in a conversation model: `entry` hands over one step of the record (in seq order, once each); the others say which field to read again. */
export type ConversationChange = { kind: 'entry'; entry: FeedEntry<ChatEntry> } | { kind: 'summary' | 'members' | 'receipts' | 'typing' | 'pending' };

/** What a conversation model needs from the session that made it: the connection and this device's key material. */
export interface ConversationContext {
  client: ParleyClient;
  outbox: Outbox;
  /** The HTTP routes of the session (uploads and downloads of attachments); without it those methods throw `no_http_api`. */
  api?: Pick<HttpApi, 'createUpload' | 'putUploadChunk' | 'uploadStatus' | 'completeUpload' | 'cancelUpload' | 'downloadAttachment'>;
  signedIn: SignedIn;
  /** The practice's authority from the root this device pinned (never from a server answer), as the session resolved it last. */
  pinnedRoot: TrustAnchor;
  /** Staff: the record keys opened from this device's grants. */
  recordKeys?: ReadonlyMap<number, RecordKey>;
  /** Epoch keys this device holds, by `epochKeyId`; every key the model opens is added. */
  epochKeys?: Map<string, Uint8Array>;
  /** Called when the model opens an epoch key the device did not hold. */
  onEpochKey?: (id: string, key: Uint8Array) => void;
  /** The practice's verified revocation list (`RevocationState`): nothing a listed device made at or after its revocation is trusted. */
  revocations?: { readonly revoked: RevokedDevices };
  cursorStore: FeedCursorStore;
  /** One per session: refuses a message id or sender sequence already seen (a replay under a new seq). */
  guard: ReceiveGuard;
  /**
   * The newest record key the pinned root vouches for as current, never below this device's floor (ChatSession's
   * check); needed to start an epoch. @throws AccountFlowError `untrusted_record_key`
   */
  currentRecordKey?: (fresh?: boolean) => Promise<CurrentRecordKey>;
}

/** An epoch older than this is replaced before the next send (docs/crypto.md, "Conversation epochs"). */
export const EPOCH_MAX_AGE_MS = 30 * 24 * 60 * 60 * 1000;
/** An epoch that carried this many messages is replaced before the next send. */
export const EPOCH_MAX_MESSAGES = 1_000;
/**
 * How old a join answer may be when a send checks the triggers against it; an older one is asked for again first.
 * A patient's device wants one newer than the send itself (sends made together share one join; a device the patient
 * just revoked must not get the next message); staff one from the last five minutes, since each staff join is a
 * `conversation.read` in the audit log (their revocation list and the `keys.epoch` entries keep them current between).
 */
const MEMBERS_FRESH_MS = { staff: 300_000 };
/** How often a send re-encrypts under a newer epoch (or starts one) before it gives up: races are rare, loops must not be. */
const EPOCH_ATTEMPTS = 3;

/** How long to keep retrying a re-join (to learn a new member's device or an epoch's envelopes) across dropped connections. */
const REJOIN_PATIENCE_MS = 30_000;

/**
 * One conversation as this device knows it: the join answer (summary, members and their certified names,
 * receipts, the patient's account key), its record through a {@link ConversationFeed} (entries decrypted
 * and verified here, in the client), the sends still pending, who is typing, and every conversation
 * command. {@link open} joins once: the feed's own join; the model joins again only when it must (the feed
 * after a reconnection; the model for a member device, or an epoch's envelopes, its last answer did not list).
 * Apps mirror its fields through {@link subscribe}; ChatSession makes one per conversation.
 */
export class Conversation {
  /** The conversation's facts: the latest join or command answer, moved on by the record's system events since. */
  summary: ConversationSummary | null;
  /** The members this device verified, by user id. */
  members: ReadonlyMap<string, ConversationMember> = new Map();
  /** Each member's newest receipts, by user id (the signed-in user's own too: their other devices' reads). */
  receipts: ReadonlyMap<string, MemberReceipts> = new Map();
  /** Members typing now, by user id (never the signed-in user). */
  typing: ReadonlySet<string> = new Set();
  /** This device's sends not yet back from the record. */
  pending: readonly PendingSend[] = [];
  /** Every step of the record handed over so far, in seq order. Decrypted text lives only here and in the app's memory. */
  entries: readonly FeedEntry<ChatEntry>[] = [];

  private joinAnswer: JoinedConversation | null = null;
  private readonly devices = new Map<string, MemberDevice>();
  private readonly envelopes = new Map<string, StoredEnvelope>();
  private readonly heldEpochKeys = new Map<number, Uint8Array>();
  private nextSenderSeq = 1;
  /** The seq up to which `summary` already reflects the record (its answer's lastSeq, then each system event applied). */
  private summarySeq = 0;
  private readonly listeners = new Set<(change: ConversationChange) => void>();
  private feed: ConversationFeed<ChatEntry> | null = null;
  private opened: Promise<void> | null = null;
  private rejoinRun: Promise<void> | null = null;
  /** Messages the record holds per epoch (opened or not): the 1,000-message limit counts them. */
  private readonly messagesPerEpoch = new Map<number, number>();
  /** When each epoch's `keys.epoch` entry was written, and who was assigned at each system entry since (the handover trigger). */
  private readonly epochStarts = new Map<number, { seq: number; at: string }>();
  private readonly assignments: { seq: number; clinicianId: string | null }[] = [];
  /** When the newest join answer arrived (ms). */
  private joinedAt = 0;
  /** Sends being prepared, one after another in call order (`prepareSend`). */
  private sendChain: Promise<void> = Promise.resolve();
  /** Renewal under way (one at a time per conversation). */
  private renewal: Promise<number> | null = null;

  constructor(
    private readonly context: ConversationContext,
    /** The conversation's id. */
    readonly id: string,
    summary: ConversationSummary | null = null,
  ) {
    this.summary = summary;
    this.summarySeq = summary?.lastSeq ?? 0;
  }

  /** The latest join answer (envelopes, member devices as the server lists them, the patient's account key), or null before the first. */
  get joined(): JoinedConversation | null {
    return this.joinAnswer;
  }

  /** The patient's account key with its chain to the practice root, from the join answer. */
  get patientAccount(): JoinedConversation['patientAccount'] {
    return this.joinAnswer?.patientAccount ?? null;
  }

  /** Whether {@link open} was called (and did not fail): the model is joining or following. */
  get isOpen(): boolean {
    return this.opened !== null;
  }

  /** The last seq handed over (0 before any). */
  get lastSeq(): number {
    return this.feed?.lastSeq ?? 0;
  }

  /** Pending sends kept by the outbox from an earlier run of this device (ciphertext only: their text is not kept). */
  get earlierQueued(): number {
    const stored = this.context.outbox.itemsOf(this.id).filter((item) => item.status === 'pending').length;
    const mine = this.pending.filter((item) => item.status === 'sending' && item.seq === null).length;
    return Math.max(0, stored - mine);
  }

  /**
   * Sends an earlier run of this device left in the outbox that the server refused (ciphertext only: their text was not
   * kept, so they cannot be re-encrypted). A send under keys renewed since (`conflict` with `currentEpoch`) is one: the
   * app shows `reason` and asks the user to write it again, then {@link discardFailed}. Never dropped silently.
   */
  get earlierFailed(): { clientMessageId: string; enqueuedAt: string; reason: string }[] {
    const mine = new Set(this.pending.map((item) => item.clientMessageId));
    return this.context.outbox
      .itemsOf(this.id)
      .filter((item) => item.status === 'failed' && !mine.has(item.send.clientMessageId))
      .map((item) => ({
        clientMessageId: item.send.clientMessageId,
        enqueuedAt: item.enqueuedAt,
        reason:
          item.lastError?.code === 'conflict' && typeof item.lastError.details?.['currentEpoch'] === 'number'
            ? 'Not sent: the security keys of this conversation were renewed after it was written, and this device did not keep its text. Please write it again.'
            : `Not sent: ${item.lastError?.message ?? 'refused by the server'}`,
      }));
  }

  /** Removes a failed send of an earlier run (after the app showed it). Resolves false for an id that is not one. */
  discardFailed(clientMessageId: string): Promise<boolean> {
    return this.context.outbox.discard(clientMessageId);
  }

  /** Listens to changes; returns the unsubscribe. Entries handed over before the call are in {@link entries}. */
  subscribe(listener: (change: ConversationChange) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /**
   * Joins (once), syncs the record and follows it: entries arrive through {@link subscribe} in seq order.
   * Resolves when the first sync is complete. Idempotent; a refused join can be tried again.
   * @throws AccountFlowError with the gateway's code (`forbidden`, `not_found` …)
   */
  open(): Promise<void> {
    this.opened ??= this.begin().catch((error: unknown) => {
      this.opened = null;
      throw error;
    });
    return this.opened;
  }

  /** Stops following (the feed, its receipts and the facts it listens to). Pending sends stay in the outbox. */
  stop(): void {
    const { client } = this.context;
    client.off('receipt:updated', this.onReceipt);
    client.off('conversation:typing', this.onTyping);
    client.off('presence:changed', this.onPresence);
    this.feed?.stop();
    this.feed = null;
    this.opened = null;
  }

  /**
   * Encrypts a text and sends it through the outbox, which retries with the same id until the server has
   * committed it; until the record hands it back it is in {@link pending}. A refused send leaves `pending`
   * (and the outbox) and comes back as the result. A patient's device passes `redFlags` when it showed the
   * red-flag advice and the patient sent anyway (then calls {@link markUrgent}).
   * @throws AccountFlowError (`not_following` before {@link open}, `no_key`), CryptoError `invalid_input` for a malformed red-flag id
   */
  async send(body: string, options: { clientMessageId?: string; redFlags?: readonly string[] } = {}): Promise<OutboxResult> {
    if (!this.joinAnswer) throw new AccountFlowError('not_following', 'open the conversation before sending');
    const item: PendingSend = {
      clientMessageId: options.clientMessageId ?? crypto.randomUUID(),
      body,
      at: new Date().toISOString(),
      status: 'sending',
      seq: null,
    };
    this.setPending([...this.pending, item]);
    return this.deliver(item, { redFlags: options.redFlags });
  }

  /**
   * Sends photos or documents (1 to 4) with an optional caption. Each file is encrypted here under a fresh key
   * (`encryptFile`), uploaded in parts that resume after a dropped connection (`uploadEncryptedFile`), and completed;
   * then one message whose signed, encrypted payload describes them (key, header, hash, size, type, name) goes through
   * the outbox with `attachmentIds`, retried with the same client message id: never a duplicate. Until the record
   * hands it back it is in {@link pending} with its files and {@link PendingSend.progress}. Aborting `signal` before
   * the message is queued cancels the uploads (`aborted`); a refusal of an upload or of the message (`too_large`,
   * `forbidden` with `not_requested`, `invalid_payload` with `type_not_accepted`, …) comes back as the result and
   * the uploads are cancelled.
   * @throws AccountFlowError (`not_following` before {@link open}, `no_http_api`, `no_key`)
   */
  async sendAttachments(
    files: readonly OutgoingFile[],
    options: { caption?: string; clientMessageId?: string; onProgress?: (progress: UploadProgress) => void; signal?: AbortSignal } = {},
  ): Promise<AttachmentSendResult> {
    if (!this.joinAnswer) throw new AccountFlowError('not_following', 'open the conversation before sending');
    const api = this.context.api;
    if (!api) throw new AccountFlowError('no_http_api', 'this conversation has no HTTP API to upload with');
    if (files.length < 1 || files.length > MAX_ATTACHMENTS) {
      return { ok: false, error: { code: 'invalid_payload', message: `a message carries 1 to ${MAX_ATTACHMENTS} files` } };
    }
    const tooLarge = files.find((file) => file.bytes.length > MAX_FILE_BYTES);
    if (tooLarge) return { ok: false, error: { code: 'too_large', message: 'the file is too large', details: { limit: 'file', maxBytes: MAX_FILE_BYTES } } };
    if (files.some((file) => file.bytes.length === 0)) return { ok: false, error: { code: 'invalid_payload', message: 'the file is empty' } };
    const names = files.map((file) => safeAttachmentName(file.name, file.type === 'application/pdf' ? 'document.pdf' : 'photo'));
    const totalBytes = files.reduce((sum, file) => sum + fileCipherBytes(file.bytes.length), 0);
    const item: PendingSend = {
      clientMessageId: options.clientMessageId ?? crypto.randomUUID(),
      body: options.caption ?? '',
      at: new Date().toISOString(),
      status: 'sending',
      seq: null,
      attachments: files.map((file, index) => ({ name: names[index]!, type: file.type, size: file.bytes.length })),
      progress: { sentBytes: 0, totalBytes },
    };
    this.setPending([...this.pending, item]);
    const uploadIds: string[] = [];
    // The sender describes only what it encrypted itself: each file's key, header, hash and size come from here. One
    // ciphertext at a time is held (a phone sending four large files), its reference kept for the descriptor.
    const encrypted: FileRef[] = [];
    const cancelUploads = async () => {
      await Promise.all(uploadIds.map((uploadId) => api.cancelUpload(uploadId)));
    };
    let doneBytes = 0;
    for (const outgoing of files) {
      const file = encryptFile(outgoing.bytes);
      const upload = await uploadEncryptedFile(
        api,
        { conversationId: this.id, type: outgoing.type, ciphertext: file.ciphertext },
        {
          signal: options.signal,
          onProgress: (sentBytes) => {
            const progress = { sentBytes: doneBytes + sentBytes, totalBytes };
            this.updatePending(item.clientMessageId, { progress });
            options.onProgress?.(progress);
          },
        },
      );
      if (!upload.ok) {
        await cancelUploads();
        await this.dropPending(item.clientMessageId);
        return upload;
      }
      uploadIds.push(upload.uploadId);
      encrypted.push({ key: file.key, header: file.header, hash: file.hash, size: file.size });
      doneBytes += file.ciphertext.length;
    }
    if (options.signal?.aborted) {
      await cancelUploads();
      await this.dropPending(item.clientMessageId);
      return { ok: false, error: { code: 'aborted', message: 'the upload was cancelled' } };
    }
    const attachments = encrypted.map((file, index) => {
      const { type, width, height } = files[index]!;
      const dimensions = type.startsWith('image/') && width !== undefined && height !== undefined ? { width, height } : {};
      return describeFile(file, { id: uploadIds[index]!, type, name: names[index]!, ...dimensions });
    });
    let outcome: OutboxResult;
    try {
      outcome = await this.deliver(item, { attachments });
    } catch (error) {
      await cancelUploads();
      throw error;
    }
    // Refused for good: nothing will reference the uploads. (`stopped` keeps the message in the outbox, so them too.)
    if (!outcome.ok && outcome.error.code !== 'stopped') await cancelUploads();
    return outcome;
  }

  /**
   * Downloads a file a message of this conversation carries, checks it against the signed descriptor (length, hash,
   * every chunk, the final tag) and decrypts it: a blob the server swapped or truncated is refused, never shown in part.
   * The bytes stay in memory; an image is shown only after a re-encode (packages/web `safeImageBlob`).
   * @throws AccountFlowError `no_http_api`, AttachmentDownloadError (`not_found`, `network` …), CryptoError `decrypt_failed`
   */
  async fetchAttachment(attachment: AttachmentDescriptor): Promise<Uint8Array> {
    const api = this.context.api;
    if (!api) throw new AccountFlowError('no_http_api', 'this conversation has no HTTP API to download with');
    return downloadAttachment(api, attachment);
  }

  /**
   * The assigned clinician or a manager asks the patient for a photo or a document: the record gets an
   * `attachment.requested` entry, which the patient's app shows as a prompt ({@link openAttachmentRequest}).
   * Resolves with the ack (`forbidden`, `conflict` for a closed conversation, … as its error).
   */
  requestAttachment(kind: AttachmentRequestKind): Promise<RequestResult<'conversation:request-attachment'>> {
    return this.context.client.request('conversation:request-attachment', { conversationId: this.id, kind });
  }

  /**
   * The request the patient has not answered yet: the newest `attachment.requested` entry with no patient message
   * carrying files after it (the rule the gateway applies to `when-asked` uploads), or null; null once closed.
   */
  get openAttachmentRequest(): AttachmentRequest | null {
    if (this.summary?.status === 'closed') return null;
    for (let index = this.entries.length - 1; index >= 0; index -= 1) {
      const entry = this.entries[index]!;
      if (!entry.ok) continue;
      const value = entry.value;
      if (value.kind === 'message' && value.senderRole === 'patient' && value.attachments.length > 0) return null;
      if (value.kind === 'system' && value.event === 'attachment.requested') return { kind: value.data.kind, seq: value.seq };
    }
    return null;
  }

  /**
   * Encrypts a prepared send's content and hands it to the outbox (in call order), then follows it: the result, or the
   * same content, id and sequence under a newer epoch when one replaced the one it was encrypted under.
   */
  private async deliver(item: PendingSend, content: SendContent): Promise<OutboxResult> {
    const { body } = item;
    const calledAt = Date.now();
    try {
      // Prepared one at a time, in the order of the calls, so the outbox (and the record) keeps that order.
      const prepared = this.sendChain.then(() => this.prepareSend(item, calledAt, content));
      this.sendChain = prepared.then(
        () => undefined,
        () => undefined,
      );
      let { payload, result } = await prepared;
      for (let attempt = 1; ; attempt += 1) {
        const outcome = await result;
        if (outcome.ok) {
          this.updatePending(item.clientMessageId, { seq: outcome.data.seq });
          return outcome;
        }
        const newer = newerEpochOf(outcome, payload.epoch);
        if (newer === null || attempt >= EPOCH_ATTEMPTS) {
          await this.dropPending(item.clientMessageId);
          return outcome;
        }
        // A newer epoch started while this was written: the same text, id and sequence under it (never stored under the old one).
        await this.context.outbox.discard(item.clientMessageId);
        this.learnEpoch(newer);
        await this.rejoin();
        const epoch = this.currentEpoch;
        payload = this.encrypt(epoch, await this.keyFor(epoch), payload.senderDeviceSeq, item.clientMessageId, body, content);
        result = this.context.outbox.enqueue(payload);
      }
    } catch (error) {
      await this.dropPending(item.clientMessageId);
      throw error;
    }
  }

  /**
   * Starts a new epoch: a fresh key sealed only to recipients this client verified itself (the patient's active devices
   * whose certificates verify under the account key, minus those the client's revocation list names; the account key;
   * the newest record key the pinned root vouches for), then kept as this device's key for it. A race lost to another
   * member resolves with the epoch they started (the triggers look at it again before the next send).
   * @throws AccountFlowError (`not_following`, `untrusted_account_key`, `untrusted_record_key`, the gateway's codes)
   */
  startEpoch(reason: EpochReason): Promise<number> {
    this.renewal ??= this.renew(reason).finally(() => (this.renewal = null));
    return this.renewal;
  }

  /**
   * Why this device should start a new epoch before sending, or null: a patient device added or revoked since the
   * current epoch was sealed, a newer current record key, a handover to another clinician, or the epoch's age or
   * message count past EPOCH_MAX_AGE_MS / EPOCH_MAX_MESSAGES. Staff answer only conversations assigned to them, so a
   * member who could not start one is never asked.
   */
  async renewalReason(now = Date.now()): Promise<EpochReason | null> {
    const joined = this.joinAnswer;
    const state = joined?.currentEpochState;
    if (!joined || !state || state.epoch !== this.currentEpoch) return null;
    const sealedTo = new Set(state.recipients.map((entry) => entry.recipientKeyId));
    const devices = this.patientDevicesToSeal(joined);
    if (devices.some((device) => !sealedTo.has(toBase64(keyId(fromBase64(device.boxPublicKey)))))) return 'device-added';
    const active = new Set(devices.map((device) => device.id));
    if (state.recipients.some((entry) => entry.recipient.kind === 'device' && !active.has(entry.recipient.deviceId))) return 'device-revoked';
    // Unknown for now (offline, or no key the root vouches for): the next send looks again; a send is not held up for it.
    const isSealedTo = (record: CurrentRecordKey | undefined) => !record || sealedTo.has(toBase64(keyId(record.boxPublicKey)));
    // A cached answer older than the epoch (another member renewed right after a rotation) is asked again before it counts.
    if (
      !isSealedTo(await this.context.currentRecordKey?.().catch(() => undefined)) &&
      !isSealedTo(await this.context.currentRecordKey?.(true).catch(() => undefined))
    )
      return 'record-key';
    if (this.hadHandover(state.epoch)) return 'handover';
    if (now - Date.parse(state.startedAt) > EPOCH_MAX_AGE_MS) return 'age';
    if ((this.messagesPerEpoch.get(state.epoch) ?? 0) >= EPOCH_MAX_MESSAGES) return 'age';
    return null;
  }

  /**
   * Marks what the app showed, up to `upToSeq`, as read. Never claims more than this device opened: clamped to
   * the feed's readable seq, which stops before the first entry that could not be opened. Nothing is sent before
   * {@link open}, or when nothing is readable yet.
   */
  async markRead(upToSeq: number): Promise<void> {
    const readable = Math.min(upToSeq, this.feed?.readableSeq ?? 0);
    if (readable < 1) return;
    await this.context.client.request('conversation:receipt', { conversationId: this.id, kind: 'read', upToSeq: readable });
  }

  /** Tells the other members this user is (not) typing. */
  async setTyping(isTyping: boolean): Promise<void> {
    await this.context.client.request('conversation:typing', { conversationId: this.id, isTyping });
  }

  /**
   * A patient's device raises the conversation's priority after the red-flag advice: the server sees only this
   * mark (never the words or which red flag). Idempotent. @throws AccountFlowError (`forbidden`, `not_found`, `conflict` …)
   */
  markUrgent(): Promise<ConversationSummary> {
    return this.command(() => this.context.client.request('conversation:urgent', { conversationId: this.id }));
  }

  /** A clinician takes the conversation from the queue. @throws AccountFlowError (`conflict`, `at_capacity` …) */
  claim(): Promise<ConversationSummary> {
    return this.command(() => this.context.client.request('conversation:claim', { conversationId: this.id }));
  }

  /** The assignee passes it to a colleague, or back to the queue. @throws AccountFlowError (`forbidden`, `at_capacity` …) */
  transfer(to: { clinicianId: string } | 'queue'): Promise<ConversationSummary> {
    return this.command(() => this.context.client.request('conversation:transfer', { conversationId: this.id, to }));
  }

  /** The assignee puts it on hold, or resumes it. @throws AccountFlowError (`forbidden`, `conflict` …) */
  hold(isOnHold: boolean): Promise<ConversationSummary> {
    return this.command(() => this.context.client.request('conversation:hold', { conversationId: this.id, isOnHold }));
  }

  /** The assignee closes it with an outcome (`follow_up` needs `followUp`, and only it takes one). @throws AccountFlowError (`invalid_payload`, `forbidden` …) */
  close(outcome: CloseOutcome, followUp?: FollowUpRequest): Promise<ConversationSummary> {
    return this.command(() => this.context.client.request('conversation:close', { conversationId: this.id, outcome, ...(followUp ? { followUp } : {}) }));
  }

  /** Called by the session whenever its outbox changes (queued sends of an earlier run). */
  outboxChanged(): void {
    this.emit({ kind: 'pending' });
  }

  /**
   * A send's checks before it is encrypted and handed to the outbox (whose `enqueue` it answers without waiting): a
   * join answer fresh enough (a patient's: one that arrived after the send was called, when online; offline, what
   * the device knows), the triggers, and a new epoch first when one says so.
   */
  private async prepareSend(item: PendingSend, calledAt: number, content: SendContent) {
    const freshSince = this.role === 'patient' ? calledAt : Date.now() - MEMBERS_FRESH_MS.staff;
    if (this.joinedAt < freshSince && this.context.client.connectionState === 'online') await this.rejoin();
    // The current epoch's key first: one this device cannot trust (its creator is no trusted member) is refused here,
    // visibly, rather than quietly replaced by a new epoch; that is an attack the user must hear of.
    await this.keyFor(this.currentEpoch);
    const reason = await this.renewalReason();
    if (reason) await this.startEpoch(reason);
    const epoch = this.currentEpoch;
    const payload = this.encrypt(epoch, await this.keyFor(epoch), this.takeSenderSeq(), item.clientMessageId, item.body, content);
    return { payload, result: this.context.outbox.enqueue(payload) };
  }

  /** The epoch a send uses: the newest the join answers, the record's `keys.epoch` entries and refusals told of. */
  private get currentEpoch(): number {
    return Math.max(this.joinAnswer?.conversation.currentEpoch ?? 1, this.summary?.currentEpoch ?? 1);
  }

  private learnEpoch(epoch: number): void {
    if (this.summary && epoch > this.summary.currentEpoch) {
      this.summary = { ...this.summary, currentEpoch: epoch };
      this.emit({ kind: 'summary' });
    }
  }

  /** The key of an epoch, re-joining once for its envelopes when this device holds none yet (a `keys.epoch` it just saw). */
  private async keyFor(epoch: number): Promise<Uint8Array> {
    try {
      return this.epochKey(epoch);
    } catch (error) {
      if (!(error instanceof ChatEntryError) || error.code !== 'no_key') throw error;
      await this.rejoin();
      return this.epochKey(epoch);
    }
  }

  private encrypt(epoch: number, epochKey: Uint8Array, senderDeviceSeq: number, clientMessageId: string, body: string, content: SendContent) {
    const { session, device } = this.context.signedIn;
    const conversation = this.joinAnswer!.conversation;
    return encryptForSend({
      conversation,
      epoch,
      epochKey,
      sender: { userId: session.user.id, deviceId: device.deviceId, role: this.role, signSecretKey: device.keys.signSecretKey },
      senderDeviceSeq,
      clientMessageId,
      body,
      redFlags: content.redFlags,
      attachments: content.attachments,
    });
  }

  private async renew(reason: EpochReason): Promise<number> {
    for (let attempt = 1; ; attempt += 1) {
      await this.rejoin();
      const joined = this.joinAnswer;
      if (!joined) throw new AccountFlowError('not_following', 'open the conversation before starting an epoch');
      const based = this.currentEpoch;
      const epoch = based + 1;
      const { epochKey, envelopes } = newEpoch({
        conversationId: this.id,
        epoch,
        targets: await this.epochTargets(joined),
        creatorSignSecretKey: this.context.signedIn.device.keys.signSecretKey,
      });
      const result = await this.context.client.request('conversation:epoch', { conversationId: this.id, epoch, envelopes, reason });
      if (result.ok) {
        // This device made the key: it is the first key seen for the epoch, kept before anything the server answers later.
        const id = epochKeyId(this.id, epoch);
        if (!this.heldEpochKeys.has(epoch)) {
          this.heldEpochKeys.set(epoch, epochKey);
          this.context.epochKeys?.set(id, epochKey);
          this.context.onEpochKey?.(id, epochKey);
        }
        this.setSummary(result.data.conversation);
        await this.rejoin();
        return epoch;
      }
      const current = 'details' in result.error ? result.error.details?.['currentEpoch'] : undefined;
      if (result.error.code !== 'conflict' || typeof current !== 'number' || attempt >= EPOCH_ATTEMPTS) throw AccountFlowError.of(result.error);
      // Lost a race: another member started a newer epoch after this device decided; take theirs.
      this.learnEpoch(current);
      if (current >= epoch) {
        await this.rejoin();
        return current;
      }
    }
  }

  /**
   * Whom a new epoch is sealed to, each verified here: the patient's devices (below), the account key (the patient's own
   * public halves; for staff, one that chains to the pinned root) and the current record key.
   */
  private async epochTargets(joined: JoinedConversation): Promise<EnvelopeTarget[]> {
    const patientId = joined.conversation.patientId;
    const own = this.context.signedIn;
    let account: { boxPublicKey: Uint8Array };
    if (own.account) account = own.account;
    else if (
      joined.patientAccount &&
      joined.patientAccount.userId === patientId &&
      isAccountKeyTrusted(joined.patientAccount, joined.conversation.practiceOdsCode, this.context.pinnedRoot)
    )
      account = { boxPublicKey: fromBase64(joined.patientAccount.boxPublicKey) };
    else throw new AccountFlowError('untrusted_account_key', "the patient's account key does not chain to the practice root");
    if (!this.context.currentRecordKey) throw new AccountFlowError('untrusted_record_key', 'no way to learn the current record key');
    // Asked afresh: a new epoch right after a record key rotation (an offboarding) must not go to the version it replaced.
    const record = await this.context.currentRecordKey(true);
    const devices = this.patientDevicesToSeal(joined).map((device) => ({
      recipient: { kind: 'device', deviceId: device.id } as EnvelopeRecipient,
      boxPublicKey: fromBase64(device.boxPublicKey),
    }));
    return [
      ...devices,
      { recipient: { kind: 'account', userId: patientId }, boxPublicKey: account.boxPublicKey },
      { recipient: { kind: 'record', version: record.version }, boxPublicKey: record.boxPublicKey },
    ];
  }

  /**
   * The patient's devices a new epoch goes to: listed as active, certified under the account key this client trusts
   * (`isDeviceTrusted`), not named by the client's own revocation list; for the patient, always its own device from its
   * own keys. A device the server lists without such a certificate gets nothing.
   */
  private patientDevicesToSeal(joined: JoinedConversation): MemberDevice[] {
    const patientId = joined.conversation.patientId;
    const revoked = this.context.revocations?.revoked;
    const own = this.context.signedIn;
    const chosen = new Map<string, MemberDevice>();
    for (const device of this.devices.values()) {
      if (device.role !== 'patient' || device.userId !== patientId || device.revokedAt !== null || revoked?.has(device.id)) continue;
      if (device.id === own.device.deviceId || this.isTrusted(device, joined)) chosen.set(device.id, device);
    }
    if (own.session.user.id === patientId) {
      const keys = own.device.keys;
      const listed = chosen.get(own.device.deviceId);
      chosen.set(own.device.deviceId, {
        ...(listed ?? { id: own.device.deviceId, userId: patientId, role: 'patient', displayName: '', certificate: null, certifiedAs: null, revokedAt: null }),
        signPublicKey: toBase64(keys.signPublicKey),
        boxPublicKey: toBase64(keys.boxPublicKey),
      });
    }
    return [...chosen.values()];
  }

  /** Whether another clinician was assigned since the epoch started (its first assignment is not a handover). */
  private hadHandover(epoch: number): boolean {
    const since = this.epochStarts.get(epoch)?.seq ?? 0;
    const atStart = this.assignments.filter((entry) => entry.seq <= since).at(-1)?.clinicianId ?? null;
    const clinicians = new Set(this.assignments.filter((entry) => entry.seq > since && entry.clinicianId !== null).map((entry) => entry.clinicianId));
    if (atStart !== null) clinicians.add(atStart);
    return clinicians.size > 1;
  }

  private async begin(): Promise<void> {
    const { client, cursorStore } = this.context;
    client.on('receipt:updated', this.onReceipt);
    client.on('conversation:typing', this.onTyping);
    client.on('presence:changed', this.onPresence);
    const codec: EntryCodec<ChatEntry> = { open: (entry, context) => this.openEntry(entry, context.joined) };
    const feed = new ConversationFeed<ChatEntry>({ client, conversationId: this.id, codec, cursorStore, onEntry: (entry) => this.onEntry(entry) });
    this.feed = feed;
    const outcome = await feed.start();
    if (outcome.ok && feed.joined) this.absorb(feed.joined);
    if (!outcome.ok) {
      if (this.feed === feed) this.stop();
      throw AccountFlowError.of(outcome.error);
    }
  }

  private async command(
    request: () => Promise<{ ok: true; data: { conversation: ConversationSummary } } | { ok: false; error: { code: string; message: string } }>,
  ): Promise<ConversationSummary> {
    const result = await request();
    if (!result.ok) throw AccountFlowError.of(result.error);
    this.setSummary(result.data.conversation);
    return result.data.conversation;
  }

  private onEntry(entry: FeedEntry<ChatEntry>): void {
    this.entries = [...this.entries, entry];
    if (entry.ok) {
      const value = entry.value;
      if (value.kind === 'system') {
        if (value.event === 'assigned' || value.event === 'transferred') this.assignments.push({ seq: value.seq, clinicianId: value.data.clinicianId });
        else if (value.event === 'requeued') this.assignments.push({ seq: value.seq, clinicianId: null });
        else if (value.event === 'keys.epoch') this.epochStarts.set(value.data.epoch, { seq: value.seq, at: value.serverTime });
      }
      if (value.kind === 'message') {
        if (value.isMine) void this.dropPending(value.clientMessageId, { keepOutbox: true });
        else if (this.typing.has(value.senderUserId)) this.markTyping(value.senderUserId, false);
      } else if (value.seq > this.summarySeq && this.summary) {
        this.summarySeq = value.seq;
        const next = applySystemEvent(this.summary, value, value.serverTime);
        if (next !== this.summary) {
          this.summary = next;
          this.emit({ kind: 'summary' });
        }
        // An assignment after the join answer names someone it may not list yet: learn their certified name.
        const isAssignment = value.event === 'assigned' || value.event === 'transferred';
        // Members fetch the new envelopes now, so the next message (or send) finds its key (not for an epoch the answer knows).
        if (value.event === 'keys.epoch' && value.data.epoch > (this.joinAnswer?.conversation.currentEpoch ?? 0)) void this.rejoin();
        if (isAssignment && this.needsName(value.data.clinicianId)) void this.rejoin();
      }
    }
    this.emit({ kind: 'entry', entry });
  }

  private readonly onReceipt = (fact: ReceiptUpdated): void => {
    if (fact.conversationId !== this.id) return;
    this.addReceipt(fact);
    this.emit({ kind: 'receipts' });
  };

  private readonly onTyping = (fact: TypingChanged): void => {
    if (fact.conversationId !== this.id || fact.userId === this.context.signedIn.session.user.id) return;
    this.markTyping(fact.userId, fact.isTyping);
  };

  private readonly onPresence = (fact: PresenceChanged): void => {
    // Someone new came into the conversation (the assigned clinician): learn who they are.
    if (fact.conversationId === this.id && fact.isOnline && this.joinAnswer && this.needsName(fact.userId)) void this.rejoin();
  };

  /**
   * Whether to join again to learn a member's certified name: only a patient's device, which has no other
   * source it may trust for a clinician's name. Staff name colleagues from the queue, and each staff join is a
   * `conversation.read` in the audit log.
   */
  private needsName(userId: string): boolean {
    return this.role === 'patient' && !this.members.has(userId);
  }

  private markTyping(userId: string, isTyping: boolean): void {
    const typing = new Set(this.typing);
    if (isTyping) typing.add(userId);
    else typing.delete(userId);
    this.typing = typing;
    this.emit({ kind: 'typing' });
  }

  private addReceipt(fact: ReceiptUpdated): void {
    const current = this.receipts.get(fact.userId) ?? { read: 0, delivered: 0 };
    const read = fact.kind === 'read' ? Math.max(current.read, fact.upToSeq) : current.read;
    // A read entry was delivered too.
    const delivered = Math.max(current.delivered, fact.upToSeq);
    if (read === current.read && delivered === current.delivered) return;
    this.receipts = new Map([...this.receipts, [fact.userId, { read, delivered }]]);
  }

  private setSummary(summary: ConversationSummary): void {
    if (summary.lastSeq < this.summarySeq) {
      // An answer older than what the record already told us: take only what the record does not carry.
      if (this.summary) this.summary = { ...this.summary, urgentAt: this.summary.urgentAt ?? summary.urgentAt };
    } else {
      this.summary = summary;
      this.summarySeq = summary.lastSeq;
    }
    this.emit({ kind: 'summary' });
  }

  private setPending(pending: readonly PendingSend[]): void {
    this.pending = pending;
    this.emit({ kind: 'pending' });
  }

  private updatePending(clientMessageId: string, change: Partial<PendingSend>): void {
    if (!this.pending.some((item) => item.clientMessageId === clientMessageId)) return;
    this.setPending(this.pending.map((item) => (item.clientMessageId === clientMessageId ? { ...item, ...change } : item)));
  }

  /**
   * A send leaves `pending`: back from the record, or refused (then its failed copy leaves the outbox too: the app still
   * has the text). Failed items of an earlier run stay: they are {@link earlierFailed} until the app discards them.
   */
  private async dropPending(clientMessageId: string, options: { keepOutbox?: boolean } = {}): Promise<void> {
    if (this.pending.some((item) => item.clientMessageId === clientMessageId))
      this.setPending(this.pending.filter((item) => item.clientMessageId !== clientMessageId));
    if (options.keepOutbox) return;
    await this.context.outbox.discard(clientMessageId);
  }

  private emit(change: ConversationChange): void {
    for (const listener of this.listeners) {
      try {
        listener(change);
      } catch (error) {
        queueMicrotask(() => {
          throw error;
        });
      }
    }
  }

  private get role(): MemberRole {
    const roles = this.context.signedIn.session.user.roles;
    if (roles.includes('patient')) return 'patient';
    return roles.includes('clinician') ? 'clinician' : 'manager';
  }

  /** The next sender sequence: past every own message seen in the record and every one still in the outbox. */
  private takeSenderSeq(): number {
    const pending = this.context.outbox.itemsOf(this.id).map((item) => item.send.senderDeviceSeq);
    const next = Math.max(this.nextSenderSeq, ...pending.map((seq) => seq + 1));
    this.nextSenderSeq = next + 1;
    return next;
  }

  /**
   * Takes in a join answer: the newest summary, account key and receipts, and every device and envelope it
   * lists (a later answer never makes the model forget one, nor swap the first envelope seen for an epoch and key).
   */
  private absorb(joined: JoinedConversation): void {
    if (joined === this.joinAnswer) return;
    // The feed hands back the answer of its own join with every entry; never let it replace a newer one.
    const isNewest = !this.joinAnswer || joined.conversation.lastSeq >= this.joinAnswer.conversation.lastSeq;
    if (isNewest) {
      this.joinAnswer = joined;
      this.joinedAt = Date.now();
    }
    let hasNewDevice = false;
    for (const device of joined.devices) {
      hasNewDevice ||= !this.devices.has(device.id);
      this.devices.set(device.id, device);
    }
    for (const envelope of joined.envelopes) {
      const key = `${envelope.epoch}/${envelope.recipientKeyId}`;
      if (!this.envelopes.has(key)) this.envelopes.set(key, envelope);
    }
    if (isNewest && (!this.summary || joined.conversation.lastSeq >= this.summarySeq)) this.setSummary(joined.conversation);
    if (hasNewDevice) {
      this.members = this.verifiedMembers();
      this.emit({ kind: 'members' });
    }
    if (joined.receipts.length > 0) {
      for (const receipt of joined.receipts) this.addReceipt(receipt);
      this.emit({ kind: 'receipts' });
    }
  }

  /**
   * The names a screen may show, by user id: a member of staff only as their root-signed device certificate
   * names them (never the server's name or role field), a patient device only if it chains to the account key.
   */
  private verifiedMembers(): Map<string, ConversationMember> {
    const members = new Map<string, ConversationMember>();
    const joined = this.joinAnswer;
    if (!joined) return members;
    for (const device of this.devices.values()) {
      if (members.has(device.userId) || !this.isTrusted(device, joined)) continue;
      if (device.role === 'patient') members.set(device.userId, { userId: device.userId, name: device.displayName, role: 'patient' });
      else if (device.certifiedAs) {
        const roles = device.certifiedAs.roles;
        members.set(device.userId, {
          userId: device.userId,
          name: device.certifiedAs.displayName,
          role: roles.includes(device.role) ? device.role : (roles[0] ?? 'clinician'),
        });
      }
    }
    return members;
  }

  private async openEntry(entry: RecordEntry, joined: JoinedConversation): Promise<ChatEntry> {
    this.absorb(joined);
    if (entry.kind === 'system' || !entry.message) {
      const system = parseSystemEvent(entry.system ?? { event: 'missing', data: null });
      return { kind: 'system', seq: entry.seq, serverTime: entry.serverTime, ...system };
    }
    const m = entry.message;
    this.messagesPerEpoch.set(m.epoch, (this.messagesPerEpoch.get(m.epoch) ?? 0) + 1);
    // A member who joined after our answer (a clinician's first reply), or an epoch it did not list: ask the server again.
    const knowsEpoch =
      this.heldEpochKeys.has(m.epoch) ||
      this.context.epochKeys?.has(epochKeyId(this.id, m.epoch)) ||
      [...this.envelopes.values()].some((envelope) => envelope.epoch === m.epoch);
    if (!this.devices.has(m.senderDeviceId) || !knowsEpoch) await this.rejoin();
    const current = this.joinAnswer ?? joined;
    const sender = this.devices.get(m.senderDeviceId);
    if (!sender) throw new ChatEntryError('unknown_sender', 'the sending device is not a member of this conversation');
    if (sender.userId !== m.senderUserId) throw new ChatEntryError('unknown_sender', 'the sending device belongs to someone else');
    if (!this.isTrusted(sender, current, Date.parse(entry.serverTime)))
      throw new ChatEntryError('untrusted_sender', 'the sending device is not certified by the practice');
    // The role in the signed header must be one the practice certified for this device (a clinician's device cannot speak as a manager).
    const isRoleCertified =
      sender.role === 'patient' ? m.senderRole === 'patient' : m.senderRole !== 'patient' && (sender.certifiedAs?.roles.includes(m.senderRole) ?? false);
    if (!isRoleCertified) throw new ChatEntryError('untrusted_sender', 'the sender speaks in a role the practice did not certify');
    const payload = decryptEntry({
      conversation: current.conversation,
      entry,
      epochKey: this.epochKey(m.epoch, Date.parse(entry.serverTime)),
      senderSignPublicKey: fromBase64(sender.signPublicKey),
    });
    const me = this.context.signedIn;
    // Refuses a message id or sender sequence already seen: a replay by the server under a new seq.
    this.context.guard.accept({
      conversationId: entry.conversationId,
      senderDeviceId: m.senderDeviceId,
      clientMsgId: m.clientMessageId,
      senderDeviceSeq: m.senderDeviceSeq,
    });
    if (m.senderDeviceId === me.device.deviceId) this.nextSenderSeq = Math.max(this.nextSenderSeq, m.senderDeviceSeq + 1);
    return {
      kind: 'message',
      seq: entry.seq,
      serverTime: entry.serverTime,
      senderUserId: m.senderUserId,
      senderDeviceId: m.senderDeviceId,
      senderRole: m.senderRole,
      // Staff names come from the root-signed device certificate just verified, never from a server field.
      senderName: sender.role === 'patient' ? sender.displayName : (sender.certifiedAs?.displayName ?? ''),
      clientMessageId: m.clientMessageId,
      body: payload.body,
      clientSentAt: payload.clientSentAt,
      redFlags: m.senderRole === 'patient' ? [...(payload.redFlags ?? [])] : [],
      attachments: [...payload.attachments],
      // The sender device was checked above to belong to senderUserId: a patient's other devices are "You" too.
      isMine: m.senderUserId === me.session.user.id,
    };
  }

  /** Joins again to learn members and envelopes; one at a time. A dropped connection is waited out (up to REJOIN_PATIENCE_MS), a refusal is not. */
  private rejoin(): Promise<void> {
    this.rejoinRun ??= (async () => {
      const deadline = Date.now() + REJOIN_PATIENCE_MS;
      try {
        for (;;) {
          const result = await this.context.client.request('conversation:join', { conversationId: this.id });
          if (result.ok) return this.absorb(result.data);
          const isTransient = result.error.code === 'timeout' || result.error.code === 'disconnected';
          if (!isTransient || Date.now() > deadline) return;
          await new Promise((resolve) => setTimeout(resolve, 200));
        }
      } finally {
        this.rejoinRun = null;
      }
    })();
    return this.rejoinRun;
  }

  /** `at`: the record time (the server's) of what the device made; without it, whether to trust the device now. */
  private isTrusted(device: MemberDevice, joined: JoinedConversation, at?: number): boolean {
    return isDeviceTrusted(device, joined, this.context.pinnedRoot, this.context.signedIn.account, this.context.revocations?.revoked, at);
  }

  /**
   * The epoch key: one this device already holds, or opened from the first envelope (in the order the server
   * first listed them) that this client can open and that passes every check. A first epoch counts only from
   * one of the conversation's own patient devices (the patient opens it); a later epoch from any trusted member
   * device. Every opened key is kept and never replaced.
   * @throws ChatEntryError `no_key`, CryptoError of the first envelope that failed
   */
  private epochKey(epoch: number, at?: number): Uint8Array {
    const joined = this.joinAnswer;
    if (!joined) throw new ChatEntryError('no_key', 'the conversation has not been joined');
    const id = epochKeyId(joined.conversation.id, epoch);
    const held = this.heldEpochKeys.get(epoch) ?? this.context.epochKeys?.get(id);
    if (held) {
      this.heldEpochKeys.set(epoch, held);
      return held;
    }
    let firstError: unknown;
    for (const envelope of [...this.envelopes.values()].filter((candidate) => candidate.epoch === epoch)) {
      const recipient = this.boxKeysFor(envelope);
      const creator = this.devices.get(envelope.creatorDeviceId);
      if (!recipient || !creator) continue;
      const isPatientDevice = creator.role === 'patient' && creator.userId === joined.conversation.patientId;
      const isMember = epoch === 1 ? isPatientDevice : isPatientDevice || creator.role !== 'patient';
      // A first epoch was made when the conversation opened; a later one no later than the message it opens (`at`).
      const envelopeTime = epoch === 1 ? Date.parse(joined.conversation.createdAt) : at;
      try {
        const key = openEnvelope({
          conversationId: joined.conversation.id,
          envelope,
          recipient,
          creator: { signPublicKey: fromBase64(creator.signPublicKey), isTrusted: this.isTrusted(creator, joined, envelopeTime), isMember },
        });
        this.heldEpochKeys.set(epoch, key);
        this.context.epochKeys?.set(id, key);
        this.context.onEpochKey?.(id, key);
        return key;
      } catch (error) {
        firstError ??= error;
      }
    }
    throw firstError ?? new ChatEntryError('no_key', `no envelope of epoch ${epoch} opens with this device's keys`);
  }

  private boxKeysFor(envelope: StoredEnvelope): BoxKeys | undefined {
    const { recipient } = envelope;
    const { device } = this.context.signedIn;
    if (recipient.kind === 'device') return recipient.deviceId === device.deviceId ? device.keys : undefined;
    // The account key's secret halves never stay on a device: its envelopes were opened at enrolment (epochKeys).
    if (recipient.kind === 'account') return undefined;
    return this.context.recordKeys?.get(recipient.version);
  }
}

/** What a send carries besides its body. */
interface SendContent {
  redFlags?: readonly string[];
  attachments?: readonly AttachmentDescriptor[];
}

/** The current epoch a refused send names when a newer epoch replaced the one it was encrypted under, else null. */
function newerEpochOf(result: OutboxResult, epoch: number): number | null {
  if (result.ok || result.error.code !== 'conflict' || !('details' in result.error)) return null;
  const current = result.error.details?.['currentEpoch'];
  return typeof current === 'number' && current > epoch ? current : null;
}
