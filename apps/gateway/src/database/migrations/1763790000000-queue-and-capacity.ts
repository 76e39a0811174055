import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * The live queue: a conversation waits, is assigned to one clinician, may be held, and is closed.
 * Per-clinician caps and availability, practice limits, and the history of assignments (daily caps,
 * audit, reply-time estimates).
 */
export class QueueAndCapacity1763790000000 implements MigrationInterface {
  name = 'QueueAndCapacity1763790000000';

  async up(db: QueryRunner): Promise<void> {
    await db.query(`ALTER TABLE conversations DROP CONSTRAINT IF EXISTS conversations_status_check`);
    await db.query(`UPDATE conversations SET status = 'waiting' WHERE status = 'open'`);
    await db.query(`ALTER TABLE conversations ALTER COLUMN status SET DEFAULT 'waiting'`);
    await db.query(`ALTER TABLE conversations ADD CONSTRAINT conversations_status_check CHECK (status IN ('waiting', 'assigned', 'on_hold', 'closed'))`);
    await db.query(`ALTER TABLE conversations ADD COLUMN assigned_clinician_id uuid REFERENCES users(id)`);
    await db.query(`ALTER TABLE conversations ADD COLUMN assigned_at timestamptz`);
    // Where the conversation stands in the queue: its opening time, or earlier when handed back to the head.
    await db.query(`ALTER TABLE conversations ADD COLUMN queued_at timestamptz`);
    await db.query(`UPDATE conversations SET queued_at = created_at`);
    await db.query(`ALTER TABLE conversations ALTER COLUMN queued_at SET NOT NULL`);
    await db.query(`ALTER TABLE conversations ALTER COLUMN queued_at SET DEFAULT now()`);
    await db.query(`ALTER TABLE conversations ADD CONSTRAINT conversations_assignee_matches_status
      CHECK ((status IN ('assigned', 'on_hold')) = (assigned_clinician_id IS NOT NULL))`);
    await db.query(`CREATE INDEX conversations_waiting ON conversations (practice_id, queued_at, id) WHERE status = 'waiting'`);
    await db.query(`CREATE INDEX conversations_assignee ON conversations (assigned_clinician_id) WHERE status IN ('assigned', 'on_hold')`);
    await db.query(`
      CREATE TABLE clinician_capacity (
        user_id uuid PRIMARY KEY REFERENCES users(id),
        practice_id uuid NOT NULL REFERENCES practices(id),
        max_concurrent integer NOT NULL DEFAULT 3 CHECK (max_concurrent BETWEEN 0 AND 50),
        daily_max integer CHECK (daily_max BETWEEN 0 AND 1000),
        availability text NOT NULL DEFAULT 'offline' CHECK (availability IN ('available', 'away', 'offline')),
        last_assigned_at timestamptz,
        updated_at timestamptz NOT NULL DEFAULT now()
      )`);
    await db.query(`CREATE INDEX clinician_capacity_practice ON clinician_capacity (practice_id)`);
    await db.query(`
      CREATE TABLE practice_capacity (
        practice_id uuid PRIMARY KEY REFERENCES practices(id),
        max_queue integer CHECK (max_queue BETWEEN 0 AND 100000),
        max_new_per_day integer CHECK (max_new_per_day BETWEEN 0 AND 100000),
        is_intake_paused boolean NOT NULL DEFAULT false,
        updated_at timestamptz NOT NULL DEFAULT now()
      )`);
    await db.query(`
      CREATE TABLE assignments (
        id uuid PRIMARY KEY,
        conversation_id uuid NOT NULL REFERENCES conversations(id),
        clinician_id uuid NOT NULL REFERENCES users(id),
        practice_id uuid NOT NULL REFERENCES practices(id),
        how text NOT NULL CHECK (how IN ('auto', 'claim', 'transfer')),
        assigned_at timestamptz NOT NULL,
        ended_at timestamptz
      )`);
    // At most one live assignment per conversation, whatever races happen between nodes.
    await db.query(`CREATE UNIQUE INDEX assignments_one_live ON assignments (conversation_id) WHERE ended_at IS NULL`);
    await db.query(`CREATE INDEX assignments_clinician_day ON assignments (clinician_id, assigned_at)`);
  }

  async down(db: QueryRunner): Promise<void> {
    await db.query(`DROP TABLE assignments`);
    await db.query(`DROP TABLE practice_capacity`);
    await db.query(`DROP TABLE clinician_capacity`);
    await db.query(`ALTER TABLE conversations DROP CONSTRAINT conversations_assignee_matches_status`);
    await db.query(`DROP INDEX conversations_waiting`);
    await db.query(`DROP INDEX conversations_assignee`);
    await db.query(`ALTER TABLE conversations DROP COLUMN queued_at, DROP COLUMN assigned_at, DROP COLUMN assigned_clinician_id`);
    await db.query(`ALTER TABLE conversations DROP CONSTRAINT conversations_status_check`);
    await db.query(`UPDATE conversations SET status = 'open' WHERE status <> 'closed'`);
    await db.query(`ALTER TABLE conversations ALTER COLUMN status SET DEFAULT 'open'`);
    await db.query(`ALTER TABLE conversations ADD CONSTRAINT conversations_status_check CHECK (status IN ('open', 'closed'))`);
  }
}
