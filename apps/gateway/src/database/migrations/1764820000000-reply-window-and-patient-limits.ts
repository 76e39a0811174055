import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Issue #14, points 4 and 5. The staff-only `staff_after_closing` setting becomes the practice's reply window: after
 * closing, a conversation a clinician has taken stays two-way for both sides until it ends (same three choices,
 * renamed for what they now mean). Practice settings gain the per-patient limits on `conversation:open`; existing
 * and new rows get the defaults (1 open at once, 3 new a day; docs/clinical-safety.md says why), NULL is no limit.
 */
export class ReplyWindowAndPatientLimits1764820000000 implements MigrationInterface {
  name = 'ReplyWindowAndPatientLimits1764820000000';

  async up(db: QueryRunner): Promise<void> {
    await db.query(`ALTER TABLE opening_hours_settings DROP CONSTRAINT IF EXISTS opening_hours_settings_staff_after_closing_check`);
    await db.query(`ALTER TABLE opening_hours_settings RENAME COLUMN staff_after_closing TO reply_window`);
    await db.query(`ALTER TABLE opening_hours_settings ALTER COLUMN reply_window SET DEFAULT 'end_of_day'`);
    await db.query(`
      UPDATE opening_hours_settings SET reply_window = CASE reply_window
        WHEN 'read_only' THEN 'none' WHEN 'reply_anytime' THEN 'until_closed' ELSE 'end_of_day' END`);
    await db.query(
      `ALTER TABLE opening_hours_settings ADD CONSTRAINT opening_hours_settings_reply_window_check CHECK (reply_window IN ('none', 'end_of_day', 'until_closed'))`,
    );
    await db.query(`
      ALTER TABLE practice_settings
        ADD COLUMN max_open_per_patient integer DEFAULT 1 CHECK (max_open_per_patient BETWEEN 1 AND 100),
        ADD COLUMN max_new_per_patient_per_day integer DEFAULT 3 CHECK (max_new_per_patient_per_day BETWEEN 1 AND 100)`);
  }

  async down(db: QueryRunner): Promise<void> {
    await db.query(`ALTER TABLE practice_settings DROP COLUMN max_open_per_patient, DROP COLUMN max_new_per_patient_per_day`);
    await db.query(`ALTER TABLE opening_hours_settings DROP CONSTRAINT opening_hours_settings_reply_window_check`);
    await db.query(`
      UPDATE opening_hours_settings SET reply_window = CASE reply_window
        WHEN 'none' THEN 'read_only' WHEN 'until_closed' THEN 'reply_anytime' ELSE 'reply_until_end_of_day' END`);
    await db.query(`ALTER TABLE opening_hours_settings RENAME COLUMN reply_window TO staff_after_closing`);
    await db.query(`ALTER TABLE opening_hours_settings ALTER COLUMN staff_after_closing SET DEFAULT 'reply_until_end_of_day'`);
    await db.query(
      `ALTER TABLE opening_hours_settings ADD CONSTRAINT opening_hours_settings_staff_after_closing_check CHECK (staff_after_closing IN ('read_only', 'reply_until_end_of_day', 'reply_anytime'))`,
    );
  }
}
