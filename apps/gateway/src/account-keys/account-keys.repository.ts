import { Injectable } from '@nestjs/common';
import type { AccountEnrolment, CertifiedDevice, PatientAccountKey } from '@parley/protocol';
import { DataSource } from 'typeorm';
import { base64OrNull, CHAIN_COLUMNS, toInvitationChain, type ChainColumnsRow, type StoredKdf } from '../common/account-row.js';
import { toCertifiedAs } from '../common/device-row.js';
import { one, rows } from '../database/sql.js';

/** An active `account_keys` row with its invitation's chain (CHAIN_COLUMNS, read by `toInvitationChain`). */
type AccountKeyRow = ChainColumnsRow & {
  sign_public_key: Buffer;
  box_public_key: Buffer;
  certificate: Buffer | null;
  account_signature: Buffer | null;
};

/** A `conversation_envelopes` row sealed to an account key. */
interface AccountEnvelopeRow {
  conversation_id: string;
  epoch: number;
  creator_device_id: string;
  recipient_key_id: Buffer;
  sealed_key: Buffer;
  signature: Buffer;
}

/** A `key_backups` row as `findBackup` selects it. */
interface BackupRow {
  blob: Buffer;
  salt: Buffer;
  ops_limit: number;
  mem_limit_bytes: number;
}

/** Every query of a patient's account key: its chain, its certificate, the envelopes sealed to it, and its passphrase backup. */
@Injectable()
export class AccountKeysRepository {
  constructor(private readonly dataSource: DataSource) {}

  /**
   * A patient's active account key with its chain to the practice root, and the keys a recovery retired before it
   * (`retired`, oldest first, each with its chain: they certified the patient's earlier devices); null when they have none.
   */
  async findPatientAccountKey(userId: string): Promise<PatientAccountKey | null> {
    const found = await rows<AccountKeyRow & { is_active: boolean }>(
      this.dataSource,
      `SELECT k.sign_public_key, k.box_public_key, k.certificate, k.account_signature, k.revoked_at IS NULL AS is_active, ${CHAIN_COLUMNS}
         FROM account_keys k
         LEFT JOIN invitations i ON i.id = k.invitation_id
         LEFT JOIN devices cd ON cd.id = i.creator_device_id
        WHERE k.user_id = $1 ORDER BY k.created_at, k.id`,
      [userId],
    );
    const active = found.find((row) => row.is_active);
    if (!active) return null;
    const retired = found.filter((row) => !row.is_active).map((row) => toAccountKey(userId, row));
    return { ...toAccountKey(userId, active), ...(retired.length > 0 ? { retired } : {}) };
  }

  /** Staff devices that sealed epoch keys to one of the patient's account keys (a recovery's re-seals), with their root certificates. */
  async resealersOf(userId: string): Promise<CertifiedDevice[]> {
    const found = await rows<{
      id: string;
      user_id: string;
      sign_public_key: Buffer;
      box_public_key: Buffer;
      certificate: Buffer | null;
      certified_display_name: string | null;
      certified_roles: string[] | null;
    }>(
      this.dataSource,
      `SELECT d.id, d.user_id, d.sign_public_key, d.box_public_key, d.certificate, d.certified_display_name, d.certified_roles
         FROM devices d
        WHERE d.user_id <> $1 AND d.id IN (
          SELECT e.creator_device_id FROM conversation_envelopes e JOIN conversations c ON c.id = e.conversation_id
           WHERE c.patient_id = $1 AND e.recipient_kind = 'account' AND e.recipient_user_id = $1)`,
      [userId],
    );
    return found.map((row) => ({
      userId: row.user_id,
      deviceId: row.id,
      signPublicKey: row.sign_public_key.toString('base64'),
      boxPublicKey: row.box_public_key.toString('base64'),
      certificate: base64OrNull(row.certificate),
      certifiedAs: toCertifiedAs(row.certified_display_name, row.certified_roles),
    }));
  }

