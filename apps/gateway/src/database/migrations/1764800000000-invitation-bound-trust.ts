import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Invitation-bound trust (docs/crypto.md, v2). A patient's invitation code is made by the inviting staff
 * browser and never reaches the server: an invitation stores the lookup id derived from it, the
 * invitation key, the creating device's signature over that key and the key's signature over the root.
 * The account key made at activation keeps the invitation key's signature over it. Staff device
 * certificates are made by the root key and name the person (display name and roles); a manager may
 * replace one (re-admission after a rename). The root signs which record key version is current.
 *
 * Existing data: patient invitations still pending were made with a server code the new clients cannot
 * use, so they expire now (rows are kept); staff devices certified under v1 lose that certificate, which
 * no v2 client accepts, until a manager admits them again (docs/operations.md). Both are one-way: `down`
 * restores the schema, not the voided invitations or certificates.
 */
export class InvitationBoundTrust1764800000000 implements MigrationInterface {
  name = 'InvitationBoundTrust1764800000000';

  async up(db: QueryRunner): Promise<void> {
    await db.query(`
      ALTER TABLE invitations
        ALTER COLUMN code_hash DROP NOT NULL,
        ADD COLUMN lookup_id bytea UNIQUE CHECK (length(lookup_id) = 32),
        ADD COLUMN invitation_sign_public_key bytea CHECK (length(invitation_sign_public_key) = 32),
        ADD COLUMN invitation_signature bytea CHECK (length(invitation_signature) = 64),
        ADD COLUMN root_signature bytea CHECK (length(root_signature) = 64),
        ADD COLUMN creator_device_id uuid REFERENCES devices(id),
        -- a staff set-up code (server-made, hashed) or a patient invitation (client-made, all of its chain)
        ADD CONSTRAINT invitations_code_or_lookup CHECK ((code_hash IS NULL) <> (lookup_id IS NULL)),
        ADD CONSTRAINT invitations_chain_complete CHECK (
          (lookup_id IS NULL AND invitation_sign_public_key IS NULL AND invitation_signature IS NULL AND root_signature IS NULL AND creator_device_id IS NULL)
          OR (lookup_id IS NOT NULL AND invitation_sign_public_key IS NOT NULL AND invitation_signature IS NOT NULL AND root_signature IS NOT NULL AND creator_device_id IS NOT NULL))`);
    await db.query(`
      UPDATE invitations i SET expires_at = now()
        FROM users u
       WHERE u.id = i.user_id AND 'patient' = ANY(u.roles) AND i.code_hash IS NOT NULL AND i.used_at IS NULL AND i.expires_at > now()`);

    await db.query(`
      ALTER TABLE account_keys
        ADD COLUMN invitation_id uuid REFERENCES invitations(id),
        ADD COLUMN account_signature bytea CHECK (length(account_signature) = 64),
        ADD CONSTRAINT account_keys_invitation_signed CHECK ((invitation_id IS NULL) = (account_signature IS NULL))`);
    await db.query(`DROP TRIGGER account_keys_kept ON account_keys`);
    await db.query(`
      CREATE TRIGGER account_keys_kept BEFORE UPDATE ON account_keys FOR EACH ROW
      EXECUTE FUNCTION keep_set_columns('id', 'user_id', 'sign_public_key', 'box_public_key', 'certificate', 'certified_by', 'certified_at', 'created_at', 'revoked_at', 'invitation_id', 'account_signature')`);

    await db.query(`
      ALTER TABLE devices
        ADD COLUMN certified_display_name text CHECK (length(certified_display_name) BETWEEN 1 AND 200),
        ADD COLUMN certified_roles text[] CHECK (cardinality(certified_roles) BETWEEN 1 AND 2 AND certified_roles <@ ARRAY['clinician', 'manager']),
        -- what a staff certificate names comes with it: both or neither, and only beside a certificate
        ADD CONSTRAINT devices_certified_as_complete CHECK ((certified_display_name IS NULL) = (certified_roles IS NULL)),
        ADD CONSTRAINT devices_certified_as_certificate CHECK (certified_roles IS NULL OR certificate IS NOT NULL)`);
    await db.query(`DROP TRIGGER devices_keys_kept ON devices`);
    await db.query(`
      UPDATE devices d SET certificate = NULL
        FROM users u
       WHERE u.id = d.user_id AND NOT ('patient' = ANY(u.roles)) AND d.certificate IS NOT NULL AND d.certified_roles IS NULL`);
    await db.query(`
      CREATE TRIGGER devices_keys_kept BEFORE UPDATE ON devices FOR EACH ROW
      EXECUTE FUNCTION keep_set_columns('id', 'user_id', 'sign_public_key', 'box_public_key', 'created_at', 'revoked_at')`);
    // A patient device's certificate (one with no certified name) is set once; a staff device's may be replaced by a manager.
    await db.query(`
      CREATE TRIGGER devices_patient_certificate_kept BEFORE UPDATE ON devices FOR EACH ROW
      WHEN (OLD.certificate IS NOT NULL AND OLD.certified_roles IS NULL)
      EXECUTE FUNCTION keep_set_columns('certificate')`);

    await db.query(`
      ALTER TABLE record_keys
        ADD COLUMN current_issued_at bigint CHECK (current_issued_at >= 0),
        ADD COLUMN current_signature bytea CHECK (length(current_signature) = 64),
        ADD CONSTRAINT record_keys_current_complete CHECK ((current_issued_at IS NULL) = (current_signature IS NULL))`);
    await db.query(`DROP TRIGGER record_keys_kept ON record_keys`);
    await db.query(`
      CREATE TRIGGER record_keys_kept BEFORE UPDATE ON record_keys FOR EACH ROW
      EXECUTE FUNCTION keep_set_columns('practice_id', 'version', 'box_public_key', 'valid_from', 'certificate', 'created_at', 'current_issued_at', 'current_signature')`);

    // Backup v2 also seals the pinned root key; v1 blobs of accounts activated before stay as they are.
    await db.query(`ALTER TABLE key_backups DROP CONSTRAINT key_backups_blob_check, ADD CONSTRAINT key_backups_blob_check CHECK (length(blob) IN (176, 208))`);
  }

