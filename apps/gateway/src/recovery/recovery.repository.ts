import { Injectable } from '@nestjs/common';
import type {
  CertifiedDevice,
  DeviceInfo,
  RecoveryApproval,
  RecoveryChain,
  RecoveryHistory,
  RecoveryState,
  RecoverySummary,
  ResealedEnvelope,
} from '@parley/protocol';
import { randomUUID } from 'node:crypto';
import { DataSource } from 'typeorm';
import { base64OrNull, type StoredKdf } from '../common/account-row.js';
import { toCertifiedAs, toDeviceFields, type DeviceColumnsRow } from '../common/device-row.js';
import { one, rows, run, transaction, type Db } from '../database/sql.js';

/** A recovery as `start` stores it. */
export interface NewRecovery {
  id: string;
  practiceId: string;
  patientId: string;
  lookupId: Buffer;
  recoverySignPublicKey: Buffer;
  recoverySignature: Buffer;
  rootSignature: Buffer;
  creatorDeviceId: string;
  startedBy: string;
  expiresAt: Date;
}

/** What the patient's new device sent, checked and hashed. */
export interface Submission {
  signPublicKey: Buffer;
  boxPublicKey: Buffer;
  accountSignature: Buffer;
  authKeyHash: string;
  kdf: StoredKdf;
  backup: Buffer;
}

/** An open recovery found by its lookup id, for the patient's lookup and submission. */
export interface OpenRecovery {
  id: string;
  practiceId: string;
  patientId: string;
  practice: { id: string; odsCode: string; name: string; rootSignPublicKey: Buffer | null };
  state: RecoveryState;
  recoverySignPublicKey: Buffer;
}

/** The outcome of a date of birth tried against a recovery. */
export type DateOfBirthTry = { outcome: 'matched' | 'mismatched' } | { outcome: 'voided'; isNow: boolean; failedAttempts: number };

/** What a completion changed, for the audit trail. */
export interface Completion {
  approvals: RecoveryApproval[];
  envelopes: number;
  devicesRevoked: number;
  sessionsEnded: number;
  newAccountKeyId: string;
}

/** Why a completion was refused inside its transaction (nothing was changed). */
export type CompletionRefusal = 'not_found' | 'not_submitted' | 'expired' | 'second_approval_needed' | 'bad_envelope';

interface RecoveryRow {
  id: string;
  practice_id: string;
  patient_id: string;
  patient_name: string;
  state: RecoveryState;
  started_by: string;
  started_at: Date;
  expires_at: Date;
  recovery_sign_public_key: Buffer;
  recovery_signature: Buffer;
  root_signature: Buffer;
  creator_device_id: string;
  creator_user_id: string;
  creator_sign_public_key: Buffer;
  creator_box_public_key: Buffer;
  creator_certificate: Buffer | null;
  creator_certified_display_name: string | null;
  creator_certified_roles: string[] | null;
  new_sign_public_key: Buffer | null;
  new_box_public_key: Buffer | null;
  new_account_signature: Buffer | null;
  completed_by: string | null;
  completed_at: Date | null;
  approvals: { user_id: string; device_id: string; approved_at: string }[] | null;
}

const SUMMARY_SELECT = `
  SELECT r.id, r.practice_id, r.patient_id, u.display_name AS patient_name, r.state, r.started_by, r.started_at, r.expires_at,
         r.recovery_sign_public_key, r.recovery_signature, r.root_signature, r.creator_device_id,
         cd.user_id AS creator_user_id, cd.sign_public_key AS creator_sign_public_key, cd.box_public_key AS creator_box_public_key,
         cd.certificate AS creator_certificate, cd.certified_display_name AS creator_certified_display_name, cd.certified_roles AS creator_certified_roles,
         r.new_sign_public_key, r.new_box_public_key, r.new_account_signature, r.completed_by, r.completed_at,
         (SELECT json_agg(json_build_object('user_id', a.user_id, 'device_id', a.device_id, 'approved_at', a.approved_at) ORDER BY a.approved_at)
            FROM recovery_approvals a WHERE a.recovery_id = r.id) AS approvals
    FROM recoveries r JOIN users u ON u.id = r.patient_id JOIN devices cd ON cd.id = r.creator_device_id`;

/** Every query of practice-assisted recovery: starting one, the patient's lookup and submission, approvals, the history to re-seal, and the swap. */
@Injectable()
export class RecoveryRepository {
  constructor(private readonly dataSource: DataSource) {}

