import { Injectable } from '@nestjs/common';
import type { Role, SessionEnded } from '@parley/protocol';
import { DataSource } from 'typeorm';
import type { Actor } from '../common/actor.js';
import { one, prepared, rows, run } from '../database/sql.js';

/** Why a session ended before it expired (`sessions.end_reason`): the protocol's reasons but `expired`, which is computed. */
export type SessionEndReason = Exclude<SessionEnded['reason'], 'expired'>;

/** A live session with its user and practice, as `findActiveByTokenHash` selects it. */
interface ActiveSessionRow {
  id: string;
  user_id: string;
  device_id: string;
  practice_id: string;
  ods_code: string;
  roles: Role[];
  display_name: string;
  expires_at: Date;
  seen_at: Date;
  idle_expires_at: Date;
}

/** A session's state flags (STATE_FLAGS) with when it ends. */
interface SessionStateRow {
  id: string;
  user_id: string;
  device_id: string;
  expires_at: Date;
  last_seen_at: Date;
  end_reason: SessionEndReason | null;
  is_expired: boolean;
  is_idle: boolean;
  ends_at: Date;
  is_device_revoked: boolean;
  is_user_deactivated: boolean;
}

/** A live session with who it stands for. */
export interface ActiveSession {
  actor: Actor;
  expiresAt: Date;
  /** When it ends unless used again before (its idle timeout, counted from when it was last seen). */
  idleExpiresAt: Date;
  /** When it was last marked seen (now, if this read marked it). */
  lastSeenAt: Date;
}

/** Minutes of inactivity after which a session ends, by kind of user. */
export interface IdleTimeouts {
  staffMinutes: number;
  patientMinutes: number;
}

/** Why a session may no longer be used, as the database sees it now. */
export interface SessionState {
  userId: string;
  deviceId: string;
  endReason: SessionEndReason | null;
  isExpired: boolean;
  /** Unused for longer than its idle timeout. */
  isIdle: boolean;
  /** When it expires, or sooner goes idle, unless used again (what a socket's timer waits for). */
  endsAt: Date;
  /** Its absolute expiry. */
  expiresAt: Date;
  /** When it was last marked seen (written at most once a minute: LAST_SEEN_RESOLUTION_MS). */
  lastSeenAt: Date;
  isDeviceRevoked: boolean;
  isUserDeactivated: boolean;
}

/**
 * last_seen_at is written at most once a minute per session, so busy clients cause no write storm (a session may
 * therefore go idle up to a minute before its idle timeout after its last use).
 */
export const LAST_SEEN_RESOLUTION_MS = 60_000;
const LAST_SEEN_RESOLUTION = `interval '1 minute'`;
/** The idle timeout of session `s` of user `u`; $2 and $3 are the staff and patient minutes. */
const IDLE_TIMEOUT = `make_interval(mins => CASE WHEN 'patient' = ANY(u.roles) THEN $3::int ELSE $2::int END)`;
/** Session `s` with its device `d` and user `u`. */
const SESSION_JOINS = `sessions s JOIN devices d ON d.id = s.device_id JOIN users u ON u.id = s.user_id`;
/** A SessionState's flags for session `s` (from SESSION_JOINS), as of now. */
const STATE_FLAGS = `s.expires_at <= now() AS is_expired, s.last_seen_at <= now() - ${IDLE_TIMEOUT} AS is_idle,
                d.revoked_at IS NOT NULL AS is_device_revoked, u.deactivated_at IS NOT NULL AS is_user_deactivated`;

/**
 * `findActiveByTokenHash`'s statement, prepared: every socket handshake and authenticated request runs it, and PostgreSQL
 * took longer to plan it than to run it (sql.ts, `Prepared`).
 */
const FIND_ACTIVE = prepared(
  'sessions.find-active',
  `WITH found AS (
     SELECT s.id, s.user_id, s.device_id, s.expires_at, s.last_seen_at, ${IDLE_TIMEOUT} AS idle_timeout, u.practice_id, p.ods_code, u.roles, u.display_name
       FROM sessions s
       JOIN devices d ON d.id = s.device_id
       JOIN users u ON u.id = s.user_id
       JOIN practices p ON p.id = u.practice_id
      WHERE s.token_hash = $1 AND s.revoked_at IS NULL AND s.expires_at > now() AND s.last_seen_at > now() - ${IDLE_TIMEOUT}
        AND d.revoked_at IS NULL AND u.deactivated_at IS NULL),
   touched AS (
     UPDATE sessions SET last_seen_at = now()
      WHERE id IN (SELECT id FROM found WHERE last_seen_at < now() - ${LAST_SEEN_RESOLUTION})
     RETURNING id, last_seen_at)
   SELECT found.*, COALESCE(touched.last_seen_at, found.last_seen_at) AS seen_at,
          COALESCE(touched.last_seen_at, found.last_seen_at) + found.idle_timeout AS idle_expires_at
     FROM found LEFT JOIN touched ON touched.id = found.id`,
);

