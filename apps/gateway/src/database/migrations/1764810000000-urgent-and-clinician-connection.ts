import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * A conversation's urgent mark (set by the patient's device after the red-flag advice: urgent ones head
 * the queue) and whether a clinician has a live staff socket (only connected clinicians take new work).
 */
export class UrgentAndClinicianConnection1764810000000 implements MigrationInterface {
  name = 'UrgentAndClinicianConnection1764810000000';

  async up(db: QueryRunner): Promise<void> {
    await db.query(`ALTER TABLE conversations ADD COLUMN urgent_at timestamptz`);
    // Queue order: urgent first by when they were marked, then by waiting time.
    await db.query(`DROP INDEX conversations_waiting`);
    await db.query(`CREATE INDEX conversations_waiting ON conversations (practice_id, urgent_at, queued_at, id) WHERE status = 'waiting'`);
    // When the clinician's newest live connection began; null while they have none (every node restarts on deploy, so sockets connect again).
    await db.query(`ALTER TABLE clinician_capacity ADD COLUMN connected_at timestamptz`);
    // Audit action names may carry an underscore (`conversation.marked_urgent`).
    await db.query(`ALTER TABLE audit_events DROP CONSTRAINT audit_events_action_check`);
    await db.query(`ALTER TABLE audit_events ADD CONSTRAINT audit_events_action_check CHECK (action ~ '^[a-z][a-z_-]{0,39}\\.[a-z][a-z_-]{0,39}$')`);
  }

  async down(db: QueryRunner): Promise<void> {
    await db.query(`ALTER TABLE audit_events DROP CONSTRAINT audit_events_action_check`);
    await db.query(`ALTER TABLE audit_events ADD CONSTRAINT audit_events_action_check CHECK (action ~ '^[a-z][a-z-]{0,39}\\.[a-z][a-z-]{0,39}$') NOT VALID`);
    await db.query(`ALTER TABLE clinician_capacity DROP COLUMN connected_at`);
    await db.query(`DROP INDEX conversations_waiting`);
    await db.query(`CREATE INDEX conversations_waiting ON conversations (practice_id, queued_at, id) WHERE status = 'waiting'`);
    await db.query(`ALTER TABLE conversations DROP COLUMN urgent_at`);
  }
}
