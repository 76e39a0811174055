import type { EntityManager } from 'typeorm';

/**
 * Opens a practice around the clock (00:00–24:00 every day, bank holidays too), so the demo practice
 * is open whenever someone tries it. Run inside the seed's transaction.
 */
export async function seedAlwaysOpenHours(db: Pick<EntityManager, 'query'>, practiceId: string): Promise<void> {
  await db.query(`INSERT INTO opening_hours_settings (practice_id, observes_bank_holidays) VALUES ($1, false)`, [practiceId]);
  await db.query(
    `INSERT INTO opening_hours_intervals (id, practice_id, weekday, start_minute, end_minute)
     SELECT gen_random_uuid(), $1, weekday, 0, 1440 FROM generate_series(1, 7) AS weekday`,
    [practiceId],
  );
}
