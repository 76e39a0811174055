import { Injectable } from '@nestjs/common';
import type { AccountEnrolment, PatientAccountKey } from '@parley/protocol';
import { DataSource } from 'typeorm';
import { base64OrNull, CHAIN_COLUMNS, toInvitationChain, type StoredKdf } from '../common/account-row.js';
import { returnedRows } from '../common/sql.js';

/** Every query of a patient's account key: its chain, its certificate, the envelopes sealed to it, and its passphrase backup. */
@Injectable()
export class AccountKeysRepository {
  constructor(private readonly dataSource: DataSource) {}

  /** A patient's active account key with its chain to the practice root; null when they have none. */
  async findPatientAccountKey(userId: string): Promise<PatientAccountKey | null> {
    const rows: Record<string, unknown>[] = await this.dataSource.query(
      `SELECT k.sign_public_key, k.box_public_key, k.certificate, k.account_signature, ${CHAIN_COLUMNS}
         FROM account_keys k
         LEFT JOIN invitations i ON i.id = k.invitation_id
         LEFT JOIN devices cd ON cd.id = i.creator_device_id
        WHERE k.user_id = $1 AND k.revoked_at IS NULL`,
      [userId],
    );
    const row = rows[0];
    if (!row) return null;
    return {
      userId,
      signPublicKey: (row['sign_public_key'] as Buffer).toString('base64'),
      boxPublicKey: (row['box_public_key'] as Buffer).toString('base64'),
      accountSignature: base64OrNull(row['account_signature']),
      invitation: toInvitationChain(row),
      certificate: base64OrNull(row['certificate']),
    };
  }

  /** Every envelope sealed to one of a patient's account keys, in the patient's conversations. */
  async envelopesSealedToAccount(userId: string): Promise<AccountEnrolment['envelopes']> {
    const rows: Record<string, unknown>[] = await this.dataSource.query(
      `SELECT e.conversation_id, e.epoch, e.creator_device_id, e.recipient_key_id, e.sealed_key, e.signature
         FROM conversation_envelopes e JOIN conversations c ON c.id = e.conversation_id
        WHERE c.patient_id = $1 AND e.recipient_kind = 'account' AND e.recipient_user_id = $1
        ORDER BY c.created_at, e.conversation_id, e.epoch`,
      [userId],
    );
    return rows.map((row) => ({
      conversationId: row['conversation_id'] as string,
      epoch: row['epoch'] as number,
      creatorDeviceId: row['creator_device_id'] as string,
      recipientKeyId: (row['recipient_key_id'] as Buffer).toString('base64'),
      sealedKey: (row['sealed_key'] as Buffer).toString('base64'),
      signature: (row['signature'] as Buffer).toString('base64'),
    }));
  }

  /** The patient's current (unrevoked) account key, if the user is a patient of this practice. */
  async findActiveAccountKey(practiceId: string, userId: string): Promise<{ id: string; certificate: Buffer | null } | null> {
    const rows: Record<string, unknown>[] = await this.dataSource.query(
      `SELECT k.id, k.certificate FROM account_keys k JOIN users u ON u.id = k.user_id
        WHERE k.user_id = $2 AND u.practice_id = $1 AND 'patient' = ANY(u.roles) AND k.revoked_at IS NULL`,
      [practiceId, userId],
    );
    const row = rows[0];
    return row ? { id: row['id'] as string, certificate: (row['certificate'] as Buffer | null) ?? null } : null;
  }

  /** Sets an account key's certificate once; false when it already had one. */
  async certifyAccountKey(accountKeyId: string, certificate: Buffer, certifiedBy: string): Promise<boolean> {
    const rows = returnedRows(
      await this.dataSource.query(
        `UPDATE account_keys SET certificate = $2, certified_by = $3, certified_at = now()
          WHERE id = $1 AND certificate IS NULL AND revoked_at IS NULL RETURNING id`,
        [accountKeyId, certificate, certifiedBy],
      ),
    );
    return rows.length === 1;
  }

  /** A user's key backup with the KDF parameters it was sealed with. */
  async findBackup(userId: string): Promise<{ blob: Buffer; kdf: StoredKdf } | null> {
    const rows: Record<string, unknown>[] = await this.dataSource.query(`SELECT blob, salt, ops_limit, mem_limit_bytes FROM key_backups WHERE user_id = $1`, [userId]);
    const row = rows[0];
    if (!row) return null;
    return { blob: row['blob'] as Buffer, kdf: { salt: row['salt'] as Buffer, opsLimit: row['ops_limit'] as number, memLimitBytes: row['mem_limit_bytes'] as number } };
  }

  /** Replaces a user's key backup and raises its version; false when the user has none. */
  async replaceBackup(userId: string, blob: Buffer, kdf: StoredKdf): Promise<boolean> {
    const rows = returnedRows(
      await this.dataSource.query(
        `UPDATE key_backups SET blob = $2, salt = $3, ops_limit = $4, mem_limit_bytes = $5, version = version + 1, updated_at = now()
          WHERE user_id = $1 RETURNING user_id`,
        [userId, blob, kdf.salt, kdf.opsLimit, kdf.memLimitBytes],
      ),
    );
    return rows.length === 1;
  }
}
