import { Injectable } from '@nestjs/common';
import type { InvitationChain, Role } from '@parley/protocol';
import { randomBytes } from 'node:crypto';
import { DataSource } from 'typeorm';
import { CHAIN_COLUMNS, toInvitationChain, type ChainColumnsRow, type StoredKdf } from '../common/account-row.js';
import { one, rows, run, transaction, type Db } from '../database/sql.js';

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

/** A pending patient invitation, with what its creating staff client signed. */
export interface PendingPatientInvitation extends PendingInvitation {
  chain: InvitationChain & { rootSignature: string };
  /** The invitation key V, which signs the account key at activation. */
  invitationSignPublicKey: Buffer;
}

/**
 * What one try of a date of birth against a patient invitation found: it matched, it did not (and was
 * counted), or the invitation is void (`voidedNow` when this try reached the limit and voided it).
 */
export type DateOfBirthTry =
  | { outcome: 'matched' | 'mismatched' }
  | { outcome: 'voided'; voidedNow: { invitationId: string; userId: string; practiceId: string; failedAttempts: number } | null };

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
  /** Patients only: the account key, the invitation key's signature over it, and its passphrase backup. */
  account: { id: string; signPublicKey: Buffer; boxPublicKey: Buffer; accountSignature: Buffer; backup: Buffer } | null;
  session: NewSession;
}

/** A practice as PRACTICE_COLUMNS selects it. */
interface PracticeColumns {
  practice_id: string;
  ods_code: string;
  practice_name: string;
  root_sign_public_key: Buffer | null;
}

/** An activated account with its credentials and practice, as `findLoginAccount` selects it. */
interface LoginAccountRow extends PracticeColumns {
  id: string;
  roles: Role[];
  display_name: string;
  auth_key_hash: string;
  auth_salt: Buffer;
  auth_ops: number;
  auth_mem_bytes: number;
}

/** A pending invitation as PENDING_INVITATION_COLUMNS selects it (the date of birth as YYYY-MM-DD text, null for staff). */
interface PendingInvitationRow extends PracticeColumns {
  id: string;
  user_id: string;
  roles: Role[];
  display_name: string;
  date_of_birth: string | null;
}

/** A pending patient invitation with its chain (CHAIN_COLUMNS, read by `toInvitationChain`). */
type PendingPatientInvitationRow = PendingInvitationRow & ChainColumnsRow & { root_signature: Buffer; invitation_sign_public_key: Buffer };

/** What one date-of-birth try found and did (the `tried` columns are null when it did not get to try). */
interface DateOfBirthTryRow {
  id: string;
  is_match: boolean;
  was_voided: boolean;
  is_tried: boolean;
  is_voided: boolean | null;
  user_id: string | null;
  practice_id: string | null;
  failed_attempts: number | null;
}

const PRACTICE_COLUMNS = `p.id AS practice_id, p.ods_code, p.name AS practice_name, p.root_sign_public_key`;
const PENDING_INVITATION_COLUMNS = `i.id, i.user_id, u.roles, u.display_name, to_char(u.date_of_birth, 'YYYY-MM-DD') AS date_of_birth, ${PRACTICE_COLUMNS}`;
const PENDING_INVITATION_JOINS = `JOIN users u ON u.id = i.user_id AND u.practice_id = i.practice_id JOIN practices p ON p.id = i.practice_id`;
const IS_PENDING = `i.used_at IS NULL AND i.voided_at IS NULL AND i.expires_at > now() AND u.activated_at IS NULL AND u.deactivated_at IS NULL`;

/**
 * Every query of signing in: the login account and its KDF, pending invitations and set-up codes, dates of birth
 * tried, activation (credentials, first device, account key, backup and session in one transaction), the sessions
 * sign-in starts, and the server secret behind decoy salts.
 */
@Injectable()
export class SignInRepository {
  constructor(private readonly dataSource: DataSource) {}

  /** The activated, active account with this login (e-mail or NHS number, normalised) in the practice with this ODS code. */
  async findLoginAccount(odsCode: string, login: string): Promise<LoginAccount | null> {
    const row = await one<LoginAccountRow>(
      this.dataSource,
      `SELECT u.id, u.roles, u.display_name, u.auth_key_hash, u.auth_salt, u.auth_ops, u.auth_mem_bytes, ${PRACTICE_COLUMNS}
         FROM users u JOIN practices p ON p.id = u.practice_id
        WHERE p.ods_code = $1 AND (lower(u.email) = $2 OR u.nhs_number = $2)
          AND u.activated_at IS NOT NULL AND u.deactivated_at IS NULL`,
      [odsCode, login],
    );
    if (!row) return null;
    return {
      id: row.id,
      roles: row.roles,
      displayName: row.display_name,
      authKeyHash: row.auth_key_hash,
      kdf: { salt: row.auth_salt, opsLimit: row.auth_ops, memLimitBytes: row.auth_mem_bytes },
      practice: toPractice(row),
    };
  }

