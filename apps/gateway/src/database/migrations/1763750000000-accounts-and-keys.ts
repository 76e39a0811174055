import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Accounts and keys: users' passphrase-derived credentials, sessions, patient account keys and their
 * backups, device certificates, the practice root key, record key versions and their grants, and the
 * bookkeeping of failed sign-ins (kept in the database so the limits hold across gateway nodes).
 *
 * Public keys, certificates and signatures are never rewritten or deleted: signatures over them must
 * stay verifiable for the life of the record, so revocation only sets `revoked_at` (triggers below).
 */
export class AccountsAndKeys1763750000000 implements MigrationInterface {
  name = 'AccountsAndKeys1763750000000';

  async up(db: QueryRunner): Promise<void> {
    // Columns listed as trigger arguments may go from NULL to a value once, and never change after.
    await db.query(`
      CREATE FUNCTION keep_set_columns() RETURNS trigger LANGUAGE plpgsql AS $$
      DECLARE
        column_name text;
      BEGIN
        FOREACH column_name IN ARRAY TG_ARGV LOOP
          IF (to_jsonb(OLD) -> column_name) <> 'null'::jsonb AND (to_jsonb(OLD) -> column_name) IS DISTINCT FROM (to_jsonb(NEW) -> column_name) THEN
            RAISE EXCEPTION '%.% is never rewritten once set', TG_TABLE_NAME, column_name USING ERRCODE = 'integrity_constraint_violation';
          END IF;
        END LOOP;
        RETURN NEW;
      END $$`);
    await db.query(`
      CREATE FUNCTION refuse_delete() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        RAISE EXCEPTION '% rows are never deleted: set revoked_at', TG_TABLE_NAME USING ERRCODE = 'integrity_constraint_violation';
      END $$`);

    await db.query(`
      ALTER TABLE users
        ADD COLUMN auth_salt bytea CHECK (length(auth_salt) = 16),
        ADD COLUMN auth_ops integer CHECK (auth_ops BETWEEN 1 AND 20),
        ADD COLUMN auth_mem_bytes integer CHECK (auth_mem_bytes BETWEEN 8192 AND 1073741824),
        ADD COLUMN activated_at timestamptz,
        ADD CONSTRAINT users_auth_key_hash_format CHECK (auth_key_hash LIKE '$argon2id$%' AND length(auth_key_hash) <= 256),
        -- an activated account has everything sign-in needs; a pending one has none of it
        ADD CONSTRAINT users_credentials_complete CHECK (
          (activated_at IS NULL AND auth_key_hash IS NULL AND auth_salt IS NULL AND auth_ops IS NULL AND auth_mem_bytes IS NULL)
          OR (activated_at IS NOT NULL AND auth_key_hash IS NOT NULL AND auth_salt IS NOT NULL AND auth_ops IS NOT NULL AND auth_mem_bytes IS NOT NULL))`);

    await db.query(`ALTER TABLE practices ADD COLUMN root_sign_public_key bytea CHECK (length(root_sign_public_key) = 32)`);
    await db.query(
      `CREATE TRIGGER practices_root_key_set_once BEFORE UPDATE ON practices FOR EACH ROW EXECUTE FUNCTION keep_set_columns('root_sign_public_key')`,
    );

    await db.query(`
      ALTER TABLE devices
        ADD COLUMN certificate bytea CHECK (length(certificate) = 64),
        ADD CONSTRAINT devices_id_user UNIQUE (id, user_id)`);
    await db.query(`
      CREATE TRIGGER devices_keys_kept BEFORE UPDATE ON devices FOR EACH ROW
      EXECUTE FUNCTION keep_set_columns('id', 'user_id', 'sign_public_key', 'box_public_key', 'certificate', 'created_at', 'revoked_at')`);
    await db.query(`CREATE TRIGGER devices_never_deleted BEFORE DELETE ON devices FOR EACH ROW EXECUTE FUNCTION refuse_delete()`);

    await db.query(`CREATE INDEX invitations_user ON invitations (user_id)`);

    await db.query(`
      CREATE TABLE sessions (
        id uuid PRIMARY KEY,
        user_id uuid NOT NULL REFERENCES users(id),
        device_id uuid NOT NULL,
        -- SHA-256 of the bearer token: the token itself is never stored
        token_hash bytea NOT NULL UNIQUE CHECK (length(token_hash) = 32),
        created_at timestamptz NOT NULL DEFAULT now(),
        expires_at timestamptz NOT NULL,
        last_seen_at timestamptz NOT NULL DEFAULT now(),
        revoked_at timestamptz,
        end_reason text CHECK (end_reason IN ('signed_out', 'revoked', 'device_revoked')),
        ip inet,
        FOREIGN KEY (device_id, user_id) REFERENCES devices (id, user_id),
        CHECK (expires_at > created_at),
        CHECK ((revoked_at IS NULL) = (end_reason IS NULL))
      )`);
    await db.query(`CREATE INDEX sessions_user ON sessions (user_id) WHERE revoked_at IS NULL`);
    await db.query(`CREATE INDEX sessions_device ON sessions (device_id) WHERE revoked_at IS NULL`);

    await db.query(`
      CREATE TABLE account_keys (
        id uuid PRIMARY KEY,
        user_id uuid NOT NULL REFERENCES users(id),
        sign_public_key bytea NOT NULL CHECK (length(sign_public_key) = 32),
        box_public_key bytea NOT NULL CHECK (length(box_public_key) = 32),
        -- the practice's signature over the key, after identity verification; NULL until a manager certifies it
        certificate bytea CHECK (length(certificate) = 64),
        certified_by uuid REFERENCES users(id),
        certified_at timestamptz,
        created_at timestamptz NOT NULL DEFAULT now(),
        revoked_at timestamptz,
        CHECK ((certificate IS NULL) = (certified_by IS NULL) AND (certificate IS NULL) = (certified_at IS NULL))
      )`);
    await db.query(`CREATE UNIQUE INDEX account_keys_one_active ON account_keys (user_id) WHERE revoked_at IS NULL`);
    await db.query(`
      CREATE TRIGGER account_keys_kept BEFORE UPDATE ON account_keys FOR EACH ROW
      EXECUTE FUNCTION keep_set_columns('id', 'user_id', 'sign_public_key', 'box_public_key', 'certificate', 'certified_by', 'certified_at', 'created_at', 'revoked_at')`);
    await db.query(`CREATE TRIGGER account_keys_never_deleted BEFORE DELETE ON account_keys FOR EACH ROW EXECUTE FUNCTION refuse_delete()`);

    await db.query(`
      CREATE TABLE key_backups (
        user_id uuid PRIMARY KEY REFERENCES users(id),
        blob bytea NOT NULL CHECK (length(blob) = 176),
        salt bytea NOT NULL CHECK (length(salt) = 16),
        ops_limit integer NOT NULL CHECK (ops_limit BETWEEN 1 AND 20),
        mem_limit_bytes integer NOT NULL CHECK (mem_limit_bytes BETWEEN 8192 AND 1073741824),
        -- raised by the server each time the blob is replaced
        version integer NOT NULL CHECK (version >= 1),
        updated_at timestamptz NOT NULL DEFAULT now()
      )`);

    await db.query(`
      CREATE TABLE record_keys (
        practice_id uuid NOT NULL REFERENCES practices(id),
        version integer NOT NULL CHECK (version >= 1),
        box_public_key bytea NOT NULL CHECK (length(box_public_key) = 32),
        -- milliseconds since 1970, as signed in the certificate
        valid_from bigint NOT NULL CHECK (valid_from >= 0),
        certificate bytea NOT NULL CHECK (length(certificate) = 64),
        created_at timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (practice_id, version)
      )`);
    await db.query(`
      CREATE TRIGGER record_keys_kept BEFORE UPDATE ON record_keys FOR EACH ROW
      EXECUTE FUNCTION keep_set_columns('practice_id', 'version', 'box_public_key', 'valid_from', 'certificate', 'created_at')`);
    await db.query(`CREATE TRIGGER record_keys_never_deleted BEFORE DELETE ON record_keys FOR EACH ROW EXECUTE FUNCTION refuse_delete()`);

    await db.query(`
      CREATE TABLE record_key_grants (
        id uuid PRIMARY KEY,
        practice_id uuid NOT NULL,
        version integer NOT NULL,
        device_id uuid NOT NULL REFERENCES devices(id),
        sealed_seed bytea NOT NULL CHECK (length(sealed_seed) = 80),
        signature bytea NOT NULL CHECK (length(signature) = 64),
        granted_by_device_id uuid NOT NULL REFERENCES devices(id),
        created_at timestamptz NOT NULL DEFAULT now(),
        revoked_at timestamptz,
        FOREIGN KEY (practice_id, version) REFERENCES record_keys (practice_id, version)
      )`);
    await db.query(`CREATE UNIQUE INDEX record_key_grants_one_active ON record_key_grants (device_id, practice_id, version) WHERE revoked_at IS NULL`);
    await db.query(`
      CREATE TRIGGER record_key_grants_kept BEFORE UPDATE ON record_key_grants FOR EACH ROW
      EXECUTE FUNCTION keep_set_columns('id', 'practice_id', 'version', 'device_id', 'sealed_seed', 'signature', 'granted_by_device_id', 'created_at', 'revoked_at')`);
    await db.query(`CREATE TRIGGER record_key_grants_never_deleted BEFORE DELETE ON record_key_grants FOR EACH ROW EXECUTE FUNCTION refuse_delete()`);

    // One row per attempt that counts against a limit, recorded before the check so that concurrent
    // attempts (on any node) cannot all slip under it. Subjects are ids, hashes or IP addresses.
    await db.query(`
      CREATE TABLE auth_attempts (
        id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        scope text NOT NULL CHECK (scope IN ('account', 'code', 'ip', 'backup')),
        subject text NOT NULL CHECK (length(subject) BETWEEN 1 AND 128),
        created_at timestamptz NOT NULL DEFAULT now()
      )`);
    await db.query(`CREATE INDEX auth_attempts_subject ON auth_attempts (scope, subject, created_at)`);
    await db.query(`CREATE INDEX auth_attempts_created ON auth_attempts (created_at)`);

    // Per-deployment secrets the gateway generates on first need (e.g. the key of the decoy salts).
    await db.query(`
      CREATE TABLE server_secrets (
        name text PRIMARY KEY CHECK (name ~ '^[a-z_]{1,64}$'),
        secret bytea NOT NULL CHECK (length(secret) = 32),
        created_at timestamptz NOT NULL DEFAULT now()
      )`);
  }

