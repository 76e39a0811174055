import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Practice-assisted recovery after a forgotten passphrase (flow B, docs/crypto.md): a recovery started by a
 * member of staff (the code's lookup id, recovery key and signatures, never the code), what the patient's new
 * device sent (new account key and its signature by the recovery key, new auth key hash and salt, new backup),
 * and one approval per member of staff (two accounts are needed). Rows are kept: who recovered whom is evidence.
 */
export class Recoveries1765000300000 implements MigrationInterface {
  name = 'Recoveries1765000300000';

  async up(db: QueryRunner): Promise<void> {
    await db.query(`
      CREATE TABLE recoveries (
        id uuid PRIMARY KEY,
        practice_id uuid NOT NULL REFERENCES practices(id),
        patient_id uuid NOT NULL REFERENCES users(id),
        lookup_id bytea NOT NULL UNIQUE CHECK (length(lookup_id) = 32),
        recovery_sign_public_key bytea NOT NULL CHECK (length(recovery_sign_public_key) = 32),
        recovery_signature bytea NOT NULL CHECK (length(recovery_signature) = 64),
        root_signature bytea NOT NULL CHECK (length(root_signature) = 64),
        creator_device_id uuid NOT NULL REFERENCES devices(id),
        started_by uuid NOT NULL REFERENCES users(id),
        started_at timestamptz NOT NULL DEFAULT now(),
        expires_at timestamptz NOT NULL,
        state text NOT NULL CHECK (state IN ('started', 'submitted', 'completed', 'voided')),
        failed_attempts integer NOT NULL DEFAULT 0 CHECK (failed_attempts >= 0),
        new_sign_public_key bytea CHECK (length(new_sign_public_key) = 32),
        new_box_public_key bytea CHECK (length(new_box_public_key) = 32),
        new_account_signature bytea CHECK (length(new_account_signature) = 64),
        new_auth_key_hash text CHECK (new_auth_key_hash LIKE '$argon2id$%' AND length(new_auth_key_hash) <= 256),
        new_auth_salt bytea CHECK (length(new_auth_salt) = 16),
        new_auth_ops integer CHECK (new_auth_ops BETWEEN 1 AND 20),
        new_auth_mem_bytes integer CHECK (new_auth_mem_bytes BETWEEN 8192 AND 1073741824),
        new_backup bytea CHECK (length(new_backup) = 208),
        submitted_at timestamptz,
        completed_by uuid REFERENCES users(id),
        completed_at timestamptz,
        CHECK (expires_at > started_at),
        -- what the patient sent is complete from submission on, and only then
        CHECK ((submitted_at IS NULL) = (new_sign_public_key IS NULL) AND (submitted_at IS NULL) = (new_backup IS NULL)
               AND (submitted_at IS NULL) = (new_auth_key_hash IS NULL) AND (submitted_at IS NULL) = (new_account_signature IS NULL)),
        CHECK (state NOT IN ('submitted', 'completed') OR submitted_at IS NOT NULL),
        CHECK ((state = 'completed') = (completed_at IS NOT NULL) AND (completed_at IS NULL) = (completed_by IS NULL))
      )`);
    // One open recovery per patient: a second would let two codes race for the same account.
    await db.query(`CREATE UNIQUE INDEX recoveries_one_open ON recoveries (patient_id) WHERE state IN ('started', 'submitted')`);
    await db.query(`CREATE INDEX recoveries_practice ON recoveries (practice_id, started_at DESC)`);
    await db.query(`
      CREATE TABLE recovery_approvals (
        recovery_id uuid NOT NULL REFERENCES recoveries(id),
        user_id uuid NOT NULL REFERENCES users(id),
        device_id uuid NOT NULL REFERENCES devices(id),
        approved_at timestamptz NOT NULL DEFAULT now(),
        -- one approval per account: the same person approving twice is still one person
        PRIMARY KEY (recovery_id, user_id)
      )`);
    await db.query(`CREATE TRIGGER recovery_approvals_never_deleted BEFORE DELETE ON recovery_approvals FOR EACH ROW EXECUTE FUNCTION refuse_delete()`);
    await db.query(`CREATE TRIGGER recoveries_never_deleted BEFORE DELETE ON recoveries FOR EACH ROW EXECUTE FUNCTION refuse_delete()`);
    // A completed recovery ends the patient's sessions as `keys_changed`: their devices say so, not "signed out".
    await db.query(`
      ALTER TABLE sessions DROP CONSTRAINT sessions_end_reason_check,
        ADD CONSTRAINT sessions_end_reason_check CHECK (end_reason IN ('signed_out', 'revoked', 'device_revoked', 'keys_changed'))`);
  }

  async down(db: QueryRunner): Promise<void> {
    await db.query(`UPDATE sessions SET end_reason = 'device_revoked' WHERE end_reason = 'keys_changed'`);
    await db.query(`
      ALTER TABLE sessions DROP CONSTRAINT sessions_end_reason_check,
        ADD CONSTRAINT sessions_end_reason_check CHECK (end_reason IN ('signed_out', 'revoked', 'device_revoked'))`);
    await db.query(`DROP TABLE recovery_approvals`);
    await db.query(`DROP TABLE recoveries`);
  }
}
