import { Injectable } from '@nestjs/common';
import type { CurrentEpochState, Envelope, MemberDevice, PatientLimitDetails, ReceiptUpdated, Role, StoredEnvelope } from '@parley/protocol';
import { DataSource } from 'typeorm';
import { CONVERSATION_COLUMNS, toConversationRow, type ConversationColumnsRow, type ConversationRow } from '../common/conversation-row.js';
import { toCertifiedAs } from '../common/device-row.js';
import { begin, isUuid, one, prepared, rows, transaction, type Db } from '../database/sql.js';
import { genesisHash } from '../record/record-hash.js';
import type { OpenInput } from './opening.repository.js';

/** A `conversation_envelopes` row as `envelopesFor` selects it. */
interface EnvelopeRow {
  epoch: number;
  recipient_kind: 'device' | 'account' | 'record';
  recipient_device_id: string | null;
  recipient_user_id: string | null;
  recipient_record_version: number | null;
  recipient_key_id: Buffer;
  sealed_key: Buffer;
  signature: Buffer;
  creator_device_id: string;
}

const toStoredEnvelope = (row: EnvelopeRow): StoredEnvelope => ({
  epoch: row.epoch,
  recipient:
    row.recipient_kind === 'device'
      ? { kind: 'device', deviceId: row.recipient_device_id! }
      : row.recipient_kind === 'account'
        ? { kind: 'account', userId: row.recipient_user_id! }
        : { kind: 'record', version: row.recipient_record_version! },
  recipientKeyId: row.recipient_key_id.toString('base64'),
  sealedKey: row.sealed_key.toString('base64'),
  signature: row.signature.toString('base64'),
  creatorDeviceId: row.creator_device_id,
});

/** A device of a conversation's member, with its user's roles and name, as `memberDevices` selects it. */
interface MemberDeviceRow {
  id: string;
  user_id: string;
  roles: Role[];
  display_name: string;
  sign_public_key: Buffer;
  box_public_key: Buffer;
  certificate: Buffer | null;
  certified_display_name: string | null;
  certified_roles: string[] | null;
  revoked_at: Date | null;
}

const toMemberDevice = (row: MemberDeviceRow): MemberDevice => ({
  id: row.id,
  userId: row.user_id,
  role: row.roles.includes('patient') ? 'patient' : row.roles.includes('clinician') ? 'clinician' : 'manager',
  displayName: row.display_name,
  signPublicKey: row.sign_public_key.toString('base64'),
  boxPublicKey: row.box_public_key.toString('base64'),
  certificate: row.certificate ? row.certificate.toString('base64') : null,
  certifiedAs: toCertifiedAs(row.certified_display_name, row.certified_roles),
  revokedAt: row.revoked_at ? row.revoked_at.toISOString() : null,
});

/** A `receipts` row (`up_to_seq` is a bigint). */
interface ReceiptRow {
  conversation_id: string;
  user_id: string;
  device_id: string;
  kind: 'delivered' | 'read';
  up_to_seq: string;
}

const toReceipt = (row: ReceiptRow): ReceiptUpdated => ({
  conversationId: row.conversation_id,
  userId: row.user_id,
  deviceId: row.device_id,
  kind: row.kind,
  upToSeq: Number(row.up_to_seq),
});

/** A conversation by its id (`findById`, and inside a transaction), prepared: read on many paths (sql.ts, `Prepared`). */
const FIND_BY_ID = prepared(
  'conversations.find-by-id',
  `SELECT ${CONVERSATION_COLUMNS} FROM conversations c JOIN practices p ON p.id = c.practice_id WHERE c.id = $1`,
);

/** Every query of the conversations feature. */
@Injectable()
export class ConversationsRepository {
  constructor(private readonly dataSource: DataSource) {}

  async findById(id: string): Promise<ConversationRow | undefined> {
    const row = await one<ConversationColumnsRow>(this.dataSource, FIND_BY_ID, [id]);
    return row ? toConversationRow(row) : undefined;
  }

  /** A patient's conversations, or (staff) the practice's, newest first. */
  async listFor(filter: { patientId: string } | { practiceId: string }, limit: number): Promise<ConversationRow[]> {
    const [column, value] = 'patientId' in filter ? ['patient_id', filter.patientId] : ['practice_id', filter.practiceId];
    const found = await rows<ConversationColumnsRow>(
      this.dataSource,
      `SELECT ${CONVERSATION_COLUMNS} FROM conversations c JOIN practices p ON p.id = c.practice_id
        WHERE c.${column} = $1 ORDER BY c.created_at DESC LIMIT $2`,
      [value, limit],
    );
    return found.map(toConversationRow);
  }