  async down(db: QueryRunner): Promise<void> {
    await db.query(`DROP TABLE server_secrets`);
    await db.query(`DROP TABLE auth_attempts`);
    await db.query(`DROP TABLE record_key_grants`);
    await db.query(`DROP TABLE record_keys`);
    await db.query(`DROP TABLE key_backups`);
    await db.query(`DROP TABLE account_keys`);
    await db.query(`DROP TABLE sessions`);
    await db.query(`DROP INDEX invitations_user`);
    await db.query(`DROP TRIGGER devices_never_deleted ON devices`);
    await db.query(`DROP TRIGGER devices_keys_kept ON devices`);
    await db.query(`ALTER TABLE devices DROP CONSTRAINT devices_id_user, DROP COLUMN certificate`);
    await db.query(`DROP TRIGGER practices_root_key_set_once ON practices`);
    await db.query(`ALTER TABLE practices DROP COLUMN root_sign_public_key`);
    await db.query(`
      ALTER TABLE users
        DROP CONSTRAINT users_credentials_complete,
        DROP CONSTRAINT users_auth_key_hash_format,
        DROP COLUMN activated_at,
        DROP COLUMN auth_mem_bytes,
        DROP COLUMN auth_ops,
        DROP COLUMN auth_salt`);
    await db.query(`DROP FUNCTION refuse_delete()`);
    await db.query(`DROP FUNCTION keep_set_columns()`);
  }
}