  /** Whether a device is an unrevoked staff device a manager admitted (its certificate starts the recovery's chain). */
  async isAdmittedStaffDevice(deviceId: string): Promise<boolean> {
    const found = await rows(
      this.dataSource,
      `SELECT 1 FROM devices WHERE id = $1 AND revoked_at IS NULL AND certificate IS NOT NULL AND certified_roles IS NOT NULL`,
      [deviceId],
    );
    return found.length === 1;
  }

  /** Whether the user is an activated, active patient of the practice with an account key (someone there is to recover). */
  async isRecoverablePatient(practiceId: string, patientId: string): Promise<boolean> {
    const found = await rows(
      this.dataSource,
      `SELECT 1 FROM users u JOIN account_keys k ON k.user_id = u.id AND k.revoked_at IS NULL
        WHERE u.id = $2 AND u.practice_id = $1 AND 'patient' = ANY(u.roles) AND u.activated_at IS NOT NULL AND u.deactivated_at IS NULL`,
      [practiceId, patientId],
    );
    return found.length === 1;
  }

  /** Stores a new recovery after voiding the patient's expired open ones; rejects with a unique violation when one is still open (or the id or lookup id exists). */
  async start(recovery: NewRecovery): Promise<void> {
    await transaction(this.dataSource, async (db) => {
      await run(db, `UPDATE recoveries SET state = 'voided' WHERE patient_id = $1 AND state IN ('started', 'submitted') AND expires_at <= now()`, [
        recovery.patientId,
      ]);
      await run(
        db,
        `INSERT INTO recoveries (id, practice_id, patient_id, lookup_id, recovery_sign_public_key, recovery_signature, root_signature,
                                 creator_device_id, started_by, expires_at, state)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, 'started')`,
        [
          recovery.id,
          recovery.practiceId,
          recovery.patientId,
          recovery.lookupId,
          recovery.recoverySignPublicKey,
          recovery.recoverySignature,
          recovery.rootSignature,
          recovery.creatorDeviceId,
          recovery.startedBy,
          recovery.expiresAt,
        ],
      );
    });
  }

  /**
   * Tries a date of birth against the unexpired recovery waiting for the patient with this lookup id: a wrong one
   * counts, and the one that reaches `maxFailures` voids the recovery. Null when there is no such recovery.
   */
  async tryDateOfBirth(
    odsCode: string,
    lookupId: Buffer,
    dateOfBirth: string,
    maxFailures: number,
  ): Promise<{ recovery: OpenRecovery; tried: DateOfBirthTry } | null> {
    return transaction(this.dataSource, async (db) => {
      const row = await one<{
        id: string;
        practice_id: string;
        patient_id: string;
        state: RecoveryState;
        failed_attempts: number;
        is_match: boolean;
        recovery_sign_public_key: Buffer;
        ods_code: string;
        practice_name: string;
        root_sign_public_key: Buffer | null;
      }>(
        db,
        `SELECT r.id, r.practice_id, r.patient_id, r.state, r.failed_attempts, r.recovery_sign_public_key,
                to_char(u.date_of_birth, 'YYYY-MM-DD') = $3 AS is_match, p.ods_code, p.name AS practice_name, p.root_sign_public_key
           FROM recoveries r JOIN users u ON u.id = r.patient_id JOIN practices p ON p.id = r.practice_id
          WHERE r.lookup_id = $2 AND p.ods_code = $1 AND r.expires_at > now() AND r.state IN ('started', 'submitted', 'voided')
          FOR UPDATE OF r`,
        [odsCode, lookupId, dateOfBirth],
      );
      if (!row) return null;
      const recovery: OpenRecovery = {
        id: row.id,
        practiceId: row.practice_id,
        patientId: row.patient_id,
        practice: { id: row.practice_id, odsCode: row.ods_code, name: row.practice_name, rootSignPublicKey: row.root_sign_public_key },
        state: row.state,
        recoverySignPublicKey: row.recovery_sign_public_key,
      };
      if (row.state === 'voided') return { recovery, tried: { outcome: 'voided', isNow: false, failedAttempts: row.failed_attempts } };
      if (row.is_match) return { recovery, tried: { outcome: 'matched' } };
      const failedAttempts = row.failed_attempts + 1;
      const isVoided = failedAttempts >= maxFailures;
      await run(db, `UPDATE recoveries SET failed_attempts = $2, state = CASE WHEN $3 THEN 'voided' ELSE state END WHERE id = $1`, [
        row.id,
        failedAttempts,
        isVoided,
      ]);
      return { recovery, tried: isVoided ? { outcome: 'voided', isNow: true, failedAttempts } : { outcome: 'mismatched' } };
    });
  }

