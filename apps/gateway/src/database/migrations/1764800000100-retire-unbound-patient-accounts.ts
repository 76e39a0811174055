import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Patients activated before invitation-bound trust hold an account key no client can chain to the
 * practice root (it has no invitation signature) and a 176-byte key backup that protocol-4 clients cannot
 * open, so they could neither be read by staff nor sign in on a new device. Their accounts are retired:
 * deactivated, sessions ended, devices revoked. Nothing is deleted: their conversations stay in the
 * record. A retired patient's NHS number is free for a new invitation (docs/operations.md, "Upgrading
 * to invitation-bound keys"), so the NHS number is unique among active accounts only.
 */
export class RetireUnboundPatientAccounts1764800000100 implements MigrationInterface {
  name = 'RetireUnboundPatientAccounts1764800000100';

  async up(db: QueryRunner): Promise<void> {
    await db.query(`DROP INDEX users_practice_nhs_number`);
    await db.query(`CREATE UNIQUE INDEX users_practice_nhs_number ON users (practice_id, nhs_number) WHERE nhs_number IS NOT NULL AND deactivated_at IS NULL`);
    await db.query(`
      CREATE TEMPORARY TABLE retired_patients ON COMMIT DROP AS
        SELECT u.id FROM users u
         WHERE 'patient' = ANY(u.roles) AND u.activated_at IS NOT NULL AND u.deactivated_at IS NULL
           AND NOT EXISTS (SELECT 1 FROM account_keys k WHERE k.user_id = u.id AND k.revoked_at IS NULL AND k.account_signature IS NOT NULL)`);
    await db.query(`UPDATE users SET deactivated_at = now() WHERE id IN (SELECT id FROM retired_patients)`);
    await db.query(`UPDATE sessions SET revoked_at = now(), end_reason = 'revoked' WHERE revoked_at IS NULL AND user_id IN (SELECT id FROM retired_patients)`);
    await db.query(`UPDATE devices SET revoked_at = now() WHERE revoked_at IS NULL AND user_id IN (SELECT id FROM retired_patients)`);
  }

  async down(db: QueryRunner): Promise<void> {
    // Retired accounts stay retired (a new account may hold the NHS number now); only the index goes back where it can.
    await db.query(`DROP INDEX users_practice_nhs_number`);
    await db.query(`CREATE UNIQUE INDEX users_practice_nhs_number ON users (practice_id, nhs_number) WHERE nhs_number IS NOT NULL`);
  }
}