  /** The unused, unexpired staff set-up code with this hash in the practice, if its account still awaits activation. */
  async findPendingStaffCode(odsCode: string, codeHash: Buffer): Promise<PendingInvitation | null> {
    const row = await one<PendingInvitationRow>(
      this.dataSource,
      `SELECT ${PENDING_INVITATION_COLUMNS} FROM invitations i ${PENDING_INVITATION_JOINS}
        WHERE i.code_hash = $2 AND p.ods_code = $1 AND NOT ('patient' = ANY(u.roles)) AND ${IS_PENDING}`,
      [odsCode, codeHash],
    );
    return row ? toPendingInvitation(row) : null;
  }

  /** The unused, unexpired patient invitation with this lookup id in the practice, with its chain, if its account still awaits activation. */
  async findPendingPatientInvitation(odsCode: string, lookupId: Buffer): Promise<PendingPatientInvitation | null> {
    const row = await one<PendingPatientInvitationRow>(
      this.dataSource,
      `SELECT ${PENDING_INVITATION_COLUMNS}, ${CHAIN_COLUMNS}
         FROM invitations i ${PENDING_INVITATION_JOINS} JOIN devices cd ON cd.id = i.creator_device_id
        WHERE i.lookup_id = $2 AND p.ods_code = $1 AND 'patient' = ANY(u.roles) AND ${IS_PENDING}`,
      [odsCode, lookupId],
    );
    const chain = row ? toInvitationChain(row) : null;
    if (!row || !chain) return null;
    return {
      ...toPendingInvitation(row),
      chain: { ...chain, rootSignature: row.root_signature.toString('base64') },
      invitationSignPublicKey: row.invitation_sign_public_key,
    };
  }

  /**
   * Tries a date of birth against the unused, unexpired patient invitation with this lookup id, in one
   * statement: a wrong one adds to the invitation's total of failures, and the failure that reaches
   * `maxFailures` voids the invitation and retires its never-activated account (so the NHS number is
   * free for a new invitation). Tries of one invitation queue on its row lock, a right one included, so
   * however many arrive at once no more than `maxFailures` wrong ones are ever compared, and a right one
   * behind them is refused as void. Null when there is no such invitation.
   */
  async tryPatientDateOfBirth(odsCode: string, lookupId: Buffer, dateOfBirth: string, maxFailures: number): Promise<DateOfBirthTry | null> {
    const row = await one<DateOfBirthTryRow>(
      this.dataSource,
      `WITH target AS (
         SELECT i.id, i.voided_at IS NOT NULL AS was_voided, to_char(u.date_of_birth, 'YYYY-MM-DD') = $3 AS is_match
           FROM invitations i ${PENDING_INVITATION_JOINS}
          WHERE i.lookup_id = $2 AND p.ods_code = $1 AND 'patient' = ANY(u.roles) AND i.used_at IS NULL AND i.expires_at > now()
            AND u.activated_at IS NULL AND (u.deactivated_at IS NULL OR i.voided_at IS NOT NULL)),
       tried AS (
         UPDATE invitations i
            SET failed_attempts = i.failed_attempts + CASE WHEN t.is_match THEN 0 ELSE 1 END,
                voided_at = CASE WHEN NOT t.is_match AND i.failed_attempts + 1 >= $4 THEN now() END,
                void_reason = CASE WHEN NOT t.is_match AND i.failed_attempts + 1 >= $4 THEN 'too_many_attempts' END
           FROM target t
          WHERE i.id = t.id AND NOT t.was_voided AND i.voided_at IS NULL
         RETURNING i.id, i.user_id, i.practice_id, i.failed_attempts, i.voided_at IS NOT NULL AS is_voided),
       retired AS (
         UPDATE users SET deactivated_at = now()
          WHERE id IN (SELECT user_id FROM tried WHERE is_voided) AND activated_at IS NULL AND deactivated_at IS NULL)
       SELECT t.id, t.is_match, t.was_voided, tried.id IS NOT NULL AS is_tried, tried.is_voided, tried.user_id, tried.practice_id, tried.failed_attempts
         FROM target t LEFT JOIN tried ON tried.id = t.id`,
      [odsCode, lookupId, dateOfBirth, maxFailures],
    );
    if (!row) return null;
    // Not tried: void already, or voided by a try that held the row lock first.
    if (row.was_voided || !row.is_tried) return { outcome: 'voided', voidedNow: null };
    if (row.is_voided) {
      // A try that voided the invitation returned its row: the `tried` columns are set.
      return {
        outcome: 'voided',
        voidedNow: { invitationId: row.id, userId: row.user_id!, practiceId: row.practice_id!, failedAttempts: row.failed_attempts! },
      };
    }
    return { outcome: row.is_match ? 'matched' : 'mismatched' };
  }