  /** One recovery as staff see it (of the practice); undefined when there is none. */
  async find(practiceId: string, recoveryId: string): Promise<RecoverySummary | undefined> {
    const row = await one<RecoveryRow>(this.dataSource, `${SUMMARY_SELECT} WHERE r.practice_id = $1 AND r.id = $2`, [practiceId, recoveryId]);
    return row ? toSummary(row) : undefined;
  }

  /** The practice's recoveries, newest first: open ones and those ended in the last 30 days. */
  async list(practiceId: string): Promise<RecoverySummary[]> {
    const found = await rows<RecoveryRow>(
      this.dataSource,
      `${SUMMARY_SELECT} WHERE r.practice_id = $1 AND (r.state IN ('started', 'submitted') OR r.started_at > now() - interval '30 days')
        ORDER BY r.started_at DESC LIMIT 100`,
      [practiceId],
    );
    return found.map(toSummary);
  }

  /** Stores what the patient's new device sent, once; false when the recovery no longer waits for it. */
  async submit(recoveryId: string, submission: Submission): Promise<boolean> {
    const submitted = await rows<{ id: string }>(
      this.dataSource,
      `UPDATE recoveries SET state = 'submitted', submitted_at = now(), new_sign_public_key = $2, new_box_public_key = $3, new_account_signature = $4,
              new_auth_key_hash = $5, new_auth_salt = $6, new_auth_ops = $7, new_auth_mem_bytes = $8, new_backup = $9
        WHERE id = $1 AND state = 'started' AND expires_at > now() RETURNING id`,
      [
        recoveryId,
        submission.signPublicKey,
        submission.boxPublicKey,
        submission.accountSignature,
        submission.authKeyHash,
        submission.kdf.salt,
        submission.kdf.opsLimit,
        submission.kdf.memLimitBytes,
        submission.backup,
      ],
    );
    return submitted.length === 1;
  }

  /**
   * Records one member of staff's approval of a submitted, unexpired recovery, under the recovery's row lock.
   * 'duplicate' when this account approved it already; 'not_open' when it does not wait for approvals.
   */
  async approve(practiceId: string, recoveryId: string, userId: string, deviceId: string): Promise<'approved' | 'duplicate' | 'not_open' | 'not_found'> {
    return transaction(this.dataSource, async (db) => {
      const row = await one<{ state: RecoveryState; is_expired: boolean }>(
        db,
        `SELECT state, expires_at <= now() AS is_expired FROM recoveries WHERE id = $2 AND practice_id = $1 FOR UPDATE`,
        [practiceId, recoveryId],
      );
      if (!row) return 'not_found';
      if (row.state !== 'submitted' || row.is_expired) return 'not_open';
      const inserted = await rows<{ user_id: string }>(
        db,
        `INSERT INTO recovery_approvals (recovery_id, user_id, device_id) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING RETURNING user_id`,
        [recoveryId, userId, deviceId],
      );
      return inserted.length === 1 ? 'approved' : 'duplicate';
    });
  }

