import { Injectable } from '@nestjs/common';
import type { AttachmentType } from '@parley/protocol';
import { DataSource } from 'typeorm';
import { one, rows, run, transaction } from '../database/sql.js';

/** An upload as stored (its parts are the store's). */
export interface Upload {
  id: string;
  practiceId: string;
  conversationId: string;
  uploaderUserId: string;
  uploaderDeviceId: string;
  contentType: AttachmentType;
  cipherBytes: number;
  chunkCount: number;
  createdAt: Date;
  completedAt: Date | null;
  clientMessageId: string | null;
  /** A stored message claims it: its parts are part of the record now. */
  isReferenced: boolean;
}

interface UploadRow {
  id: string;
  practice_id: string;
  conversation_id: string;
  uploader_user_id: string;
  uploader_device_id: string;
  content_type: AttachmentType;
  cipher_bytes: string;
  chunk_count: number;
  created_at: Date;
  completed_at: Date | null;
  client_message_id: string | null;
  is_referenced: boolean;
}

const UPLOAD_COLUMNS = `id, practice_id, conversation_id, uploader_user_id, uploader_device_id, content_type, cipher_bytes, chunk_count,
  created_at, completed_at, client_message_id, attachment_is_referenced(id) AS is_referenced`;

const toUpload = (row: UploadRow): Upload => ({
  id: row.id,
  practiceId: row.practice_id,
  conversationId: row.conversation_id,
  uploaderUserId: row.uploader_user_id,
  uploaderDeviceId: row.uploader_device_id,
  contentType: row.content_type,
  cipherBytes: Number(row.cipher_bytes),
  chunkCount: row.chunk_count,
  createdAt: row.created_at,
  completedAt: row.completed_at,
  clientMessageId: row.client_message_id,
  isReferenced: row.is_referenced,
});

/** A new upload: who, where, what it declares. */
export type NewUpload = Omit<Upload, 'completedAt' | 'clientMessageId' | 'isReferenced'>;

/** The ciphertext caps a new upload must stay within (null: not counted, e.g. staff have no daily cap). */
export interface UploadCaps {
  conversationCipherBytes: number;
  dailyCipherBytes: number | null;
}

/** What a claim found for each id asked for: whether it is the caller's, complete, and which message claims it. */
export interface ClaimCheck {
  id: string;
  isOwn: boolean;
  isComplete: boolean;
  claimedBy: string | null;
}

const DAY_MS = 86_400_000;

/** Every query of attachment uploads (their metadata; the parts are `AttachmentStore`'s). */
@Injectable()
export class AttachmentsRepository {
  constructor(private readonly dataSource: DataSource) {}

  async find(uploadId: string): Promise<Upload | undefined> {
    const row = await one<UploadRow>(this.dataSource, `SELECT ${UPLOAD_COLUMNS} FROM attachment_uploads WHERE id = $1`, [uploadId]);
    return row && toUpload(row);
  }

