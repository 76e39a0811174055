import { Inject, Injectable, Logger } from '@nestjs/common';
import {
  ATTACHMENT_CHUNK_OVERHEAD,
  ATTACHMENT_PART_BYTES,
  chunkCountFor,
  cipherBytesFor,
  type AttachmentSettings,
  type ConversationRequestAttachment,
  type CreateUploadRequest,
  type UploadCreated,
  type UploadStatus,
} from '@parley/protocol';
import { isStaff, type Actor } from '../common/actor.js';
import { Clock } from '../common/clock.js';
import { assertMember } from '../common/conversation-row.js';
import { DomainError } from '../common/domain-error.js';
import { APP_CONFIG, type AppConfig } from '../config.js';
import { AuditService } from '../audit/audit.service.js';
import { ConversationAccessCache, type ConversationAccess } from '../invalidation/conversation-access.cache.js';
import { PracticeSettingsService } from '../practices/practice-settings.service.js';
import { RateLimitService } from '../rate-limits/rate-limit.service.js';
import { RecordService } from '../record/record.service.js';
import { AttachmentStore } from './attachment-store.js';
import { AttachmentsRepository, type Upload } from './attachments.repository.js';

/** Uploads one sweep removes per statement (it repeats until none is left). */
const SWEEP_BATCH = 200;

/** A download: the ciphertext's length and its parts in order, read from the store as the response is written. */
export interface Download {
  cipherBytes: number;
  parts: AsyncIterable<Buffer>;
}

const notFound = () => new DomainError('not_found', 'No such upload.');

/**
 * Encrypted attachments on the server (docs/protocol.md, "Attachments"): uploads of ciphertext parts within the
 * practice's caps, their claim by the message that references them, downloads for the conversation's members, the
 * clinician's request for a photo or document, and the sweep of uploads no message took. The server only ever holds
 * ciphertext, its size and the type the sending device declared.
 */
@Injectable()
export class AttachmentsService {
  private readonly logger = new Logger(AttachmentsService.name);

