import { Injectable } from '@nestjs/common';
import type { Envelope, MemberDevice, PatientLimitDetails, ReceiptUpdated, Role, StoredEnvelope } from '@parley/protocol';
import { DataSource } from 'typeorm';
import { CONVERSATION_COLUMNS, toConversationRow, type ConversationRow } from '../common/conversation-row.js';
import { toCertifiedAs } from '../common/device-row.js';
import { genesisHash } from '../record/record-hash.js';


/** Every query of the conversations feature. */
@Injectable()
export class ConversationsRepository {
  constructor(private readonly dataSource: DataSource) {}

  async findById(id: string): Promise<ConversationRow | undefined> {
    const rows = await this.dataSource.query(
      `SELECT ${CONVERSATION_COLUMNS} FROM conversations c JOIN practices p ON p.id = c.practice_id WHERE c.id = $1`,
      [id],
    );
    return rows[0] ? toConversationRow(rows[0]) : undefined;
  }

  /** A patient's conversations, or (staff) the practice's, newest first. */
  async listFor(filter: { patientId: string } | { practiceId: string }, limit: number): Promise<ConversationRow[]> {
    const [column, value] = 'patientId' in filter ? ['patient_id', filter.patientId] : ['practice_id', filter.practiceId];
    const rows = await this.dataSource.query(
      `SELECT ${CONVERSATION_COLUMNS} FROM conversations c JOIN practices p ON p.id = c.practice_id
        WHERE c.${column} = $1 ORDER BY c.created_at DESC LIMIT $2`,
      [value, limit],
    );
    return rows.map(toConversationRow);
  }

  /**
   * Inserts a conversation (an empty chain) and its first epoch's envelopes, in one transaction, unless the patient
   * is at a per-patient limit (returned, nothing stored). The patient's row is locked first, so concurrent opens of one
   * patient count one after another and no two can both pass a limit (FOR NO KEY UPDATE leaves foreign-key checks on
   * the row, which other writes make, unblocked).
   */
  async create(input: {
    id: string;
    practiceId: string;
    patientId: string;
    topic: string;
    creatorDeviceId: string;
    envelopes: readonly Envelope[];
    /** Null: no limit. `dayStart` begins the practice's local day, for the daily limit. */
    limits: { maxOpenPerPatient: number | null; maxNewPerPatientPerDay: number | null; dayStart: Date };
  }): Promise<PatientLimitDetails | null> {
    return this.dataSource.transaction(async (db) => {
      await db.query(`SELECT 1 FROM users WHERE id = $1 FOR NO KEY UPDATE`, [input.patientId]);
      const [counts]: { open: number; today: number }[] = await db.query(
        `SELECT count(*) FILTER (WHERE status <> 'closed')::int AS open, count(*) FILTER (WHERE created_at >= $2)::int AS today
           FROM conversations WHERE patient_id = $1`,
        [input.patientId, input.limits.dayStart],
      );
      const { maxOpenPerPatient, maxNewPerPatientPerDay } = input.limits;
      if (maxOpenPerPatient !== null && counts!.open >= maxOpenPerPatient) return { limit: 'open', max: maxOpenPerPatient };
      if (maxNewPerPatientPerDay !== null && counts!.today >= maxNewPerPatientPerDay) return { limit: 'daily', max: maxNewPerPatientPerDay };
      await db.query(
        `INSERT INTO conversations (id, practice_id, patient_id, topic, created_by_device_id, last_hash) VALUES ($1, $2, $3, $4, $5, $6)`,
        [input.id, input.practiceId, input.patientId, input.topic, input.creatorDeviceId, genesisHash(input.id)],
      );
      const e = input.envelopes;
      await db.query(
        `INSERT INTO conversation_envelopes (conversation_id, epoch, recipient_kind, recipient_device_id, recipient_user_id,
           recipient_record_version, recipient_key_id, sealed_key, signature, creator_device_id)
         SELECT $1, 1, * , $8 FROM unnest($2::text[], $3::uuid[], $4::uuid[], $5::int[], $6::bytea[], $7::bytea[], $9::bytea[])
           AS v(kind, device_id, user_id, version, key_id, sealed_key, signature)`,
        [
          input.id,
          e.map((x) => x.recipient.kind),
          e.map((x) => (x.recipient.kind === 'device' ? x.recipient.deviceId : null)),
          e.map((x) => (x.recipient.kind === 'account' ? x.recipient.userId : null)),
          e.map((x) => (x.recipient.kind === 'record' ? x.recipient.version : null)),
          e.map((x) => Buffer.from(x.recipientKeyId, 'base64')),
          e.map((x) => Buffer.from(x.sealedKey, 'base64')),
          input.creatorDeviceId,
          e.map((x) => Buffer.from(x.signature, 'base64')),
        ],
      );
      return null;
    });
  }

  /** Conversations of a practice that are not closed. */
  async openIds(practiceId: string): Promise<string[]> {
    const rows: { id: string }[] = await this.dataSource.query(`SELECT id FROM conversations WHERE practice_id = $1 AND status <> 'closed'`, [practiceId]);
    return rows.map((row) => row.id);
  }

  /** Ids of those of `deviceIds` that are active devices of `userId`. */
  async activeDevicesOf(userId: string, deviceIds: readonly string[]): Promise<Set<string>> {
    const rows: { id: string }[] = await this.dataSource.query(
      `SELECT id FROM devices WHERE user_id = $1 AND id = ANY($2::uuid[]) AND revoked_at IS NULL`,
      [userId, deviceIds],
    );
    return new Set(rows.map((row) => row.id));
  }

