import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * The audit trail (who did what, ids only), the practice's versioned terms and patients' consents
 * to them, and the practice settings managers edit: topic categories, phone number, acknowledgement
 * template. Audit events, terms and consents are append-only: the database refuses UPDATE, DELETE
 * and TRUNCATE on them.
 */
export class AuditConsentSettings1763780000000 implements MigrationInterface {
  name = 'AuditConsentSettings1763780000000';

  async up(db: QueryRunner): Promise<void> {
    await db.query(`
      CREATE FUNCTION refuse_change_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        RAISE EXCEPTION '% is append-only: % refused', TG_TABLE_NAME, TG_OP;
      END $$`);

    // No foreign key on conversation_id: the record writer holds conversation rows FOR UPDATE while it
    // commits, and an audit insert must never wait for that. The id is still checked by the caller.
    await db.query(`
      CREATE TABLE audit_events (
        id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        practice_id uuid NOT NULL REFERENCES practices(id),
        actor_user_id uuid REFERENCES users(id),
        actor_device_id uuid REFERENCES devices(id),
        action text NOT NULL CHECK (action ~ '^[a-z][a-z-]{0,39}\\.[a-z][a-z-]{0,39}$'),
        subject_user_id uuid REFERENCES users(id),
        conversation_id uuid,
        data jsonb NOT NULL DEFAULT '{}'::jsonb CHECK (jsonb_typeof(data) = 'object' AND length(data::text) <= 4000),
        created_at timestamptz NOT NULL,
        CHECK (actor_user_id IS NOT NULL OR actor_device_id IS NULL)
      )`);
    await db.query(`CREATE INDEX audit_events_practice ON audit_events (practice_id, id DESC)`);
    await db.query(`CREATE INDEX audit_events_actor ON audit_events (practice_id, actor_user_id, id DESC)`);
    await db.query(`CREATE INDEX audit_events_subject ON audit_events (practice_id, subject_user_id, id DESC) WHERE subject_user_id IS NOT NULL`);
    await db.query(`CREATE INDEX audit_events_action ON audit_events (practice_id, action, id DESC)`);

    await db.query(`
      CREATE TABLE practice_terms (
        practice_id uuid NOT NULL REFERENCES practices(id),
        version integer NOT NULL CHECK (version >= 1),
        text text NOT NULL CHECK (length(text) BETWEEN 1 AND 20000),
        published_at timestamptz NOT NULL,
        published_by uuid NOT NULL REFERENCES users(id),
        PRIMARY KEY (practice_id, version)
      )`);
    await db.query(`
      CREATE TABLE consents (
        patient_id uuid NOT NULL REFERENCES users(id),
        practice_id uuid NOT NULL,
        version integer NOT NULL,
        given_at timestamptz NOT NULL,
        PRIMARY KEY (patient_id, practice_id, version),
        FOREIGN KEY (practice_id, version) REFERENCES practice_terms (practice_id, version)
      )`);
    for (const table of ['audit_events', 'practice_terms', 'consents']) {
      await db.query(`CREATE TRIGGER ${table}_no_update_delete BEFORE UPDATE OR DELETE ON ${table} FOR EACH ROW EXECUTE FUNCTION refuse_change_append_only()`);
      await db.query(`CREATE TRIGGER ${table}_no_truncate BEFORE TRUNCATE ON ${table} FOR EACH STATEMENT EXECUTE FUNCTION refuse_change_append_only()`);
    }

    await db.query(`
      CREATE TABLE practice_categories (
        practice_id uuid NOT NULL REFERENCES practices(id),
        slug text NOT NULL CHECK (slug ~ '^[a-z][a-z0-9-]{0,39}$'),
        label text NOT NULL CHECK (length(label) BETWEEN 1 AND 60),
        is_enabled boolean NOT NULL,
        position integer NOT NULL CHECK (position >= 0),
        PRIMARY KEY (practice_id, slug)
      )`);
    await db.query(`
      CREATE TABLE practice_settings (
        practice_id uuid PRIMARY KEY REFERENCES practices(id),
        practice_phone text CHECK (length(practice_phone) <= 30),
        acknowledgement_template text CHECK (length(acknowledgement_template) BETWEEN 1 AND 2000),
        updated_at timestamptz NOT NULL,
        updated_by uuid REFERENCES users(id)
      )`);
  }

  async down(db: QueryRunner): Promise<void> {
    await db.query(`DROP TABLE practice_settings`);
    await db.query(`DROP TABLE practice_categories`);
    await db.query(`DROP TABLE consents`);
    await db.query(`DROP TABLE practice_terms`);
    await db.query(`DROP TABLE audit_events`);
    await db.query(`DROP FUNCTION refuse_change_append_only`);
  }
}