  async down(db: QueryRunner): Promise<void> {
    await db.query(`ALTER TABLE key_backups DROP CONSTRAINT key_backups_blob_check`);
    await db.query(`DELETE FROM key_backups WHERE length(blob) <> 176`);
    await db.query(`ALTER TABLE key_backups ADD CONSTRAINT key_backups_blob_check CHECK (length(blob) = 176)`);

    await db.query(`DROP TRIGGER record_keys_kept ON record_keys`);
    await db.query(`ALTER TABLE record_keys DROP CONSTRAINT record_keys_current_complete, DROP COLUMN current_signature, DROP COLUMN current_issued_at`);
    await db.query(`
      CREATE TRIGGER record_keys_kept BEFORE UPDATE ON record_keys FOR EACH ROW
      EXECUTE FUNCTION keep_set_columns('practice_id', 'version', 'box_public_key', 'valid_from', 'certificate', 'created_at')`);

    await db.query(`DROP TRIGGER devices_patient_certificate_kept ON devices`);
    await db.query(`DROP TRIGGER devices_keys_kept ON devices`);
    await db.query(`
      ALTER TABLE devices
        DROP CONSTRAINT devices_certified_as_certificate,
        DROP CONSTRAINT devices_certified_as_complete,
        DROP COLUMN certified_roles,
        DROP COLUMN certified_display_name`);
    await db.query(`
      CREATE TRIGGER devices_keys_kept BEFORE UPDATE ON devices FOR EACH ROW
      EXECUTE FUNCTION keep_set_columns('id', 'user_id', 'sign_public_key', 'box_public_key', 'certificate', 'created_at', 'revoked_at')`);

    await db.query(`DROP TRIGGER account_keys_kept ON account_keys`);
    await db.query(`ALTER TABLE account_keys DROP CONSTRAINT account_keys_invitation_signed, DROP COLUMN account_signature, DROP COLUMN invitation_id`);
    await db.query(`
      CREATE TRIGGER account_keys_kept BEFORE UPDATE ON account_keys FOR EACH ROW
      EXECUTE FUNCTION keep_set_columns('id', 'user_id', 'sign_public_key', 'box_public_key', 'certificate', 'certified_by', 'certified_at', 'created_at', 'revoked_at')`);

    // Patient invitations have no code hash to go back to: they cannot be used under v1, so they go.
    await db.query(`DELETE FROM invitations WHERE code_hash IS NULL`);
    await db.query(`
      ALTER TABLE invitations
        DROP CONSTRAINT invitations_chain_complete,
        DROP CONSTRAINT invitations_code_or_lookup,
        DROP COLUMN creator_device_id,
        DROP COLUMN root_signature,
        DROP COLUMN invitation_signature,
        DROP COLUMN invitation_sign_public_key,
        DROP COLUMN lookup_id,
        ALTER COLUMN code_hash SET NOT NULL`);
  }
}