  /** The practice's record key versions. */
  async recordKeyVersions(practiceId: string): Promise<Set<number>> {
    const rows: { version: number }[] = await this.dataSource.query(`SELECT version FROM record_keys WHERE practice_id = $1`, [practiceId]);
    return new Set(rows.map((row) => row.version));
  }

  /** The envelopes a caller can open: sealed to its device, to its account key, or (staff) to a record key. */
  async envelopesFor(conversationId: string, caller: { deviceId: string; userId: string; isStaff: boolean }): Promise<StoredEnvelope[]> {
    const rows: Record<string, unknown>[] = await this.dataSource.query(
      `SELECT epoch, recipient_kind, recipient_device_id, recipient_user_id, recipient_record_version, recipient_key_id, sealed_key, signature, creator_device_id
         FROM conversation_envelopes
        WHERE conversation_id = $1
          AND (recipient_device_id = $2 OR recipient_user_id = $3 OR ($4 AND recipient_kind = 'record'))
        ORDER BY epoch, recipient_kind`,
      [conversationId, caller.deviceId, caller.userId, caller.isStaff],
    );
    return rows.map((row) => ({
      epoch: row['epoch'] as number,
      recipient:
        row['recipient_kind'] === 'device'
          ? { kind: 'device' as const, deviceId: row['recipient_device_id'] as string }
          : row['recipient_kind'] === 'account'
            ? { kind: 'account' as const, userId: row['recipient_user_id'] as string }
            : { kind: 'record' as const, version: row['recipient_record_version'] as number },
      recipientKeyId: (row['recipient_key_id'] as Buffer).toString('base64'),
      sealedKey: (row['sealed_key'] as Buffer).toString('base64'),
      signature: (row['signature'] as Buffer).toString('base64'),
      creatorDeviceId: row['creator_device_id'] as string,
    }));
  }

  /**
   * Devices a member needs to verify the conversation's messages and envelopes: those of the
   * patient, of everyone who has written in it or created an envelope, and of the caller (revoked ones too).
   */
  async memberDevices(conversationId: string, callerUserId: string): Promise<MemberDevice[]> {
    const rows: Record<string, unknown>[] = await this.dataSource.query(
      `WITH members AS (
         SELECT patient_id AS user_id FROM conversations WHERE id = $1
         UNION SELECT DISTINCT sender_user_id FROM record_entries WHERE conversation_id = $1 AND kind = 'message'
         UNION SELECT d.user_id FROM conversation_envelopes e JOIN devices d ON d.id = e.creator_device_id WHERE e.conversation_id = $1
         UNION SELECT assigned_clinician_id FROM conversations WHERE id = $1 AND assigned_clinician_id IS NOT NULL
         UNION SELECT $2::uuid)
       SELECT d.id, d.user_id, u.roles, u.display_name, d.sign_public_key, d.box_public_key, d.certificate, d.certified_display_name, d.certified_roles, d.revoked_at
         FROM devices d JOIN users u ON u.id = d.user_id
        WHERE d.user_id IN (SELECT user_id FROM members)
        ORDER BY d.created_at`,
      [conversationId, callerUserId],
    );
    return rows.map((row) => {
      const roles = row['roles'] as Role[];
      return {
        id: row['id'] as string,
        userId: row['user_id'] as string,
        role: roles.includes('patient') ? 'patient' : roles.includes('clinician') ? 'clinician' : 'manager',
        displayName: row['display_name'] as string,
        signPublicKey: (row['sign_public_key'] as Buffer).toString('base64'),
        boxPublicKey: (row['box_public_key'] as Buffer).toString('base64'),
        certificate: row['certificate'] ? (row['certificate'] as Buffer).toString('base64') : null,
        certifiedAs: toCertifiedAs(row['certified_display_name'], row['certified_roles']),
        revokedAt: row['revoked_at'] ? (row['revoked_at'] as Date).toISOString() : null,
      };
    });
  }

  /** Raises a device's cumulative receipt (never lowers it); returns the receipt now stored. */
  async raiseReceipt(input: { conversationId: string; deviceId: string; userId: string; kind: 'delivered' | 'read'; upToSeq: number }): Promise<number> {
    const rows: { up_to_seq: string }[] = await this.dataSource.query(
      `INSERT INTO receipts (conversation_id, device_id, user_id, kind, up_to_seq) VALUES ($1, $2, $3, $4, $5)
       ON CONFLICT (conversation_id, device_id, kind)
       DO UPDATE SET up_to_seq = GREATEST(receipts.up_to_seq, EXCLUDED.up_to_seq), updated_at = now()
       RETURNING up_to_seq`,
      [input.conversationId, input.deviceId, input.userId, input.kind, input.upToSeq],
    );
    return Number(rows[0]!.up_to_seq);
  }

  async receipts(conversationId: string): Promise<ReceiptUpdated[]> {
    const rows: Record<string, unknown>[] = await this.dataSource.query(
      `SELECT conversation_id, user_id, device_id, kind, up_to_seq FROM receipts WHERE conversation_id = $1 ORDER BY device_id, kind`,
      [conversationId],
    );
    return rows.map((row) => ({
      conversationId: row['conversation_id'] as string,
      userId: row['user_id'] as string,
      deviceId: row['device_id'] as string,
      kind: row['kind'] as 'delivered' | 'read',
      upToSeq: Number(row['up_to_seq']),
    }));
  }
}
