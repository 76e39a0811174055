import { Injectable } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { rows, run } from '../database/sql.js';

/** What a rate limit counts: an account (hash of practice and login), an activation code (hash), an IP address, or a user's backup downloads. */
export type AttemptScope = 'account' | 'code' | 'ip' | 'backup' | 'upload';

/** One limit an attempt counts against: at most `limit` attempts per `windowMinutes` for this subject (or, for a delay, `limit` free ones). */
export interface AttemptLimit {
  scope: AttemptScope;
  subject: string;
  limit: number;
  windowMinutes: number;
}

// Rows older than the longest window (a day, the configurable maximum) no longer count; each write prunes a few.
const RETENTION = `interval '1 day'`;
const PRUNE_BATCH = 200;

/** Per limit, in order: attempts inside its window (the new one included), how old the oldest of them is, and how old the newest other one is. */
export interface AttemptCounts {
  ids: string[];
  counts: number[];
  oldestAgeSeconds: number[];
  /** Null when this attempt is the subject's only one in the window. */
  previousAgeSeconds: (number | null)[];
}

/** Every query of the rate limits, on the auth_attempts table (shared by every gateway node). */
@Injectable()
export class AuthAttemptsRepository {
  constructor(private readonly dataSource: DataSource) {}

  /**
   * Records one attempt per limit, then counts each subject's attempts inside its window, this one
   * included, with their ages by the database's clock. Recording first means concurrent attempts always see each other.
   */
  async recordAndCount(limits: readonly AttemptLimit[]): Promise<AttemptCounts> {
    const scopes = limits.map((limit) => limit.scope);
    const subjects = limits.map((limit) => limit.subject);
    const inserted = await rows<{ id: string }>(
      this.dataSource,
      `INSERT INTO auth_attempts (scope, subject) SELECT * FROM unnest($1::text[], $2::text[]) RETURNING id`,
      [scopes, subjects],
    );
    const ids = inserted.map((row) => String(row.id));
    const counted = await rows<{ n: number; oldest_age: number; previous_age: number | null }>(
      this.dataSource,
      `SELECT c.n, c.oldest_age, c.previous_age
         FROM unnest($1::text[], $2::text[], $3::int[]) WITH ORDINALITY AS l(scope, subject, minutes, position)
         CROSS JOIN LATERAL (
           SELECT count(*)::int AS n, extract(epoch FROM now() - min(a.created_at))::float8 AS oldest_age,
                  extract(epoch FROM now() - max(a.created_at) FILTER (WHERE a.id <> ALL($4::bigint[])))::float8 AS previous_age
             FROM auth_attempts a
            WHERE a.scope = l.scope AND a.subject = l.subject AND a.created_at > now() - make_interval(mins => l.minutes)) c
        ORDER BY l.position`,
      [scopes, subjects, limits.map((limit) => limit.windowMinutes), ids],
    );
    await run(
      this.dataSource,
      `DELETE FROM auth_attempts WHERE id IN (SELECT id FROM auth_attempts WHERE created_at < now() - ${RETENTION} ORDER BY created_at LIMIT ${PRUNE_BATCH})`,
    );
    return {
      ids,
      counts: counted.map((row) => row.n),
      oldestAgeSeconds: counted.map((row) => Math.max(row.oldest_age, 0)),
      previousAgeSeconds: counted.map((row) => (row.previous_age === null ? null : Math.max(row.previous_age, 0))),
    };
  }

  /** Forgets attempts by id (an attempt that succeeded, or one refused before it was tried). */
  async forget(ids: readonly string[]): Promise<void> {
    if (ids.length === 0) return;
    await run(this.dataSource, `DELETE FROM auth_attempts WHERE id = ANY($1::bigint[])`, [ids]);
  }

  /** Forgets every attempt against one subject (a successful sign-in clears its account's failures). */
  async forgetSubject(scope: AttemptScope, subject: string): Promise<void> {
    await run(this.dataSource, `DELETE FROM auth_attempts WHERE scope = $1 AND subject = $2`, [scope, subject]);
  }
}