  /**
   * Uses the code and stores the credentials, device, account key, backup and first session, all or
   * nothing. Returns false when the code was used (or the account activated) meanwhile: the code is
   * marked used under a row lock, so two concurrent activations cannot both succeed.
   */
  async activate(activation: Activation): Promise<boolean> {
    return transaction(this.dataSource, async (db) => {
      const used = await rows<{ id: string }>(
        db,
        `UPDATE invitations SET used_at = now() WHERE id = $1 AND used_at IS NULL AND voided_at IS NULL AND expires_at > now() RETURNING id`,
        [activation.invitationId],
      );
      if (used.length === 0) return false;
      const { kdf } = activation;
      const activated = await rows<{ id: string }>(
        db,
        `UPDATE users SET auth_key_hash = $2, auth_salt = $3, auth_ops = $4, auth_mem_bytes = $5, activated_at = now()
          WHERE id = $1 AND activated_at IS NULL AND deactivated_at IS NULL RETURNING id`,
        [activation.userId, activation.authKeyHash, kdf.salt, kdf.opsLimit, kdf.memLimitBytes],
      );
      if (activated.length === 0) throw new AlreadyActivated();
      await insertDevice(db, activation.userId, activation.device);
      if (activation.account) {
        const { account } = activation;
        await run(
          db,
          `INSERT INTO account_keys (id, user_id, sign_public_key, box_public_key, invitation_id, account_signature) VALUES ($1, $2, $3, $4, $5, $6)`,
          [account.id, activation.userId, account.signPublicKey, account.boxPublicKey, activation.invitationId, account.accountSignature],
        );
        await run(db, `INSERT INTO key_backups (user_id, blob, salt, ops_limit, mem_limit_bytes, version, updated_at) VALUES ($1, $2, $3, $4, $5, 1, now())`, [
          activation.userId,
          account.backup,
          kdf.salt,
          kdf.opsLimit,
          kdf.memLimitBytes,
        ]);
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
    const started = await rows<{ id: string }>(
      this.dataSource,
      `INSERT INTO sessions (id, user_id, device_id, token_hash, expires_at, ip)
       SELECT $1, d.user_id, d.id, $4, $5, $6 FROM devices d WHERE d.id = $3 AND d.user_id = $2 AND d.revoked_at IS NULL
       RETURNING id`,
      [session.id, userId, deviceId, session.tokenHash, session.expiresAt, session.ip],
    );
    return started.length === 1;
  }

  /** Registers a new device and starts a session on it, in one transaction. */
  async startSessionOnNewDevice(userId: string, device: NewDevice, session: NewSession): Promise<void> {
    await transaction(this.dataSource, async (db) => {
      await insertDevice(db, userId, device);
      await insertSession(db, userId, device.id, session);
    });
  }

  /** The deployment's secret of this name, generated on first need; concurrent first calls (any node) agree on one. */
  async serverSecret(name: string): Promise<Buffer> {
    await run(this.dataSource, `INSERT INTO server_secrets (name, secret) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING`, [name, randomBytes(32)]);
    const row = await one<{ secret: Buffer }>(this.dataSource, `SELECT secret FROM server_secrets WHERE name = $1`, [name]);
    return row!.secret;
  }
}

/** Thrown inside the activation transaction to roll it back when the account was activated meanwhile. */
class AlreadyActivated extends Error {}

function toPendingInvitation(row: PendingInvitationRow): PendingInvitation {
  return { id: row.id, userId: row.user_id, roles: row.roles, displayName: row.display_name, dateOfBirth: row.date_of_birth, practice: toPractice(row) };
}

function toPractice(row: PracticeColumns): PracticeSummary {
  return { id: row.practice_id, odsCode: row.ods_code, name: row.practice_name, rootSignPublicKey: row.root_sign_public_key };
}

async function insertDevice(db: Db, userId: string, device: NewDevice): Promise<void> {
  await run(db, `INSERT INTO devices (id, user_id, label, sign_public_key, box_public_key, certificate) VALUES ($1, $2, $3, $4, $5, $6)`, [
    device.id,
    userId,
    device.label,
    device.signPublicKey,
    device.boxPublicKey,
    device.certificate,
  ]);
}

async function insertSession(db: Db, userId: string, deviceId: string, session: NewSession): Promise<void> {
  await run(db, `INSERT INTO sessions (id, user_id, device_id, token_hash, expires_at, ip) VALUES ($1, $2, $3, $4, $5, $6)`, [
    session.id,
    userId,
    deviceId,
    session.tokenHash,
    session.expiresAt,
    session.ip,
  ]);
}