/** Every query of sessions: resolving tokens, checking them on each command, ending them. */
@Injectable()
export class SessionsRepository {
  constructor(private readonly dataSource: DataSource) {}

  /** The live session (not expired, not idle, not revoked, device not revoked, user active) whose token has this hash; marks it seen. */
  async findActiveByTokenHash(tokenHash: Buffer, idle: IdleTimeouts): Promise<ActiveSession | null> {
    const row = await one<ActiveSessionRow>(this.dataSource, FIND_ACTIVE, [tokenHash, idle.staffMinutes, idle.patientMinutes]);
    if (!row) return null;
    return {
      actor: {
        userId: row.user_id,
        deviceId: row.device_id,
        sessionId: row.id,
        practiceId: row.practice_id,
        practiceOdsCode: row.ods_code,
        roles: row.roles,
        displayName: row.display_name,
      },
      expiresAt: row.expires_at,
      idleExpiresAt: row.idle_expires_at,
      lastSeenAt: row.seen_at,
    };
  }

  /**
   * The state of one session, its device and its user (one primary-key lookup per table); null if there is
   * no such session. With `isActivity` (a command, not a timer's check) a live session is marked seen, at
   * most once a minute: no write per socket command.
   */
  async findState(sessionId: string, idle: IdleTimeouts, isActivity: boolean): Promise<SessionState | null> {
    const row = await one<SessionStateRow>(
      this.dataSource,
      `WITH state AS (
         SELECT s.id, s.user_id, s.device_id, s.end_reason, s.expires_at, s.last_seen_at AS seen_at, ${IDLE_TIMEOUT} AS idle_timeout, ${STATE_FLAGS}
           FROM ${SESSION_JOINS}
          WHERE s.id = $1),
       touched AS (
         UPDATE sessions SET last_seen_at = now()
          WHERE $4 AND id IN (SELECT id FROM state WHERE end_reason IS NULL AND NOT (is_expired OR is_idle OR is_device_revoked OR is_user_deactivated)
                                                      AND seen_at < now() - ${LAST_SEEN_RESOLUTION})
         RETURNING last_seen_at),
       seen AS (SELECT COALESCE((SELECT last_seen_at FROM touched), state.seen_at) AS last_seen_at, state.* FROM state)
       SELECT seen.*, LEAST(seen.expires_at, seen.last_seen_at + seen.idle_timeout) AS ends_at FROM seen`,
      [sessionId, idle.staffMinutes, idle.patientMinutes, isActivity],
    );
    return row ? toSessionState(row) : null;
  }

  /**
   * The state of each of these sessions that exists, by id, in one query (a node's periodic check of all its
   * sockets' sessions). Never marks them seen: a check is not use.
   */
  async findStates(sessionIds: readonly string[], idle: IdleTimeouts): Promise<Map<string, SessionState>> {
    const states = await rows<SessionStateRow>(
      this.dataSource,
      `SELECT s.id, s.user_id, s.device_id, s.end_reason, s.expires_at, s.last_seen_at, LEAST(s.expires_at, s.last_seen_at + ${IDLE_TIMEOUT}) AS ends_at, ${STATE_FLAGS}
         FROM ${SESSION_JOINS}
        WHERE s.id = ANY($1::uuid[])`,
      [sessionIds, idle.staffMinutes, idle.patientMinutes],
    );
    return new Map(states.map((row) => [row.id, toSessionState(row)]));
  }

  /** Ends one session (if still open). */
  async revoke(sessionId: string, reason: SessionEndReason): Promise<void> {
    await run(this.dataSource, `UPDATE sessions SET revoked_at = now(), end_reason = $2 WHERE id = $1 AND revoked_at IS NULL`, [sessionId, reason]);
  }

  /** Ends every open session of a user; returns how many were open. */
  async revokeAllOfUser(userId: string, reason: SessionEndReason): Promise<number> {
    const ended = await rows<{ id: string }>(
      this.dataSource,
      `UPDATE sessions SET revoked_at = now(), end_reason = $2 WHERE user_id = $1 AND revoked_at IS NULL RETURNING id`,
      [userId, reason],
    );
    return ended.length;
  }
}

function toSessionState(row: SessionStateRow): SessionState {
  return {
    userId: row.user_id,
    deviceId: row.device_id,
    endReason: row.end_reason,
    isExpired: row.is_expired,
    isIdle: row.is_idle,
    endsAt: row.ends_at,
    expiresAt: row.expires_at,
    lastSeenAt: row.last_seen_at,
    isDeviceRevoked: row.is_device_revoked,
    isUserDeactivated: row.is_user_deactivated,
  };
}