  constructor(
    private readonly uploads: AttachmentsRepository,
    private readonly store: AttachmentStore,
    private readonly access: ConversationAccessCache,
    private readonly settings: PracticeSettingsService,
    private readonly rateLimits: RateLimitService,
    private readonly record: RecordService,
    private readonly audit: AuditService,
    private readonly clock: Clock,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  /**
   * Starts an upload after every check, before anything is stored: membership, an accepted type, an open
   * conversation, the practice's rule for patients, the upload flood limit, then the per-file, per-conversation and
   * per-patient daily caps (compared on ciphertext sizes).
   * @throws DomainError `not_found`, `conflict` (closed), `forbidden` (`reason`: `not_accepted`, `not_requested`), `rate_limited`,
   *   `invalid_payload` (`reason: type_not_accepted`; a size no ciphertext has), `too_large` (`limit`, `maxBytes`)
   */
  async create(actor: Actor, request: CreateUploadRequest): Promise<UploadCreated> {
    // Every part is a whole secretstream chunk, at least its 17 bytes of overhead: the last one too.
    const lastPartBytes = request.cipherBytes - (chunkCountFor(request.cipherBytes) - 1) * ATTACHMENT_PART_BYTES;
    if (lastPartBytes < ATTACHMENT_CHUNK_OVERHEAD) throw new DomainError('invalid_payload', 'cipherBytes is not the size of an encrypted file.');
    const conversation = await this.memberConversation(actor, request.conversationId);
    const settings = await this.settings.attachmentSettingsOf(conversation.practiceId);
    if (!settings.acceptedTypes.includes(request.contentType)) {
      throw new DomainError('invalid_payload', 'The practice does not accept this type of file.', { reason: 'type_not_accepted' });
    }
    if (conversation.status === 'closed') throw new DomainError('conflict', 'This conversation is closed.');
    if (!isStaff(actor)) await this.assertPatientMayUpload(settings, conversation.id);
    await this.rateLimits.countUploadStart(actor.userId);
    if (request.cipherBytes > cipherBytesFor(settings.maxFileBytes)) throw tooLarge('file', settings.maxFileBytes);
    const now = this.clock.now();
    const upload = {
      id: crypto.randomUUID(),
      practiceId: conversation.practiceId,
      conversationId: conversation.id,
      uploaderUserId: actor.userId,
      uploaderDeviceId: actor.deviceId,
      contentType: request.contentType,
      cipherBytes: request.cipherBytes,
      chunkCount: chunkCountFor(request.cipherBytes),
      createdAt: now,
    };
    const outcome = await this.uploads.createWithinCaps(upload, {
      conversationCipherBytes: cipherBytesFor(settings.maxConversationBytes),
      dailyCipherBytes: isStaff(actor) ? null : cipherBytesFor(settings.maxPatientDailyBytes),
    });
    if (outcome === 'conversation') throw tooLarge('conversation', settings.maxConversationBytes);
    if (outcome === 'daily') throw tooLarge('daily', settings.maxPatientDailyBytes);
    this.logger.log({ uploadId: upload.id, conversationId: conversation.id, cipherBytes: upload.cipherBytes }, 'upload started');
    return {
      uploadId: upload.id,
      chunkBytes: ATTACHMENT_PART_BYTES,
      chunkCount: upload.chunkCount,
      expiresAt: new Date(now.getTime() + this.config.attachmentUnreferencedTtlMs).toISOString(),
    };
  }

  /**
   * Stores part `index` of the caller's upload. The same bytes again are fine (a retry after a dropped connection).
   * @throws DomainError `not_found`, `invalid_payload` (index out of range, wrong length), `conflict` (other bytes there; the upload is complete)
   */
  async putPart(actor: Actor, uploadId: string, index: number, bytes: Buffer): Promise<void> {
    const upload = await this.ownUpload(actor, uploadId);
    if (index >= upload.chunkCount) throw new DomainError('invalid_payload', 'No such part of this upload.', { chunkCount: upload.chunkCount });
    const expected = index === upload.chunkCount - 1 ? upload.cipherBytes - index * ATTACHMENT_PART_BYTES : ATTACHMENT_PART_BYTES;
    if (bytes.length !== expected) throw new DomainError('invalid_payload', `Part ${index} must be ${expected} bytes.`, { expectedBytes: expected });
    if (upload.completedAt) throw new DomainError('conflict', 'This upload is complete: its parts no longer change.');
    const outcome = await this.store.putPart(upload.id, index, bytes);
    if (outcome === 'different') throw new DomainError('conflict', `Part ${index} was stored with other bytes.`);
  }

  /** Where the caller's upload stands: what a client resumes from. @throws DomainError `not_found` */
  async status(actor: Actor, uploadId: string): Promise<UploadStatus> {
    const upload = await this.ownUpload(actor, uploadId);
    return toStatus(upload, await this.store.partIndexes(upload.id));
  }

  /**
   * Marks the caller's upload complete once every part is stored; again, it answers the same.
   * @throws DomainError `not_found`, `conflict` (`missing`: how many parts are not stored yet)
   */
  async complete(actor: Actor, uploadId: string): Promise<UploadStatus> {
    const upload = await this.ownUpload(actor, uploadId);
    const received = await this.store.partIndexes(upload.id);
    if (received.length < upload.chunkCount) {
      throw new DomainError('conflict', 'Some parts of this upload are missing.', { missing: upload.chunkCount - received.length });
    }
    if (!upload.completedAt) await this.uploads.markComplete(upload.id, this.clock.now());
    return { ...toStatus(upload, received), isComplete: true };
  }

  /** Cancels the caller's upload and removes its parts. @throws DomainError `not_found`, `conflict` (a message claims it) */
  async cancel(actor: Actor, uploadId: string): Promise<void> {
    const upload = await this.ownUpload(actor, uploadId);
    if (upload.clientMessageId || !(await this.uploads.removeUnclaimed(upload.id))) {
      throw new DomainError('conflict', 'A message references this upload: it stays with the conversation.');
    }
    await this.store.remove([upload.id]);
  }

  /**
   * A complete upload's ciphertext, for a member of its conversation once a stored message references it (a member of
   * staff's read is audited), or for its uploader before then.
   * @throws DomainError `not_found` (unknown, incomplete, not referenced, another practice's, not a member)
   */
  async download(actor: Actor, uploadId: string): Promise<Download> {
    const upload = await this.uploads.find(uploadId);
    if (!upload?.completedAt) throw notFound();
    if (!upload.isReferenced) {
      // Before a message references it, only its uploader sees it (to check an upload before sending it).
      if (upload.uploaderUserId !== actor.userId) throw notFound();
    } else {
      const conversation = await this.memberConversation(actor, upload.conversationId);
      if (isStaff(actor)) {
        await this.audit.record(actor, 'conversation.read', {
          conversationId: conversation.id,
          subjectUserId: conversation.patientId,
          data: { via: 'attachment', uploadId: upload.id },
        });
      }
    }
    return { cipherBytes: upload.cipherBytes, parts: this.store.readParts(upload.id, upload.chunkCount) };
  }

  /**
   * Claims the uploads a message references, for that message, before it is appended: each must be a complete upload
   * of the conversation by the sending device, not claimed by another message (a retry of the same message is fine).
   * All or none are claimed.
   * @throws DomainError `not_found` (unknown, another device's or conversation's), `conflict` (incomplete; another message's)
   */
  async claim(actor: Actor, message: { conversationId: string; clientMessageId: string; attachmentIds: readonly string[] }): Promise<void> {
    const found = await this.uploads.claim(message.attachmentIds, {
      conversationId: message.conversationId,
      deviceId: actor.deviceId,
      clientMessageId: message.clientMessageId,
      claimedAt: this.clock.now(),
    });
    if (found.length < message.attachmentIds.length || found.some((upload) => !upload.isOwn)) throw new DomainError('not_found', 'No such upload.');
    if (found.some((upload) => !upload.isComplete)) throw new DomainError('conflict', 'An attachment has not finished uploading.');
    if (found.some((upload) => upload.claimedBy !== null && upload.claimedBy !== message.clientMessageId)) {
      throw new DomainError('conflict', 'An attachment already belongs to another message.');
    }
  }

  /**
   * A clinician asks the patient for a photo or a document: an `attachment.requested` entry in the record (metadata
   * only), which also opens the way for a patient's upload when the practice takes them only when asked.
   * @throws DomainError `not_found`, `forbidden` (a patient; staff other than its assignee or a manager), `conflict` (closed)
   */
  async requestAttachment(actor: Actor, payload: ConversationRequestAttachment): Promise<{ seq: number }> {
    const conversation = await this.memberConversation(actor, payload.conversationId);
    const isAllowed = isStaff(actor) && (conversation.assignedClinicianId === actor.userId || actor.roles.includes('manager'));
    if (!isAllowed) throw new DomainError('forbidden', 'Only the assigned clinician or a manager asks for a photo or document.');
    if (conversation.status === 'closed') throw new DomainError('conflict', 'This conversation is closed.');
    const outcome = await this.record.append({
      conversationId: conversation.id,
      system: { event: 'attachment.requested', data: { kind: payload.kind, clinicianId: actor.userId } },
    });
    if (outcome.status === 'closed') throw new DomainError('conflict', 'This conversation is closed.');
    if (outcome.status !== 'stored' && outcome.status !== 'duplicate') throw new DomainError('not_found', 'No such conversation.');
    return { seq: outcome.seq };
  }

  /** Removes the uploads no stored message references, older than ATTACHMENT_UNREFERENCED_TTL_MS; returns how many. */
  async sweep(): Promise<number> {
    const before = new Date(this.clock.now().getTime() - this.config.attachmentUnreferencedTtlMs);
    let removed = 0;
    for (;;) {
      const ids = await this.uploads.removeUnreferenced(before, SWEEP_BATCH);
      await this.store.remove(ids);
      removed += ids.length;
      if (ids.length < SWEEP_BATCH) break;
    }
    if (removed > 0) this.logger.log({ removed }, 'unreferenced uploads removed');
    return removed;
  }

  /** The conversation if the caller is a member (its patient, or staff of its practice); anything else looks unknown. */
  private async memberConversation(actor: Actor, conversationId: string): Promise<ConversationAccess> {
    try {
      return assertMember(actor, await this.access.get(conversationId));
    } catch {
      throw new DomainError('not_found', 'No such conversation.');
    }
  }

  /** The upload if the caller's device made it; anyone else's is unknown to them. @throws DomainError `not_found` */
  private async ownUpload(actor: Actor, uploadId: string): Promise<Upload> {
    const upload = await this.uploads.find(uploadId);
    if (!upload || upload.uploaderDeviceId !== actor.deviceId || upload.practiceId !== actor.practiceId) throw notFound();
    return upload;
  }

  /** The practice's rule for patients' uploads: always, only while a request is open, or never. @throws DomainError `forbidden` */
  private async assertPatientMayUpload(settings: AttachmentSettings, conversationId: string): Promise<void> {
    if (settings.patientUploads === 'never') {
      throw new DomainError('forbidden', 'The practice does not accept attachments from patients.', { reason: 'not_accepted' });
    }
    if (settings.patientUploads === 'when-asked' && !(await this.uploads.hasOpenRequest(conversationId))) {
      throw new DomainError('forbidden', 'The practice accepts attachments only when your clinician asks for one.', { reason: 'not_requested' });
    }
  }
}

function tooLarge(limit: 'file' | 'conversation' | 'daily', maxBytes: number): DomainError {
  const what = { file: 'This file is', conversation: 'The attachments of this conversation are', daily: "Today's attachments are" }[limit];
  return new DomainError('too_large', `${what} over the practice's limit of ${Math.floor(maxBytes / 1_048_576)} MB.`, { limit, maxBytes });
}

function toStatus(upload: Upload, receivedChunks: number[]): UploadStatus {
  return {
    uploadId: upload.id,
    conversationId: upload.conversationId,
    contentType: upload.contentType,
    cipherBytes: upload.cipherBytes,
    chunkCount: upload.chunkCount,
    receivedChunks,
    isComplete: upload.completedAt !== null,
    isReferenced: upload.isReferenced,
  };
}