  /**
   * What the completing client re-seals from: the record-key envelopes of the patient's conversations, their
   * creators, and every account key of the patient with its chain (the caller adds the chains).
   */
  async history(patientId: string): Promise<Omit<RecoveryHistory, 'accountKeys'>> {
    const conversations = await rows<{ id: string; patient_id: string; ods_code: string; current_epoch: number }>(
      this.dataSource,
      `SELECT c.id, c.patient_id, p.ods_code, c.current_epoch FROM conversations c JOIN practices p ON p.id = c.practice_id
        WHERE c.patient_id = $1 ORDER BY c.created_at, c.id`,
      [patientId],
    );
    const envelopes = await rows<{
      conversation_id: string;
      epoch: number;
      recipient_record_version: number;
      creator_device_id: string;
      recipient_key_id: Buffer;
      sealed_key: Buffer;
      signature: Buffer;
    }>(
      this.dataSource,
      `SELECT e.conversation_id, e.epoch, e.recipient_record_version, e.creator_device_id, e.recipient_key_id, e.sealed_key, e.signature
         FROM conversation_envelopes e JOIN conversations c ON c.id = e.conversation_id
        WHERE c.patient_id = $1 AND e.recipient_kind = 'record' ORDER BY e.conversation_id, e.epoch, e.created_at`,
      [patientId],
    );
    const patientDevices = await rows<DeviceColumnsRow & { user_id: string }>(
      this.dataSource,
      `SELECT id, user_id, label, sign_public_key, box_public_key, certificate, certified_display_name, certified_roles, created_at, revoked_at
         FROM devices WHERE user_id = $1 ORDER BY created_at`,
      [patientId],
    );
    const staffDevices = await rows<DeviceColumnsRow & { user_id: string }>(
      this.dataSource,
      `SELECT d.id, d.user_id, d.label, d.sign_public_key, d.box_public_key, d.certificate, d.certified_display_name, d.certified_roles, d.created_at, d.revoked_at
         FROM devices d WHERE d.user_id <> $1 AND d.id IN (
           SELECT e.creator_device_id FROM conversation_envelopes e JOIN conversations c ON c.id = e.conversation_id WHERE c.patient_id = $1)`,
      [patientId],
    );
    return {
      conversations: conversations.map((row) => ({ id: row.id, patientId: row.patient_id, practiceOdsCode: row.ods_code, currentEpoch: row.current_epoch })),
      envelopes: envelopes.map((row) => ({
        conversationId: row.conversation_id,
        epoch: row.epoch,
        recordVersion: row.recipient_record_version,
        creatorDeviceId: row.creator_device_id,
        recipientKeyId: row.recipient_key_id.toString('base64'),
        sealedKey: row.sealed_key.toString('base64'),
        signature: row.signature.toString('base64'),
      })),
      patientDevices: patientDevices.map((row): DeviceInfo => ({ ...toDeviceFields(row), userId: row.user_id })),
      staffDevices: staffDevices.map((row): CertifiedDevice => ({
        userId: row.user_id,
        deviceId: row.id,
        signPublicKey: row.sign_public_key.toString('base64'),
        boxPublicKey: row.box_public_key.toString('base64'),
        certificate: base64OrNull(row.certificate),
        certifiedAs: toCertifiedAs(row.certified_display_name, row.certified_roles),
      })),
    };
  }

  /**
   * The swap, all or nothing, under the recovery's row lock: needs a submitted, unexpired recovery with approvals
   * by two accounts; retires the patient's account key and stores the new one with the root's certificate, the
   * new credential and backup, the re-sealed envelopes (each for an epoch of one of the patient's conversations),
   * revokes every device of the patient and ends their sessions (the nodes close their sockets on the NOTIFY).
   */
  async complete(input: {
    practiceId: string;
    recoveryId: string;
    completedBy: string;
    completedByDevice: string;
    certificate: Buffer;
    envelopes: readonly ResealedEnvelope[];
  }): Promise<Completion | CompletionRefusal> {
    return transaction(this.dataSource, async (db) => {
      const recovery = await one<{
        patient_id: string;
        state: RecoveryState;
        is_expired: boolean;
        new_sign_public_key: Buffer;
        new_box_public_key: Buffer;
        new_auth_key_hash: string;
        new_auth_salt: Buffer;
        new_auth_ops: number;
        new_auth_mem_bytes: number;
        new_backup: Buffer;
      }>(
        db,
        `SELECT patient_id, state, expires_at <= now() AS is_expired, new_sign_public_key, new_box_public_key,
                new_auth_key_hash, new_auth_salt, new_auth_ops, new_auth_mem_bytes, new_backup
           FROM recoveries WHERE id = $2 AND practice_id = $1 FOR UPDATE`,
        [input.practiceId, input.recoveryId],
      );
      if (!recovery) return 'not_found';
      if (recovery.state !== 'submitted') return 'not_submitted';
      if (recovery.is_expired) return 'expired';
      const approvals = await approvalsOf(db, input.recoveryId);
      if (approvals.length < 2) return 'second_approval_needed';
      const patientId = recovery.patient_id;

      // Envelopes first: one for an epoch that is not one of this patient's refuses the whole completion.
      for (const envelope of input.envelopes) {
        const inserted = await rows<{ epoch: number }>(
          db,
          `INSERT INTO conversation_envelopes (conversation_id, epoch, recipient_kind, recipient_user_id, recipient_key_id, sealed_key, signature, creator_device_id)
           SELECT c.id, $2, 'account', c.patient_id, $3, $4, $5, $6 FROM conversations c
            WHERE c.id = $1 AND c.patient_id = $7 AND $2 <= c.current_epoch
           ON CONFLICT DO NOTHING RETURNING epoch`,
          [
            envelope.conversationId,
            envelope.epoch,
            Buffer.from(envelope.recipientKeyId, 'base64'),
            Buffer.from(envelope.sealedKey, 'base64'),
            Buffer.from(envelope.signature, 'base64'),
            input.completedByDevice,
            patientId,
          ],
        );
        if (inserted.length !== 1) throw new RefusedCompletion('bad_envelope');
      }
      await run(db, `UPDATE account_keys SET revoked_at = now() WHERE user_id = $1 AND revoked_at IS NULL`, [patientId]);
      const newAccountKeyId = randomUUID();
      await run(
        db,
        `INSERT INTO account_keys (id, user_id, sign_public_key, box_public_key, certificate, certified_by, certified_at) VALUES ($1, $2, $3, $4, $5, $6, now())`,
        [newAccountKeyId, patientId, recovery.new_sign_public_key, recovery.new_box_public_key, input.certificate, input.completedBy],
      );
      await run(db, `UPDATE users SET auth_key_hash = $2, auth_salt = $3, auth_ops = $4, auth_mem_bytes = $5 WHERE id = $1`, [
        patientId,
        recovery.new_auth_key_hash,
        recovery.new_auth_salt,
        recovery.new_auth_ops,
        recovery.new_auth_mem_bytes,
      ]);
      await run(
        db,
        `UPDATE key_backups SET blob = $2, salt = $3, ops_limit = $4, mem_limit_bytes = $5, version = version + 1, updated_at = now() WHERE user_id = $1`,
        [patientId, recovery.new_backup, recovery.new_auth_salt, recovery.new_auth_ops, recovery.new_auth_mem_bytes],
      );
      const sessions = await rows<{ id: string }>(
        db,
        `UPDATE sessions SET revoked_at = now(), end_reason = 'keys_changed' WHERE user_id = $1 AND revoked_at IS NULL RETURNING id`,
        [patientId],
      );
      const devices = await rows<{ id: string }>(db, `UPDATE devices SET revoked_at = now() WHERE user_id = $1 AND revoked_at IS NULL RETURNING id`, [
        patientId,
      ]);
      await run(db, `UPDATE recoveries SET state = 'completed', completed_by = $2, completed_at = now() WHERE id = $1`, [input.recoveryId, input.completedBy]);
      return { approvals, envelopes: input.envelopes.length, devicesRevoked: devices.length, sessionsEnded: sessions.length, newAccountKeyId };
    }).catch((error: unknown) => {
      if (error instanceof RefusedCompletion) return error.reason;
      throw error;
    });
  }
}

