import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Encrypted attachments (docs/protocol.md, "Attachments"): an upload per file, its ciphertext parts (one secretstream
 * chunk each, opaque to the server), and the practice's attachment settings. A message claims its uploads before it is
 * appended (`client_message_id`); once that message is stored, the upload and its parts can no longer be changed or
 * removed, so the record's append-only rule covers the files it references.
 */
export class Attachments1765000400000 implements MigrationInterface {
  name = 'Attachments1765000400000';

  async up(db: QueryRunner): Promise<void> {
    await db.query(`
      CREATE TABLE attachment_uploads (
        id uuid PRIMARY KEY,
        practice_id uuid NOT NULL REFERENCES practices(id),
        conversation_id uuid NOT NULL REFERENCES conversations(id),
        uploader_user_id uuid NOT NULL REFERENCES users(id),
        uploader_device_id uuid NOT NULL REFERENCES devices(id),
        content_type text NOT NULL CHECK (content_type IN ('image/jpeg', 'image/png', 'image/webp', 'application/pdf')),
        cipher_bytes bigint NOT NULL CHECK (cipher_bytes >= 17),
        chunk_count integer NOT NULL CHECK (chunk_count >= 1),
        created_at timestamptz NOT NULL,
        completed_at timestamptz,
        client_message_id uuid,
        claimed_at timestamptz,
        CHECK ((client_message_id IS NULL) = (claimed_at IS NULL)),
        CHECK (client_message_id IS NULL OR completed_at IS NOT NULL)
      )`);
    // The caps' sums (per conversation, per uploader per day) and the sweep of old unreferenced uploads.
    await db.query(`CREATE INDEX attachment_uploads_conversation ON attachment_uploads (conversation_id)`);
    await db.query(`CREATE INDEX attachment_uploads_uploader ON attachment_uploads (uploader_user_id, created_at)`);
    await db.query(`CREATE INDEX attachment_uploads_created ON attachment_uploads (created_at)`);
    await db.query(`
      CREATE TABLE attachment_chunks (
        upload_id uuid NOT NULL REFERENCES attachment_uploads(id) ON DELETE CASCADE,
        idx integer NOT NULL CHECK (idx >= 0),
        bytes bytea NOT NULL CHECK (octet_length(bytes) BETWEEN 17 AND 65553),
        PRIMARY KEY (upload_id, idx)
      )`);
    // Ciphertext does not compress: store it out of line without trying.
    await db.query(`ALTER TABLE attachment_chunks ALTER COLUMN bytes SET STORAGE EXTERNAL`);

    // Whether a stored message claims the upload: then its parts and its row are part of the record.
    await db.query(`
      CREATE FUNCTION attachment_is_referenced(upload uuid) RETURNS boolean LANGUAGE sql STABLE AS $$
        SELECT EXISTS (
          SELECT 1 FROM attachment_uploads u
            JOIN record_entries r ON r.kind = 'message' AND r.sender_device_id = u.uploader_device_id AND r.client_message_id = u.client_message_id
           WHERE u.id = upload)
      $$`);
    await db.query(`
      CREATE FUNCTION refuse_changing_attachment() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        IF TG_TABLE_NAME = 'attachment_chunks' THEN
          IF TG_OP = 'UPDATE' THEN
            RAISE EXCEPTION 'attachment_chunks are never updated' USING ERRCODE = 'integrity_constraint_violation';
          END IF;
          IF attachment_is_referenced(OLD.upload_id) THEN
            RAISE EXCEPTION 'attachment_chunks of a stored message are never deleted' USING ERRCODE = 'integrity_constraint_violation';
          END IF;
          RETURN OLD;
        END IF;
        IF TG_OP = 'UPDATE' AND (NEW.id, NEW.practice_id, NEW.conversation_id, NEW.uploader_user_id, NEW.uploader_device_id, NEW.content_type,
                                 NEW.cipher_bytes, NEW.chunk_count, NEW.created_at)
                         IS DISTINCT FROM (OLD.id, OLD.practice_id, OLD.conversation_id, OLD.uploader_user_id, OLD.uploader_device_id,
                                 OLD.content_type, OLD.cipher_bytes, OLD.chunk_count, OLD.created_at) THEN
          RAISE EXCEPTION 'an attachment upload''s identity and size never change' USING ERRCODE = 'integrity_constraint_violation';
        END IF;
        -- A claim is set once; completion is set once.
        IF TG_OP = 'UPDATE' AND ((OLD.client_message_id IS NOT NULL AND NEW.client_message_id IS DISTINCT FROM OLD.client_message_id)
                                 OR (OLD.completed_at IS NOT NULL AND NEW.completed_at IS DISTINCT FROM OLD.completed_at)) THEN
          RAISE EXCEPTION 'an attachment upload''s claim and completion are set once' USING ERRCODE = 'integrity_constraint_violation';
        END IF;
        IF TG_OP = 'DELETE' AND attachment_is_referenced(OLD.id) THEN
          RAISE EXCEPTION 'attachment_uploads of a stored message are never deleted' USING ERRCODE = 'integrity_constraint_violation';
        END IF;
        RETURN CASE WHEN TG_OP = 'DELETE' THEN OLD ELSE NEW END;
      END $$`);
    await db.query(
      `CREATE TRIGGER attachment_chunks_kept BEFORE UPDATE OR DELETE ON attachment_chunks FOR EACH ROW EXECUTE FUNCTION refuse_changing_attachment()`,
    );
    await db.query(
      `CREATE TRIGGER attachment_uploads_kept BEFORE UPDATE OR DELETE ON attachment_uploads FOR EACH ROW EXECUTE FUNCTION refuse_changing_attachment()`,
    );
    for (const table of ['attachment_uploads', 'attachment_chunks']) {
      await db.query(`CREATE TRIGGER ${table}_no_truncate BEFORE TRUNCATE ON ${table} FOR EACH STATEMENT EXECUTE FUNCTION refuse_change_append_only()`);
    }

    // The practice's attachment settings; the defaults are DEFAULT_ATTACHMENT_SETTINGS of @parley/protocol.
    await db.query(`
      ALTER TABLE practice_settings
        ADD COLUMN attachment_patient_uploads text NOT NULL DEFAULT 'when-asked' CHECK (attachment_patient_uploads IN ('always', 'when-asked', 'never')),
        ADD COLUMN attachment_types text[] NOT NULL DEFAULT ARRAY['image/jpeg', 'image/png', 'image/webp', 'application/pdf']
          CHECK (cardinality(attachment_types) BETWEEN 1 AND 4
                 AND attachment_types <@ ARRAY['image/jpeg', 'image/png', 'image/webp', 'application/pdf']),
        ADD COLUMN attachment_max_file_bytes integer NOT NULL DEFAULT 10485760 CHECK (attachment_max_file_bytes BETWEEN 65536 AND 26214400),
        ADD COLUMN attachment_max_conversation_bytes integer NOT NULL DEFAULT 52428800
          CHECK (attachment_max_conversation_bytes BETWEEN 65536 AND 262144000),
        ADD COLUMN attachment_max_patient_daily_bytes integer NOT NULL DEFAULT 52428800
          CHECK (attachment_max_patient_daily_bytes BETWEEN 65536 AND 262144000)`);
    // Upload creations count against a per-user limit, beside the credential attempts.
    await db.query(`
      ALTER TABLE auth_attempts DROP CONSTRAINT auth_attempts_scope_check,
        ADD CONSTRAINT auth_attempts_scope_check CHECK (scope IN ('account', 'code', 'ip', 'backup', 'upload'))`);
  }

  async down(db: QueryRunner): Promise<void> {
    await db.query(`DELETE FROM auth_attempts WHERE scope = 'upload'`);
    await db.query(`
      ALTER TABLE auth_attempts DROP CONSTRAINT auth_attempts_scope_check,
        ADD CONSTRAINT auth_attempts_scope_check CHECK (scope IN ('account', 'code', 'ip', 'backup'))`);
    await db.query(`
      ALTER TABLE practice_settings DROP COLUMN attachment_patient_uploads, DROP COLUMN attachment_types, DROP COLUMN attachment_max_file_bytes,
        DROP COLUMN attachment_max_conversation_bytes, DROP COLUMN attachment_max_patient_daily_bytes`);
    await db.query(`DROP TABLE attachment_chunks`);
    await db.query(`DROP TABLE attachment_uploads`);
    await db.query(`DROP FUNCTION refuse_changing_attachment`);
    await db.query(`DROP FUNCTION attachment_is_referenced`);
  }
}
