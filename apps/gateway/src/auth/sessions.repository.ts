import { Injectable } from '@nestjs/common';
import type { Role } from '@parley/protocol';
import { DataSource } from 'typeorm';
import type { Actor } from '../common/actor.js';
import { returnedRows } from '../common/sql.js';
import type { SessionEndReason } from './session.entity.js';

/** A live session with who it stands for. */
export interface ActiveSession {
  actor: Actor;
  expiresAt: Date;
}

/** Why a session may no longer be used, as the database sees it now. */
export interface SessionState {
  endReason: SessionEndReason | null;
  isExpired: boolean;
  isDeviceRevoked: boolean;
  isUserDeactivated: boolean;
}

// last_seen_at is written at most once a minute per session, so busy clients cause no write storm.
const LAST_SEEN_RESOLUTION = `interval '1 minute'`;

/** Every query of sessions: resolving tokens, checking them on each command, ending them. */
@Injectable()
export class SessionsRepository {
  constructor(private readonly dataSource: DataSource) {}

  /** The live session (not expired, not revoked, device not revoked, user active) whose token has this hash; marks it seen. */
  async findActiveByTokenHash(tokenHash: Buffer): Promise<ActiveSession | null> {
    const rows: Record<string, unknown>[] = await this.dataSource.query(
      `WITH found AS (
         SELECT s.id, s.user_id, s.device_id, s.expires_at, s.last_seen_at, u.practice_id, p.ods_code, u.roles, u.display_name
           FROM sessions s
           JOIN devices d ON d.id = s.device_id
           JOIN users u ON u.id = s.user_id
           JOIN practices p ON p.id = u.practice_id
          WHERE s.token_hash = $1 AND s.revoked_at IS NULL AND s.expires_at > now()
            AND d.revoked_at IS NULL AND u.deactivated_at IS NULL),
       touched AS (
         UPDATE sessions SET last_seen_at = now()
          WHERE id IN (SELECT id FROM found WHERE last_seen_at < now() - ${LAST_SEEN_RESOLUTION}))
       SELECT * FROM found`,
      [tokenHash],
    );
    const row = rows[0];
    if (!row) return null;
    return {
      actor: {
        userId: row['user_id'] as string,
        deviceId: row['device_id'] as string,
        sessionId: row['id'] as string,
        practiceId: row['practice_id'] as string,
        practiceOdsCode: row['ods_code'] as string,
        roles: row['roles'] as Role[],
        displayName: row['display_name'] as string,
      },
      expiresAt: row['expires_at'] as Date,
    };
  }

  /** The state of one session, its device and its user (one primary-key lookup per table); null if there is no such session. */
  async findState(sessionId: string): Promise<SessionState | null> {
    const rows: Record<string, unknown>[] = await this.dataSource.query(
      `SELECT s.end_reason, s.expires_at <= now() AS is_expired, d.revoked_at IS NOT NULL AS is_device_revoked, u.deactivated_at IS NOT NULL AS is_user_deactivated
         FROM sessions s JOIN devices d ON d.id = s.device_id JOIN users u ON u.id = s.user_id
        WHERE s.id = $1`,
      [sessionId],
    );
    const row = rows[0];
    if (!row) return null;
    return {
      endReason: (row['end_reason'] as SessionEndReason | null) ?? null,
      isExpired: row['is_expired'] as boolean,
      isDeviceRevoked: row['is_device_revoked'] as boolean,
      isUserDeactivated: row['is_user_deactivated'] as boolean,
    };
  }

  /** Ends one session (if still open). */
  async revoke(sessionId: string, reason: SessionEndReason): Promise<void> {
    await this.dataSource.query(`UPDATE sessions SET revoked_at = now(), end_reason = $2 WHERE id = $1 AND revoked_at IS NULL`, [sessionId, reason]);
  }

  /** Ends every open session of a user; returns how many were open. */
  async revokeAllOfUser(userId: string, reason: SessionEndReason): Promise<number> {
    const rows = returnedRows(
      await this.dataSource.query(`UPDATE sessions SET revoked_at = now(), end_reason = $2 WHERE user_id = $1 AND revoked_at IS NULL RETURNING id`, [
        userId,
        reason,
      ]),
    );
    return rows.length;
  }
}
