import { Injectable } from '@nestjs/common';
import type { Role } from '@parley/protocol';
import { randomBytes } from 'node:crypto';
import { DataSource, type EntityManager } from 'typeorm';
import { returnedRows } from '../common/sql.js';

/** The practice as sign-in answers show it. Auth reads the practices table by SQL: it imports no feature. */
export interface PracticeSummary {
  id: string;
  odsCode: string;
  name: string;
  rootSignPublicKey: Buffer | null;
}

/** An activated, active account found by practice and login. */
export interface LoginAccount {
  id: string;
  roles: Role[];
  displayName: string;
  authKeyHash: string;
  kdf: StoredKdf;
  practice: PracticeSummary;
}

/** Argon2id salt and cost as stored. */
export interface StoredKdf {
  salt: Buffer;
  opsLimit: number;
  memLimitBytes: number;
}

/** An unused, unexpired invitation or set-up code and the account it activates. */
export interface PendingInvitation {
  id: string;
  userId: string;
  roles: Role[];
  displayName: string;
  /** YYYY-MM-DD (patients only). */
  dateOfBirth: string | null;
  practice: PracticeSummary;
}

/** A session to start: the token's hash, never the token. */
export interface NewSession {
  id: string;
  tokenHash: Buffer;
  expiresAt: Date;
  ip: string | null;
}

/** A device to register with its public keys (and, for a patient's first device, its certificate). */
export interface NewDevice {
  id: string;
  label: string;
  signPublicKey: Buffer;
  boxPublicKey: Buffer;
  certificate: Buffer | null;
}

/** Everything an activation stores, in one transaction. */
export interface Activation {
  invitationId: string;
  userId: string;
  authKeyHash: string;
  kdf: StoredKdf;
  device: NewDevice;
  /** Patients only: the account key and its passphrase backup. */
  account: { id: string; signPublicKey: Buffer; boxPublicKey: Buffer; backup: Buffer } | null;
  session: NewSession;
}

/** A patient account or staff account to create with its one-time code. */
export interface NewAccount {
  userId: string;
  practiceId: string;
  roles: Role[];
  displayName: string;
  email: string | null;
  nhsNumber: string | null;
  dateOfBirth: string | null;
  invitationId: string;
  codeHash: Buffer;
  createdBy: string;
  expiresAt: Date;
}

const PRACTICE_COLUMNS = `p.id AS practice_id, p.ods_code, p.name AS practice_name, p.root_sign_public_key`;

/** Every query of accounts: users, invitations, credentials, account keys, backups, and the sessions sign-in starts. */
@Injectable()
export class AuthRepository {
  constructor(private readonly dataSource: DataSource) {}

  /** The activated, active account with this login (e-mail or NHS number, normalised) in the practice with this ODS code. */
  async findLoginAccount(odsCode: string, login: string): Promise<LoginAccount | null> {
    const rows: Record<string, unknown>[] = await this.dataSource.query(
      `SELECT u.id, u.roles, u.display_name, u.auth_key_hash, u.auth_salt, u.auth_ops, u.auth_mem_bytes, ${PRACTICE_COLUMNS}
         FROM users u JOIN practices p ON p.id = u.practice_id
        WHERE p.ods_code = $1 AND (lower(u.email) = $2 OR u.nhs_number = $2)
          AND u.activated_at IS NOT NULL AND u.deactivated_at IS NULL`,
      [odsCode, login],
    );
    const row = rows[0];
    if (!row) return null;
    return {
      id: row['id'] as string,
      roles: row['roles'] as Role[],
      displayName: row['display_name'] as string,
      authKeyHash: row['auth_key_hash'] as string,
      kdf: { salt: row['auth_salt'] as Buffer, opsLimit: row['auth_ops'] as number, memLimitBytes: row['auth_mem_bytes'] as number },
      practice: toPractice(row),
    };
  }

  /** The unused, unexpired code with this hash in the practice, if its account still awaits activation. */
  async findPendingInvitation(odsCode: string, codeHash: Buffer): Promise<PendingInvitation | null> {
    const rows: Record<string, unknown>[] = await this.dataSource.query(
      `SELECT i.id, i.user_id, u.roles, u.display_name, to_char(u.date_of_birth, 'YYYY-MM-DD') AS date_of_birth, ${PRACTICE_COLUMNS}
         FROM invitations i
         JOIN users u ON u.id = i.user_id AND u.practice_id = i.practice_id
         JOIN practices p ON p.id = i.practice_id
        WHERE i.code_hash = $2 AND p.ods_code = $1 AND i.used_at IS NULL AND i.expires_at > now()
          AND u.activated_at IS NULL AND u.deactivated_at IS NULL`,
      [odsCode, codeHash],
    );
    const row = rows[0];
    if (!row) return null;
    return {
      id: row['id'] as string,
      userId: row['user_id'] as string,
      roles: row['roles'] as Role[],
      displayName: row['display_name'] as string,
      dateOfBirth: (row['date_of_birth'] as string | null) ?? null,
      practice: toPractice(row),
    };
  }

