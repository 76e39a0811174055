import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * A patient invitation counts its wrong dates of birth in total (not in a sliding window) and is voided
 * at the limit, with the reason kept, so a stolen letter buys a handful of guesses, not weeks of them
 * (docs/threat-model.md, "Invitation guessing").
 */
export class InvitationAttempts1764840000000 implements MigrationInterface {
  name = 'InvitationAttempts1764840000000';

  async up(db: QueryRunner): Promise<void> {
    await db.query(`
      ALTER TABLE invitations
        ADD COLUMN failed_attempts integer NOT NULL DEFAULT 0 CHECK (failed_attempts >= 0),
        ADD COLUMN voided_at timestamptz,
        ADD COLUMN void_reason text CHECK (void_reason IN ('too_many_attempts')),
        ADD CONSTRAINT invitations_void_reason CHECK ((voided_at IS NULL) = (void_reason IS NULL))`);
  }

  async down(db: QueryRunner): Promise<void> {
    await db.query(
      `ALTER TABLE invitations DROP CONSTRAINT invitations_void_reason, DROP COLUMN void_reason, DROP COLUMN voided_at, DROP COLUMN failed_attempts`,
    );
  }
}