  /**
   * Inserts the upload unless it would take its conversation, or its uploader's last 24 hours, past a cap; the sums
   * count every upload not yet removed, complete or not. Serialised per conversation and per uploader (advisory
   * locks, taken in that order) so parallel creates cannot all pass under a cap.
   */
  createWithinCaps(upload: NewUpload, caps: UploadCaps): Promise<'created' | 'conversation' | 'daily'> {
    return transaction(this.dataSource, async (db) => {
      await run(db, `SELECT pg_advisory_xact_lock(hashtextextended('attachments:conversation:' || $1, 0))`, [upload.conversationId]);
      await run(db, `SELECT pg_advisory_xact_lock(hashtextextended('attachments:uploader:' || $1, 0))`, [upload.uploaderUserId]);
      const sums = await one<{ conversation_bytes: string; daily_bytes: string }>(
        db,
        `SELECT coalesce(sum(cipher_bytes) FILTER (WHERE conversation_id = $1), 0) AS conversation_bytes,
                coalesce(sum(cipher_bytes) FILTER (WHERE uploader_user_id = $2 AND created_at > $3), 0) AS daily_bytes
           FROM attachment_uploads WHERE conversation_id = $1 OR uploader_user_id = $2`,
        [upload.conversationId, upload.uploaderUserId, new Date(upload.createdAt.getTime() - DAY_MS)],
      );
      if (Number(sums?.conversation_bytes ?? 0) + upload.cipherBytes > caps.conversationCipherBytes) return 'conversation';
      if (caps.dailyCipherBytes !== null && Number(sums?.daily_bytes ?? 0) + upload.cipherBytes > caps.dailyCipherBytes) return 'daily';
      await run(
        db,
        `INSERT INTO attachment_uploads (id, practice_id, conversation_id, uploader_user_id, uploader_device_id, content_type, cipher_bytes, chunk_count, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
        [
          upload.id,
          upload.practiceId,
          upload.conversationId,
          upload.uploaderUserId,
          upload.uploaderDeviceId,
          upload.contentType,
          upload.cipherBytes,
          upload.chunkCount,
          upload.createdAt,
        ],
      );
      return 'created';
    });
  }

  /** Marks the upload complete (once; a second call keeps the first time). */
  async markComplete(uploadId: string, completedAt: Date): Promise<void> {
    await run(this.dataSource, `UPDATE attachment_uploads SET completed_at = $2 WHERE id = $1 AND completed_at IS NULL`, [uploadId, completedAt]);
  }

  /** Removes an upload nobody claimed (its parts go with it); false when it is claimed, or gone. */
  async removeUnclaimed(uploadId: string): Promise<boolean> {
    const removed = await rows<{ id: string }>(this.dataSource, `DELETE FROM attachment_uploads WHERE id = $1 AND client_message_id IS NULL RETURNING id`, [
      uploadId,
    ]);
    return removed.length > 0;
  }

  /**
   * Claims the uploads for one message, all or none, in one statement: each must be a complete upload of the
   * conversation by the device, unclaimed or claimed by this same message already. Returns what it found of each id
   * (before the claim); ids it did not find are absent. (PostgreSQL runs the `claimed` UPDATE whether or not it is read.)
   */
  async claim(ids: readonly string[], claim: { conversationId: string; deviceId: string; clientMessageId: string; claimedAt: Date }): Promise<ClaimCheck[]> {
    const found = await rows<{ id: string; is_own: boolean; is_complete: boolean; claimed_by: string | null }>(
      this.dataSource,
      `WITH wanted AS (
         SELECT id, conversation_id, uploader_device_id, completed_at, client_message_id FROM attachment_uploads WHERE id = ANY($1::uuid[]) FOR UPDATE
       ), verdict AS (
         SELECT count(*) FILTER (WHERE conversation_id = $2 AND uploader_device_id = $3 AND completed_at IS NOT NULL
                                   AND (client_message_id IS NULL OR client_message_id = $4)) = cardinality($1::uuid[]) AS is_claimable
           FROM wanted
       ), claimed AS (
         UPDATE attachment_uploads u SET client_message_id = $4, claimed_at = $5
           FROM verdict WHERE verdict.is_claimable AND u.id = ANY($1::uuid[]) AND u.client_message_id IS NULL
         RETURNING u.id
       )
       SELECT w.id, (w.conversation_id = $2 AND w.uploader_device_id = $3) AS is_own, w.completed_at IS NOT NULL AS is_complete,
              w.client_message_id AS claimed_by
         FROM wanted w`,
      [ids, claim.conversationId, claim.deviceId, claim.clientMessageId, claim.claimedAt],
    );
    return found.map((row) => ({ id: row.id, isOwn: row.is_own, isComplete: row.is_complete, claimedBy: row.claimed_by }));
  }

  /**
   * Whether the conversation has an open request for an attachment: an `attachment.requested` entry with no patient
   * attachment message after it (docs/protocol.md, "Attachments").
   */
  async hasOpenRequest(conversationId: string): Promise<boolean> {
    const row = await one<{ is_open: boolean }>(
      this.dataSource,
      `SELECT EXISTS (
         SELECT 1 FROM record_entries r
          WHERE r.conversation_id = $1 AND r.kind = 'system' AND r.system_event = 'attachment.requested'
            AND NOT EXISTS (SELECT 1 FROM record_entries m
                             WHERE m.conversation_id = $1 AND m.seq > r.seq AND m.kind = 'message' AND m.sender_role = 'patient' AND m.content_type = 'attachment')
       ) AS is_open`,
      [conversationId],
    );
    return row?.is_open ?? false;
  }

  /**
   * Removes up to `limit` uploads created before `before` that no stored message claims (a claim made before
   * `before` whose message never came counts as none). Rows another node is removing are skipped, so several nodes
   * may sweep at once. Returns the ids removed (their parts went with them in PostgreSQL; other stores remove theirs).
   */
  async removeUnreferenced(before: Date, limit: number): Promise<string[]> {
    const removed = await rows<{ id: string }>(
      this.dataSource,
      `DELETE FROM attachment_uploads WHERE id IN (
         SELECT id FROM attachment_uploads
          WHERE created_at < $1 AND (claimed_at IS NULL OR claimed_at < $1) AND NOT attachment_is_referenced(id)
          ORDER BY created_at LIMIT $2 FOR UPDATE SKIP LOCKED)
       RETURNING id`,
      [before, limit],
    );
    return removed.map((row) => row.id);
  }
}
