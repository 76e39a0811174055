import { Injectable } from '@nestjs/common';
import type { AuditEvent, AuditQuery } from '@parley/protocol';
import { DataSource } from 'typeorm';
import { prepared, rows, run, type Db } from '../database/sql.js';

/** An audit event to append: the protocol's event, of a practice, before the database gives it its id. */
export type NewAuditEvent = Omit<AuditEvent, 'id' | 'createdAt'> & { practiceId: string; createdAt: Date };

/**
 * What the log viewer narrows the practice's events to; every field optional: the protocol's query filters, with
 * the times parsed and `beforeId` (only events with a smaller id, the previous page's last) for its `before`.
 */
export type AuditFilter = Pick<AuditQuery, 'actorUserId' | 'subjectUserId' | 'conversationId' | 'actorName' | 'subjectName' | 'action'> & {
  from?: Date;
  to?: Date;
  beforeId?: string;
};

/** An `audit_events` row as `find` selects it (the bigint id as text). */
interface AuditRow {
  id: string;
  actor_user_id: string | null;
  actor_device_id: string | null;
  action: AuditEvent['action'];
  subject_user_id: string | null;
  conversation_id: string | null;
  data: Record<string, unknown>;
  created_at: Date;
}

const toAuditEvent = (row: AuditRow): AuditEvent => ({
  id: row.id,
  actorUserId: row.actor_user_id,
  actorDeviceId: row.actor_device_id,
  action: row.action,
  subjectUserId: row.subject_user_id,
  conversationId: row.conversation_id,
  data: row.data,
  createdAt: row.created_at.toISOString(),
});

/** `appendAll`'s statement, prepared: every open and routing pass appends events (sql.ts, `Prepared`). */
const APPEND_EVENTS = prepared(
  'audit.append',
  `INSERT INTO audit_events (practice_id, actor_user_id, actor_device_id, action, subject_user_id, conversation_id, data, created_at)
   SELECT practice_id, actor_user_id, actor_device_id, action, subject_user_id, conversation_id, data, created_at
     FROM unnest($1::uuid[], $2::uuid[], $3::uuid[], $4::text[], $5::uuid[], $6::uuid[], $7::jsonb[], $8::timestamptz[]) WITH ORDINALITY
     AS v(practice_id, actor_user_id, actor_device_id, action, subject_user_id, conversation_id, data, created_at, position)
    ORDER BY position`,
);

/** Every query of the audit trail. The table is append-only (the database refuses UPDATE, DELETE, TRUNCATE). */
@Injectable()
export class AuditRepository {
  constructor(private readonly dataSource: DataSource) {}

  /** Appends one event; `db` runs it inside a caller's transaction (it then commits, or is lost, with the caller's own rows). */
  async append(event: NewAuditEvent, db: Db = this.dataSource): Promise<void> {
    await this.appendAll([event], db);
  }

  /** Appends events in one statement, in order; `db` as for `append`. */
  async appendAll(events: readonly NewAuditEvent[], db: Db = this.dataSource): Promise<void> {
    if (events.length === 0) return;
    await run(db, APPEND_EVENTS, [
      events.map((event) => event.practiceId),
      events.map((event) => event.actorUserId),
      events.map((event) => event.actorDeviceId),
      events.map((event) => event.action),
      events.map((event) => event.subjectUserId),
      events.map((event) => event.conversationId),
      events.map((event) => JSON.stringify(event.data)),
      events.map((event) => event.createdAt),
    ]);
  }

  /** Up to `limit` events of one practice matching the filter, newest (highest id) first. */
  async find(practiceId: string, filter: AuditFilter, limit: number): Promise<AuditEvent[]> {
    const conditions = ['practice_id = $1'];
    const parameters: unknown[] = [practiceId];
    const where = (sql: string, value: unknown) => {
      parameters.push(value);
      conditions.push(sql.replace('?', `$${parameters.length}`));
    };
    if (filter.actorUserId) where('actor_user_id = ?', filter.actorUserId);
    if (filter.subjectUserId) where('subject_user_id = ?', filter.subjectUserId);
    if (filter.conversationId) where('conversation_id = ?', filter.conversationId);
    // Names are matched among the practice's own users only ($1), as a literal part of the name (no LIKE wildcards).
    if (filter.actorName)
      where(`actor_user_id IN (SELECT id FROM users WHERE practice_id = $1 AND strpos(lower(display_name), lower(?)) > 0)`, filter.actorName);
    if (filter.subjectName)
      where(`subject_user_id IN (SELECT id FROM users WHERE practice_id = $1 AND strpos(lower(display_name), lower(?)) > 0)`, filter.subjectName);
    if (filter.action) where('action = ?', filter.action);
    if (filter.from) where('created_at >= ?', filter.from);
    if (filter.to) where('created_at < ?', filter.to);
    if (filter.beforeId) where('id < ?::bigint', filter.beforeId);
    parameters.push(limit);
    // By the bigint column, not the text `id` the select list makes of it ("9" would sort after "10").
    const found = await rows<AuditRow>(
      this.dataSource,
      `SELECT id::text AS id, actor_user_id, actor_device_id, action, subject_user_id, conversation_id, data, created_at
         FROM audit_events WHERE ${conditions.join(' AND ')} ORDER BY audit_events.id DESC LIMIT $${parameters.length}`,
      parameters,
    );
    return found.map(toAuditEvent);
  }

  /** The display names of those of `userIds` who are users of the practice, by id. */
  async names(practiceId: string, userIds: readonly string[]): Promise<Record<string, string>> {
    if (userIds.length === 0) return {};
    const users = await rows<{ id: string; display_name: string }>(
      this.dataSource,
      `SELECT id, display_name FROM users WHERE practice_id = $1 AND id = ANY($2::uuid[])`,
      [practiceId, [...new Set(userIds)]],
    );
    return Object.fromEntries(users.map((row) => [row.id, row.display_name]));
  }
}