/** Thrown inside the completion's transaction so that it rolls back, and turned into its reason outside. */
class RefusedCompletion extends Error {
  constructor(readonly reason: CompletionRefusal) {
    super(reason);
  }
}

async function approvalsOf(db: Db, recoveryId: string): Promise<RecoveryApproval[]> {
  const found = await rows<{ user_id: string; device_id: string; approved_at: Date }>(
    db,
    `SELECT user_id, device_id, approved_at FROM recovery_approvals WHERE recovery_id = $1 ORDER BY approved_at, user_id`,
    [recoveryId],
  );
  return found.map((row) => ({ userId: row.user_id, deviceId: row.device_id, approvedAt: row.approved_at.toISOString() }));
}

function toSummary(row: RecoveryRow): RecoverySummary {
  const chain: RecoveryChain = {
    recoverySignPublicKey: row.recovery_sign_public_key.toString('base64'),
    recoverySignature: row.recovery_signature.toString('base64'),
    rootSignature: row.root_signature.toString('base64'),
    expiresAt: row.expires_at.getTime(),
    creator: {
      userId: row.creator_user_id,
      deviceId: row.creator_device_id,
      signPublicKey: row.creator_sign_public_key.toString('base64'),
      boxPublicKey: row.creator_box_public_key.toString('base64'),
      certificate: base64OrNull(row.creator_certificate),
      certifiedAs: toCertifiedAs(row.creator_certified_display_name, row.creator_certified_roles),
    },
  };
  const hasNewAccount = row.new_sign_public_key && row.new_box_public_key && row.new_account_signature;
  return {
    id: row.id,
    patientId: row.patient_id,
    patientName: row.patient_name,
    state: row.state,
    startedBy: row.started_by,
    startedAt: row.started_at.toISOString(),
    expiresAt: row.expires_at.toISOString(),
    chain,
    newAccount: hasNewAccount
      ? {
          signPublicKey: row.new_sign_public_key!.toString('base64'),
          boxPublicKey: row.new_box_public_key!.toString('base64'),
          accountSignature: row.new_account_signature!.toString('base64'),
        }
      : null,
    approvals: (row.approvals ?? []).map((approval) => ({
      userId: approval.user_id,
      deviceId: approval.device_id,
      approvedAt: new Date(approval.approved_at).toISOString(),
    })),
    completedBy: row.completed_by,
    completedAt: row.completed_at?.toISOString() ?? null,
  };
}
