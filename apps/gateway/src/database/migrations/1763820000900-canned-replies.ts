import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Practice-wide canned replies: templates a clinician inserts into a message, written by managers.
 * Stored as plaintext on purpose (docs/protocol.md, "Canned replies"): they are practice boilerplate,
 * never patient data, and the message a clinician sends with one is encrypted by the client like any other.
 */
export class CannedReplies1763820000900 implements MigrationInterface {
  name = 'CannedReplies1763820000900';

  async up(db: QueryRunner): Promise<void> {
    await db.query(`
      CREATE TABLE canned_replies (
        id uuid PRIMARY KEY,
        practice_id uuid NOT NULL REFERENCES practices(id),
        title text NOT NULL CHECK (length(title) BETWEEN 1 AND 80),
        text text NOT NULL CHECK (length(text) BETWEEN 1 AND 2000),
        created_at timestamptz NOT NULL,
        updated_at timestamptz NOT NULL,
        updated_by uuid NOT NULL REFERENCES users(id)
      )`);
    await db.query(`CREATE INDEX canned_replies_practice ON canned_replies (practice_id, title)`);
  }

  async down(db: QueryRunner): Promise<void> {
    await db.query(`DROP TABLE canned_replies`);
  }
}
