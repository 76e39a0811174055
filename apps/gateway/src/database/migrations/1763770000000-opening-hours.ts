import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Opening hours: the weekly schedule (several intervals a day, local minutes; an end of 1440 is
 * "until midnight"), dated exceptions (closed, or special hours, as a JSON list of intervals), the
 * practice's hours settings, and one row per closing that was announced, so that with several gateway
 * nodes each closing notice is posted once. A practice with no weekly rows is always open.
 */
export class OpeningHours1763770000000 implements MigrationInterface {
  name = 'OpeningHours1763770000000';

  async up(db: QueryRunner): Promise<void> {
    await db.query(`
      CREATE TABLE opening_hours_settings (
        practice_id uuid PRIMARY KEY REFERENCES practices(id),
        cutoff_minutes integer NOT NULL DEFAULT 15 CHECK (cutoff_minutes BETWEEN 0 AND 720),
        closing_soon_minutes integer NOT NULL DEFAULT 15 CHECK (closing_soon_minutes BETWEEN 0 AND 720),
        staff_after_closing text NOT NULL DEFAULT 'reply_until_end_of_day'
          CHECK (staff_after_closing IN ('read_only', 'reply_until_end_of_day', 'reply_anytime')),
        observes_bank_holidays boolean NOT NULL DEFAULT true,
        updated_at timestamptz NOT NULL DEFAULT now()
      )`);
    await db.query(`
      CREATE TABLE opening_hours_intervals (
        id uuid PRIMARY KEY,
        practice_id uuid NOT NULL REFERENCES practices(id),
        weekday smallint NOT NULL CHECK (weekday BETWEEN 1 AND 7),
        start_minute integer NOT NULL CHECK (start_minute BETWEEN 0 AND 1439),
        end_minute integer NOT NULL CHECK (end_minute BETWEEN 1 AND 1440),
        CHECK (end_minute > start_minute),
        UNIQUE (practice_id, weekday, start_minute)
      )`);
    await db.query(`
      CREATE TABLE opening_hours_exceptions (
        practice_id uuid NOT NULL REFERENCES practices(id),
        date date NOT NULL,
        label text NOT NULL CHECK (length(label) BETWEEN 1 AND 100),
        intervals jsonb NOT NULL CHECK (jsonb_typeof(intervals) = 'array'),
        updated_at timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (practice_id, date)
      )`);
    await db.query(`
      CREATE TABLE opening_hours_closings (
        practice_id uuid NOT NULL REFERENCES practices(id),
        closed_at timestamptz NOT NULL,
        announced_at timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (practice_id, closed_at)
      )`);
  }

  async down(db: QueryRunner): Promise<void> {
    await db.query(`DROP TABLE opening_hours_closings`);
    await db.query(`DROP TABLE opening_hours_exceptions`);
    await db.query(`DROP TABLE opening_hours_intervals`);
    await db.query(`DROP TABLE opening_hours_settings`);
  }
}
