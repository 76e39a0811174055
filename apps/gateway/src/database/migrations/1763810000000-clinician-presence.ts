import type { MigrationInterface, QueryRunner } from 'typeorm';

/** When an available clinician's last socket went away: after a grace period their work returns to the queue. */
export class ClinicianPresence1763810000000 implements MigrationInterface {
  name = 'ClinicianPresence1763810000000';

  async up(db: QueryRunner): Promise<void> {
    await db.query(`ALTER TABLE clinician_capacity ADD COLUMN disconnected_at timestamptz`);
  }

  async down(db: QueryRunner): Promise<void> {
    await db.query(`ALTER TABLE clinician_capacity DROP COLUMN disconnected_at`);
  }
}
