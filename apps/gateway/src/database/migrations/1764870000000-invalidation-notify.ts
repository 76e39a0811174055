import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Tells every gateway node, on channel `parley_invalidate`, the moment a row its in-memory caches hold changes
 * (docs/decisions/0006-cache-invalidation-listen-notify.md). The payload is `<kind>:<id>`:
 * - `session:<id>`: a session's end, expiry or a last use moved back (an operator's or a test's edit); plain use
 *   moves `last_seen_at` forward once a minute and is not announced (a cache that misses it only rechecks sooner);
 * - `session_ended:<id>`: besides `session:<id>`, when the session was revoked or signed out just now (the nodes
 *   then also close its sockets);
 * - `device:<id>`: a device was revoked (or un-revoked);
 * - `user:<id>`: an account was deactivated, or its roles or practice changed;
 * - `conversation:<id>`: a conversation's status, assignee, patient or practice changed, or it was deleted.
 *   Never for `last_seq` / `last_hash`, which the record writer moves on every batch.
 * NOTIFY is transactional: the nodes hear it at COMMIT, never for a rolled-back change.
 */
export class InvalidationNotify1764870000000 implements MigrationInterface {
  name = 'InvalidationNotify1764870000000';

  async up(db: QueryRunner): Promise<void> {
    await db.query(`
      CREATE FUNCTION notify_invalidation() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        -- TG_ARGV[0] is the kind; the row's id completes the payload.
        IF TG_OP = 'DELETE' THEN
          PERFORM pg_notify('parley_invalidate', TG_ARGV[0] || ':' || OLD.id::text);
        ELSE
          PERFORM pg_notify('parley_invalidate', TG_ARGV[0] || ':' || NEW.id::text);
        END IF;
        RETURN NULL;
      END $$`);
    await db.query(`
      CREATE TRIGGER sessions_notify_invalidation AFTER UPDATE ON sessions FOR EACH ROW
      WHEN (OLD.revoked_at IS DISTINCT FROM NEW.revoked_at OR OLD.end_reason IS DISTINCT FROM NEW.end_reason
            OR OLD.expires_at IS DISTINCT FROM NEW.expires_at OR NEW.last_seen_at < OLD.last_seen_at)
      EXECUTE FUNCTION notify_invalidation('session')`);
    await db.query(`
      CREATE TRIGGER sessions_notify_ended AFTER UPDATE ON sessions FOR EACH ROW
      WHEN (OLD.revoked_at IS NULL AND NEW.revoked_at IS NOT NULL)
      EXECUTE FUNCTION notify_invalidation('session_ended')`);
    await db.query(`CREATE TRIGGER sessions_notify_deleted AFTER DELETE ON sessions FOR EACH ROW EXECUTE FUNCTION notify_invalidation('session')`);
    await db.query(`
      CREATE TRIGGER devices_notify_invalidation AFTER UPDATE ON devices FOR EACH ROW
      WHEN (OLD.revoked_at IS DISTINCT FROM NEW.revoked_at)
      EXECUTE FUNCTION notify_invalidation('device')`);
    await db.query(`
      CREATE TRIGGER users_notify_invalidation AFTER UPDATE ON users FOR EACH ROW
      WHEN (OLD.deactivated_at IS DISTINCT FROM NEW.deactivated_at OR OLD.roles IS DISTINCT FROM NEW.roles OR OLD.practice_id IS DISTINCT FROM NEW.practice_id)
      EXECUTE FUNCTION notify_invalidation('user')`);
    await db.query(`
      CREATE TRIGGER conversations_notify_invalidation AFTER UPDATE ON conversations FOR EACH ROW
      WHEN (OLD.status IS DISTINCT FROM NEW.status OR OLD.assigned_clinician_id IS DISTINCT FROM NEW.assigned_clinician_id
            OR OLD.patient_id IS DISTINCT FROM NEW.patient_id OR OLD.practice_id IS DISTINCT FROM NEW.practice_id)
      EXECUTE FUNCTION notify_invalidation('conversation')`);
    await db.query(
      `CREATE TRIGGER conversations_notify_deleted AFTER DELETE ON conversations FOR EACH ROW EXECUTE FUNCTION notify_invalidation('conversation')`,
    );
  }

  async down(db: QueryRunner): Promise<void> {
    await db.query(`DROP TRIGGER conversations_notify_deleted ON conversations`);
    await db.query(`DROP TRIGGER conversations_notify_invalidation ON conversations`);
    await db.query(`DROP TRIGGER users_notify_invalidation ON users`);
    await db.query(`DROP TRIGGER devices_notify_invalidation ON devices`);
    await db.query(`DROP TRIGGER sessions_notify_deleted ON sessions`);
    await db.query(`DROP TRIGGER sessions_notify_ended ON sessions`);
    await db.query(`DROP TRIGGER sessions_notify_invalidation ON sessions`);
    await db.query(`DROP FUNCTION notify_invalidation()`);
  }
}