  /** The practice's pinned root signing key; null before the key ceremony. */
  async practiceRootKey(practiceId: string): Promise<Buffer | null> {
    const row = await one<{ root_sign_public_key: Buffer | null }>(this.dataSource, `SELECT root_sign_public_key FROM practices WHERE id = $1`, [practiceId]);
    return row?.root_sign_public_key ?? null;
  }

  /** Every envelope sealed to one of a patient's account keys, in the patient's conversations. */
  async envelopesSealedToAccount(userId: string): Promise<AccountEnrolment['envelopes']> {
    const envelopes = await rows<AccountEnvelopeRow>(
      this.dataSource,
      `SELECT e.conversation_id, e.epoch, e.creator_device_id, e.recipient_key_id, e.sealed_key, e.signature
         FROM conversation_envelopes e JOIN conversations c ON c.id = e.conversation_id
        WHERE c.patient_id = $1 AND e.recipient_kind = 'account' AND e.recipient_user_id = $1
        ORDER BY c.created_at, e.conversation_id, e.epoch`,
      [userId],
    );
    return envelopes.map((row) => ({
      conversationId: row.conversation_id,
      epoch: row.epoch,
      creatorDeviceId: row.creator_device_id,
      recipientKeyId: row.recipient_key_id.toString('base64'),
      sealedKey: row.sealed_key.toString('base64'),
      signature: row.signature.toString('base64'),
    }));
  }

  /** The patient's current (unrevoked) account key, if the user is a patient of this practice. */
  async findActiveAccountKey(practiceId: string, userId: string): Promise<{ id: string; certificate: Buffer | null } | null> {
    const row = await one<{ id: string; certificate: Buffer | null }>(
      this.dataSource,
      `SELECT k.id, k.certificate FROM account_keys k JOIN users u ON u.id = k.user_id
        WHERE k.user_id = $2 AND u.practice_id = $1 AND 'patient' = ANY(u.roles) AND k.revoked_at IS NULL`,
      [practiceId, userId],
    );
    return row ? { id: row.id, certificate: row.certificate } : null;
  }

  /** Sets an account key's certificate once; false when it already had one. */
  async certifyAccountKey(accountKeyId: string, certificate: Buffer, certifiedBy: string): Promise<boolean> {
    const certified = await rows<{ id: string }>(
      this.dataSource,
      `UPDATE account_keys SET certificate = $2, certified_by = $3, certified_at = now()
        WHERE id = $1 AND certificate IS NULL AND revoked_at IS NULL RETURNING id`,
      [accountKeyId, certificate, certifiedBy],
    );
    return certified.length === 1;
  }

  /** A user's key backup with the KDF parameters it was sealed with. */
  async findBackup(userId: string): Promise<{ blob: Buffer; kdf: StoredKdf } | null> {
    const row = await one<BackupRow>(this.dataSource, `SELECT blob, salt, ops_limit, mem_limit_bytes FROM key_backups WHERE user_id = $1`, [userId]);
    if (!row) return null;
    return { blob: row.blob, kdf: { salt: row.salt, opsLimit: row.ops_limit, memLimitBytes: row.mem_limit_bytes } };
  }

  /** Replaces a user's key backup and raises its version; false when the user has none. */
  async replaceBackup(userId: string, blob: Buffer, kdf: StoredKdf): Promise<boolean> {
    const replaced = await rows<{ user_id: string }>(
      this.dataSource,
      `UPDATE key_backups SET blob = $2, salt = $3, ops_limit = $4, mem_limit_bytes = $5, version = version + 1, updated_at = now()
        WHERE user_id = $1 RETURNING user_id`,
      [userId, blob, kdf.salt, kdf.opsLimit, kdf.memLimitBytes],
    );
    return replaced.length === 1;
  }
}

function toAccountKey(userId: string, row: AccountKeyRow): PatientAccountKey {
  return {
    userId,
    signPublicKey: row.sign_public_key.toString('base64'),
    boxPublicKey: row.box_public_key.toString('base64'),
    accountSignature: base64OrNull(row.account_signature),
    invitation: toInvitationChain(row),
    certificate: base64OrNull(row.certificate),
  };
}
