import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Conversations, their epoch-key envelopes, delivery receipts, and the record: one append-only,
 * hash-chained log per conversation holding every message (ciphertext, with its additional-data
 * fields as columns) and every system event. The database itself refuses UPDATE, DELETE and TRUNCATE.
 */
export class ConversationsAndRecord1763760000000 implements MigrationInterface {
  name = 'ConversationsAndRecord1763760000000';

  async up(db: QueryRunner): Promise<void> {
    await db.query(`
      CREATE TABLE conversations (
        id uuid PRIMARY KEY,
        practice_id uuid NOT NULL REFERENCES practices(id),
        patient_id uuid NOT NULL REFERENCES users(id),
        topic text NOT NULL CHECK (topic ~ '^[a-z][a-z0-9-]{0,39}$'),
        status text NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'closed')),
        current_epoch integer NOT NULL DEFAULT 1 CHECK (current_epoch >= 1),
        last_seq bigint NOT NULL DEFAULT 0 CHECK (last_seq >= 0),
        last_hash bytea NOT NULL CHECK (length(last_hash) = 32),
        created_by_device_id uuid NOT NULL REFERENCES devices(id),
        created_at timestamptz NOT NULL DEFAULT now(),
        closed_at timestamptz
      )`);
    await db.query(`CREATE INDEX conversations_patient ON conversations (patient_id, created_at DESC)`);
    await db.query(`CREATE INDEX conversations_practice ON conversations (practice_id, status, created_at DESC)`);
    await db.query(`
      CREATE TABLE conversation_envelopes (
        conversation_id uuid NOT NULL REFERENCES conversations(id),
        epoch integer NOT NULL CHECK (epoch >= 1),
        recipient_kind text NOT NULL CHECK (recipient_kind IN ('device', 'account', 'record')),
        recipient_device_id uuid REFERENCES devices(id),
        recipient_user_id uuid REFERENCES users(id),
        recipient_record_version integer,
        recipient_key_id bytea NOT NULL CHECK (length(recipient_key_id) = 16),
        sealed_key bytea NOT NULL CHECK (length(sealed_key) = 80),
        signature bytea NOT NULL CHECK (length(signature) = 64),
        creator_device_id uuid NOT NULL REFERENCES devices(id),
        created_at timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (conversation_id, epoch, recipient_key_id),
        CHECK ((recipient_kind = 'device') = (recipient_device_id IS NOT NULL)),
        CHECK ((recipient_kind = 'account') = (recipient_user_id IS NOT NULL)),
        CHECK ((recipient_kind = 'record') = (recipient_record_version IS NOT NULL))
      )`);
    await db.query(`
      CREATE TABLE record_entries (
        conversation_id uuid NOT NULL REFERENCES conversations(id),
        seq bigint NOT NULL CHECK (seq >= 1),
        kind text NOT NULL CHECK (kind IN ('message', 'system')),
        epoch integer,
        sender_user_id uuid REFERENCES users(id),
        sender_device_id uuid REFERENCES devices(id),
        sender_role text CHECK (sender_role IN ('patient', 'clinician', 'manager')),
        sender_device_seq bigint CHECK (sender_device_seq >= 1),
        client_message_id uuid,
        content_type text CHECK (content_type IN ('text', 'attachment')),
        ciphertext bytea CHECK (length(ciphertext) BETWEEN 17 AND 33040),
        nonce bytea CHECK (length(nonce) = 24),
        system_event text CHECK (system_event ~ '^[a-z][a-z_.]{0,39}$'),
        system_data jsonb,
        created_at timestamptz NOT NULL,
        prev_hash bytea NOT NULL CHECK (length(prev_hash) = 32),
        hash bytea NOT NULL CHECK (length(hash) = 32),
        PRIMARY KEY (conversation_id, seq),
        CHECK (
          (kind = 'message' AND epoch IS NOT NULL AND sender_user_id IS NOT NULL AND sender_device_id IS NOT NULL
            AND sender_role IS NOT NULL AND sender_device_seq IS NOT NULL AND client_message_id IS NOT NULL
            AND content_type IS NOT NULL AND ciphertext IS NOT NULL AND nonce IS NOT NULL AND system_event IS NULL)
          OR (kind = 'system' AND system_event IS NOT NULL AND ciphertext IS NULL)
        )
      )`);
    // A retried send is recognised by its client message id; a replayed sender sequence is refused.
    await db.query(`CREATE UNIQUE INDEX record_entries_client_message ON record_entries (sender_device_id, client_message_id) WHERE kind = 'message'`);
    await db.query(
      `CREATE UNIQUE INDEX record_entries_sender_seq ON record_entries (conversation_id, sender_device_id, sender_device_seq) WHERE kind = 'message'`,
    );
    await db.query(`
      CREATE FUNCTION record_entries_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        RAISE EXCEPTION 'record_entries is append-only: % refused', TG_OP;
      END $$`);
    await db.query(
      `CREATE TRIGGER record_entries_no_update_delete BEFORE UPDATE OR DELETE ON record_entries FOR EACH ROW EXECUTE FUNCTION record_entries_append_only()`,
    );
    await db.query(
      `CREATE TRIGGER record_entries_no_truncate BEFORE TRUNCATE ON record_entries FOR EACH STATEMENT EXECUTE FUNCTION record_entries_append_only()`,
    );
    await db.query(`
      CREATE TABLE receipts (
        conversation_id uuid NOT NULL REFERENCES conversations(id),
        device_id uuid NOT NULL REFERENCES devices(id),
        user_id uuid NOT NULL REFERENCES users(id),
        kind text NOT NULL CHECK (kind IN ('delivered', 'read')),
        up_to_seq bigint NOT NULL CHECK (up_to_seq >= 1),
        updated_at timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (conversation_id, device_id, kind)
      )`);
  }

  async down(db: QueryRunner): Promise<void> {
    await db.query(`DROP TABLE receipts`);
    await db.query(`DROP TABLE record_entries`);
    await db.query(`DROP FUNCTION record_entries_append_only`);
    await db.query(`DROP TABLE conversation_envelopes`);
    await db.query(`DROP TABLE conversations`);
  }
}
