import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * The end of a conversation's life: the outcome it was closed with, and the follow-ups a close may
 * leave behind, listed until their owner (or a manager) marks them done. Follow-ups are never deleted.
 */
export class Lifecycle1763800000000 implements MigrationInterface {
  name = 'Lifecycle1763800000000';

  async up(db: QueryRunner): Promise<void> {
    await db.query(`ALTER TABLE conversations ADD COLUMN outcome text
      CHECK (outcome IN ('resolved', 'appointment_booked', 'follow_up', 'redirected_urgent'))`);
    // Closed conversations before this migration have no outcome; from now on a close always sets one.
    await db.query(`ALTER TABLE conversations ADD CONSTRAINT conversations_outcome_only_when_closed CHECK (outcome IS NULL OR status = 'closed')`);
    await db.query(`
      CREATE TABLE follow_ups (
        id uuid PRIMARY KEY,
        practice_id uuid NOT NULL REFERENCES practices(id),
        conversation_id uuid NOT NULL REFERENCES conversations(id),
        owner_id uuid NOT NULL REFERENCES users(id),
        due_date date NOT NULL,
        created_by uuid NOT NULL REFERENCES users(id),
        created_at timestamptz NOT NULL,
        done_at timestamptz,
        done_by uuid REFERENCES users(id),
        CHECK ((done_at IS NULL) = (done_by IS NULL))
      )`);
    await db.query(`CREATE INDEX follow_ups_open ON follow_ups (practice_id, due_date) WHERE done_at IS NULL`);
  }

  async down(db: QueryRunner): Promise<void> {
    await db.query(`DROP TABLE follow_ups`);
    await db.query(`ALTER TABLE conversations DROP CONSTRAINT conversations_outcome_only_when_closed`);
    await db.query(`ALTER TABLE conversations DROP COLUMN outcome`);
  }
}