  /**
   * Uses the code and stores the credentials, device, account key, backup and first session, all or
   * nothing. Returns false when the code was used (or the account activated) meanwhile: the code is
   * marked used under a row lock, so two concurrent activations cannot both succeed.
   */
  async activate(activation: Activation): Promise<boolean> {
    return this.dataSource.transaction(async (db) => {
      const used = returnedRows(
        await db.query(`UPDATE invitations SET used_at = now() WHERE id = $1 AND used_at IS NULL AND expires_at > now() RETURNING id`, [
          activation.invitationId,
        ]),
      );
      if (used.length === 0) return false;
      const { kdf } = activation;
      const activated = returnedRows(
        await db.query(
          `UPDATE users SET auth_key_hash = $2, auth_salt = $3, auth_ops = $4, auth_mem_bytes = $5, activated_at = now()
            WHERE id = $1 AND activated_at IS NULL AND deactivated_at IS NULL RETURNING id`,
          [activation.userId, activation.authKeyHash, kdf.salt, kdf.opsLimit, kdf.memLimitBytes],
        ),
      );
      if (activated.length === 0) throw new AlreadyActivated();
      await insertDevice(db, activation.userId, activation.device);
      if (activation.account) {
        const { account } = activation;
        await db.query(`INSERT INTO account_keys (id, user_id, sign_public_key, box_public_key) VALUES ($1, $2, $3, $4)`, [
          account.id,
          activation.userId,
          account.signPublicKey,
          account.boxPublicKey,
        ]);
        await db.query(
          `INSERT INTO key_backups (user_id, blob, salt, ops_limit, mem_limit_bytes, version, updated_at) VALUES ($1, $2, $3, $4, $5, 1, now())`,
          [activation.userId, account.backup, kdf.salt, kdf.opsLimit, kdf.memLimitBytes],
        );
      }
      await insertSession(db, activation.userId, activation.device.id, activation.session);
      return true;
    }).catch((error: unknown) => {
      if (error instanceof AlreadyActivated) return false;
      throw error;
    });
  }

  /** Starts a session on an existing device; false when the device is not this user's or is revoked. */
  async startSession(userId: string, deviceId: string, session: NewSession): Promise<boolean> {
    const rows: unknown[] = await this.dataSource.query(
      `INSERT INTO sessions (id, user_id, device_id, token_hash, expires_at, ip)
       SELECT $1, d.user_id, d.id, $4, $5, $6 FROM devices d WHERE d.id = $3 AND d.user_id = $2 AND d.revoked_at IS NULL
       RETURNING id`,
      [session.id, userId, deviceId, session.tokenHash, session.expiresAt, session.ip],
    );
    return rows.length === 1;
  }

  /** Registers a new device and starts a session on it, in one transaction. */
  async startSessionOnNewDevice(userId: string, device: NewDevice, session: NewSession): Promise<void> {
    await this.dataSource.transaction(async (db) => {
      await insertDevice(db, userId, device);
      await insertSession(db, userId, device.id, session);
    });
  }

  /** Creates an account (patient or staff) and its one-time code; the practice's root key comes back for the letter. */
  async createAccount(account: NewAccount): Promise<{ rootSignPublicKey: Buffer | null }> {
    return this.dataSource.transaction(async (db) => {
      await db.query(
        `INSERT INTO users (id, practice_id, roles, display_name, email, nhs_number, date_of_birth) VALUES ($1, $2, $3, $4, $5, $6, $7)`,
        [account.userId, account.practiceId, account.roles, account.displayName, account.email, account.nhsNumber, account.dateOfBirth],
      );
      await db.query(`INSERT INTO invitations (id, practice_id, user_id, code_hash, created_by, expires_at) VALUES ($1, $2, $3, $4, $5, $6)`, [
        account.invitationId,
        account.practiceId,
        account.userId,
        account.codeHash,
        account.createdBy,
        account.expiresAt,
      ]);
      const [practice] = (await db.query(`SELECT root_sign_public_key FROM practices WHERE id = $1`, [account.practiceId])) as Record<string, unknown>[];
      return { rootSignPublicKey: (practice?.['root_sign_public_key'] as Buffer | null) ?? null };
    });
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

  /** The deployment's secret of this name, generated on first need; concurrent first calls (any node) agree on one. */
  async serverSecret(name: string): Promise<Buffer> {
    await this.dataSource.query(`INSERT INTO server_secrets (name, secret) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING`, [name, randomBytes(32)]);
    const [row] = (await this.dataSource.query(`SELECT secret FROM server_secrets WHERE name = $1`, [name])) as { secret: Buffer }[];
    return row!.secret;
  }
}

/** Thrown inside the activation transaction to roll it back when the account was activated meanwhile. */
class AlreadyActivated extends Error {}

function toPractice(row: Record<string, unknown>): PracticeSummary {
  return {
    id: row['practice_id'] as string,
    odsCode: row['ods_code'] as string,
    name: row['practice_name'] as string,
    rootSignPublicKey: (row['root_sign_public_key'] as Buffer | null) ?? null,
  };
}

async function insertDevice(db: EntityManager, userId: string, device: NewDevice): Promise<void> {
  await db.query(`INSERT INTO devices (id, user_id, label, sign_public_key, box_public_key, certificate) VALUES ($1, $2, $3, $4, $5, $6)`, [
    device.id,
    userId,
    device.label,
    device.signPublicKey,
    device.boxPublicKey,
    device.certificate,
  ]);
}

async function insertSession(db: EntityManager, userId: string, deviceId: string, session: NewSession): Promise<void> {
  await db.query(`INSERT INTO sessions (id, user_id, device_id, token_hash, expires_at, ip) VALUES ($1, $2, $3, $4, $5, $6)`, [
    session.id,
    userId,
    deviceId,
    session.tokenHash,
    session.expiresAt,
    session.ip,
  ]);
}