  /**
   * Inserts a conversation (an empty chain) and its first epoch's envelopes, in one transaction, unless the id is taken
   * (`taken`: nothing stored), an envelope goes to a device that is not one of the patient's active ones (`devicesAllowed`
   * throws; nothing stored) or the patient is at a per-patient limit (returned, nothing stored). The patient's row is
   * locked first, in the same round trip as BEGIN, so concurrent opens of one patient count one after another and no two
   * can both pass a limit (FOR NO KEY UPDATE leaves foreign-key checks on the row, which other writes make, unblocked); the
   * counts are a statement of their own, after the lock, so they see what the transaction it waited for committed.
   * `inTransaction` writes what must commit with the conversation (its audit row). Returns the row as stored and how many
   * of the practice's conversations were waiting before it. Five round trips on one connection.
   */
  async create(
    input: OpenInput & { inTransaction?: (db: Db) => Promise<void> },
  ): Promise<{ taken: true } | { refusal: PatientLimitDetails } | { conversation: ConversationRow; waitingBefore: number }> {
    // The lock goes with BEGIN, as a literal: the id is the session's user id, checked to be a UUID here all the same.
    if (!isUuid(input.patientId)) throw new Error('create: the patient id is not a UUID');
    const { transaction } = await begin(this.dataSource, `SELECT 1 FROM users WHERE id = '${input.patientId}' FOR NO KEY UPDATE`);
    try {
      const e = input.envelopes;
      const state = await one<{ is_taken: boolean; open: number; today: number; waiting: number; active_devices: string[] }>(
        transaction.db,
        `SELECT EXISTS (SELECT 1 FROM conversations WHERE id = $3) AS is_taken,
                count(*) FILTER (WHERE status <> 'closed')::int AS open, count(*) FILTER (WHERE created_at >= $2)::int AS today,
                (SELECT count(*) FROM conversations WHERE practice_id = $4 AND status = 'waiting')::int AS waiting,
                (SELECT coalesce(array_agg(id::text), '{}') FROM devices WHERE user_id = $1 AND id = ANY($5::uuid[]) AND revoked_at IS NULL) AS active_devices
           FROM conversations WHERE patient_id = $1`,
        [input.patientId, input.limits.dayStart, input.id, input.practiceId, e.flatMap((x) => (x.recipient.kind === 'device' ? [x.recipient.deviceId] : []))],
      );
      if (state!.is_taken) {
        await transaction.rollback();
        return { taken: true };
      }
      input.devicesAllowed(new Set(state!.active_devices));
      const { maxOpenPerPatient, maxNewPerPatientPerDay } = input.limits;
      const refusal: PatientLimitDetails | null =
        maxOpenPerPatient !== null && state!.open >= maxOpenPerPatient
          ? { limit: 'open', max: maxOpenPerPatient }
          : maxNewPerPatientPerDay !== null && state!.today >= maxNewPerPatientPerDay
            ? { limit: 'daily', max: maxNewPerPatientPerDay }
            : null;
      if (refusal) {
        await transaction.rollback();
        return { refusal };
      }
      // One statement: the conversation, its envelopes (their foreign key is checked at the statement's end) and the row as stored.
      const stored = await one<ConversationColumnsRow>(
        transaction.db,
        `WITH c AS (
           INSERT INTO conversations (id, practice_id, patient_id, topic, created_by_device_id, last_hash) VALUES ($1, $10, $11, $12, $8, $13) RETURNING *
         ), envelopes AS (
           INSERT INTO conversation_envelopes (conversation_id, epoch, recipient_kind, recipient_device_id, recipient_user_id,
             recipient_record_version, recipient_key_id, sealed_key, signature, creator_device_id)
           SELECT $1, 1, * , $8 FROM unnest($2::text[], $3::uuid[], $4::uuid[], $5::int[], $6::bytea[], $7::bytea[], $9::bytea[])
             AS v(kind, device_id, user_id, version, key_id, sealed_key, signature)
         )
         SELECT ${CONVERSATION_COLUMNS} FROM c JOIN practices p ON p.id = c.practice_id`,
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
          input.practiceId,
          input.patientId,
          input.topic,
          genesisHash(input.id),
        ],
      );
      await input.inTransaction?.(transaction.db);
      await transaction.commit();
      return { conversation: toConversationRow(stored!), waitingBefore: state!.waiting };
    } catch (error) {
      await transaction.rollback();
      throw error;
    }
  }

  /**
   * Starts epoch `input.epoch` in one transaction: locks the conversation's row (the record writer takes the same lock
   * before it checks a message's epoch, so no message of the old epoch is stored after the COMMIT), refuses a closed
   * conversation or an epoch that is not the current one + 1, checks the devices named are the patient's active ones
   * (`devicesAllowed` throws to refuse), inserts the envelopes and moves `current_epoch`. `inTransaction` writes what
   * must commit with it (the audit row). A retry of the same start (the same creator device and envelopes, its ack
   * lost) is answered `repeated` with the row, nothing written again.
   */
  async startEpoch(input: {
    conversationId: string;
    epoch: number;
    creatorDeviceId: string;
    envelopes: readonly Envelope[];
    devicesAllowed: (activeDeviceIds: ReadonlySet<string>) => void;
    inTransaction?: (db: Db) => Promise<void>;
  }): Promise<
    | { status: 'started' | 'repeated'; conversation: ConversationRow }
    | { status: 'not_found' }
    | { status: 'closed' }
    | { status: 'not_next'; currentEpoch: number }
  > {
    return transaction(this.dataSource, async (db) => {
      const locked = await one<{ status: string; current_epoch: number; patient_id: string }>(
        db,
        `SELECT status, current_epoch, patient_id FROM conversations WHERE id = $1 FOR NO KEY UPDATE`,
        [input.conversationId],
      );
      if (!locked) return { status: 'not_found' as const };
      if (locked.current_epoch === input.epoch && (await this.isSameStart(db, input))) {
        return { status: 'repeated' as const, conversation: (await this.rowIn(db, input.conversationId))! };
      }
      if (locked.status === 'closed') return { status: 'closed' as const };
      if (input.epoch !== locked.current_epoch + 1) return { status: 'not_next' as const, currentEpoch: locked.current_epoch };
      const e = input.envelopes;
      const active = await rows<{ id: string }>(db, `SELECT id FROM devices WHERE user_id = $1 AND id = ANY($2::uuid[]) AND revoked_at IS NULL`, [
        locked.patient_id,
        e.flatMap((x) => (x.recipient.kind === 'device' ? [x.recipient.deviceId] : [])),
      ]);
      input.devicesAllowed(new Set(active.map((row) => row.id)));
      await rows(
        db,
        `WITH envelopes AS (
           INSERT INTO conversation_envelopes (conversation_id, epoch, recipient_kind, recipient_device_id, recipient_user_id,
             recipient_record_version, recipient_key_id, sealed_key, signature, creator_device_id)
           SELECT $1, $2, *, $3 FROM unnest($4::text[], $5::uuid[], $6::uuid[], $7::int[], $8::bytea[], $9::bytea[], $10::bytea[])
             AS v(kind, device_id, user_id, version, key_id, sealed_key, signature)
         )
         UPDATE conversations SET current_epoch = $2 WHERE id = $1`,
        [
          input.conversationId,
          input.epoch,
          input.creatorDeviceId,
          e.map((x) => x.recipient.kind),
          e.map((x) => (x.recipient.kind === 'device' ? x.recipient.deviceId : null)),
          e.map((x) => (x.recipient.kind === 'account' ? x.recipient.userId : null)),
          e.map((x) => (x.recipient.kind === 'record' ? x.recipient.version : null)),
          e.map((x) => Buffer.from(x.recipientKeyId, 'base64')),
          e.map((x) => Buffer.from(x.sealedKey, 'base64')),
          e.map((x) => Buffer.from(x.signature, 'base64')),
        ],
      );
      await input.inTransaction?.(db);
      return { status: 'started' as const, conversation: (await this.rowIn(db, input.conversationId))! };
    });
  }

  /** Whether the stored envelopes of the epoch are exactly these, from this creator device (a retried start). */
  private async isSameStart(db: Db, input: { conversationId: string; epoch: number; creatorDeviceId: string; envelopes: readonly Envelope[] }) {
    const stored = await rows<{ recipient_key_id: Buffer; sealed_key: Buffer; creator_device_id: string }>(
      db,
      `SELECT recipient_key_id, sealed_key, creator_device_id FROM conversation_envelopes WHERE conversation_id = $1 AND epoch = $2`,
      [input.conversationId, input.epoch],
    );
    const sent = new Set(input.envelopes.map((x) => `${x.recipientKeyId}/${x.sealedKey}`));
    return (
      stored.length === sent.size &&
      stored.every(
        (row) => row.creator_device_id === input.creatorDeviceId && sent.has(`${row.recipient_key_id.toString('base64')}/${row.sealed_key.toString('base64')}`),
      )
    );
  }

  private async rowIn(db: Db, id: string): Promise<ConversationRow | undefined> {
    const row = await one<ConversationColumnsRow>(db, FIND_BY_ID, [id]);
    return row ? toConversationRow(row) : undefined;
  }

  /** Conversations of a practice that are not closed. */
  async openIds(practiceId: string): Promise<string[]> {
    const open = await rows<{ id: string }>(this.dataSource, `SELECT id FROM conversations WHERE practice_id = $1 AND status <> 'closed'`, [practiceId]);
    return open.map((row) => row.id);
  }

  /** Ids of those of `deviceIds` that are active devices of `userId`. */
  async activeDevicesOf(userId: string, deviceIds: readonly string[]): Promise<Set<string>> {
    const active = await rows<{ id: string }>(this.dataSource, `SELECT id FROM devices WHERE user_id = $1 AND id = ANY($2::uuid[]) AND revoked_at IS NULL`, [
      userId,
      deviceIds,
    ]);
    return new Set(active.map((row) => row.id));
  }

  /** The practice's record key versions. */
  async recordKeyVersions(practiceId: string): Promise<Set<number>> {
    const keys = await rows<{ version: number }>(this.dataSource, `SELECT version FROM record_keys WHERE practice_id = $1`, [practiceId]);
    return new Set(keys.map((row) => row.version));
  }

  /** The envelopes a caller can open: sealed to its device, to its account key, or (staff) to a record key. */
  async envelopesFor(conversationId: string, caller: { deviceId: string; userId: string; isStaff: boolean }): Promise<StoredEnvelope[]> {
    const envelopes = await rows<EnvelopeRow>(
      this.dataSource,
      `SELECT epoch, recipient_kind, recipient_device_id, recipient_user_id, recipient_record_version, recipient_key_id, sealed_key, signature, creator_device_id
         FROM conversation_envelopes
        WHERE conversation_id = $1
          AND (recipient_device_id = $2 OR recipient_user_id = $3 OR ($4 AND recipient_kind = 'record'))
        ORDER BY epoch, recipient_kind`,
      [conversationId, caller.deviceId, caller.userId, caller.isStaff],
    );
    return envelopes.map(toStoredEnvelope);
  }

  /** The epoch's start and the recipients of its envelopes (key ids only), or undefined when it has none. */
  async epochState(conversationId: string, epoch: number): Promise<CurrentEpochState | undefined> {
    const found = await rows<Omit<EnvelopeRow, 'sealed_key' | 'signature' | 'creator_device_id' | 'epoch'> & { created_at: Date }>(
      this.dataSource,
      `SELECT recipient_kind, recipient_device_id, recipient_user_id, recipient_record_version, recipient_key_id, created_at
         FROM conversation_envelopes WHERE conversation_id = $1 AND epoch = $2 ORDER BY recipient_kind, recipient_key_id`,
      [conversationId, epoch],
    );
    if (found.length === 0) return undefined;
    const startedAt = found.reduce((first, row) => (row.created_at < first ? row.created_at : first), found[0]!.created_at);
    return {
      epoch,
      startedAt: startedAt.toISOString(),
      recipients: found.map((row) => {
        const { recipient, recipientKeyId } = toStoredEnvelope({
          ...row,
          epoch,
          sealed_key: Buffer.alloc(0),
          signature: Buffer.alloc(0),
          creator_device_id: '',
        });
        return { recipient, recipientKeyId };
      }),
    };
  }

  /**
   * Devices a member needs to verify the conversation's messages and envelopes: those of the
   * patient, of everyone who has written in it or created an envelope, and of the caller (revoked ones too).
   */
  async memberDevices(conversationId: string, callerUserId: string): Promise<MemberDevice[]> {
    const devices = await rows<MemberDeviceRow>(
      this.dataSource,
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
    return devices.map(toMemberDevice);
  }

  /** Raises a device's cumulative receipt (never lowers it); returns the receipt now stored. */
  async raiseReceipt(input: { conversationId: string; deviceId: string; userId: string; kind: 'delivered' | 'read'; upToSeq: number }): Promise<number> {
    const stored = await one<{ up_to_seq: string }>(
      this.dataSource,
      `INSERT INTO receipts (conversation_id, device_id, user_id, kind, up_to_seq) VALUES ($1, $2, $3, $4, $5)
       ON CONFLICT (conversation_id, device_id, kind)
       DO UPDATE SET up_to_seq = GREATEST(receipts.up_to_seq, EXCLUDED.up_to_seq), updated_at = now()
       RETURNING up_to_seq`,
      [input.conversationId, input.deviceId, input.userId, input.kind, input.upToSeq],
    );
    return Number(stored!.up_to_seq);
  }

  async receipts(conversationId: string): Promise<ReceiptUpdated[]> {
    const receipts = await rows<ReceiptRow>(
      this.dataSource,
      `SELECT conversation_id, user_id, device_id, kind, up_to_seq FROM receipts WHERE conversation_id = $1 ORDER BY device_id, kind`,
      [conversationId],
    );
    return receipts.map(toReceipt);
  }
}
