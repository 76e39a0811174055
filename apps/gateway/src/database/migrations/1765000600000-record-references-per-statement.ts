import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * The record's references are checked once per INSERT statement instead of once per row
 * (docs/decisions/0007-record-references-per-statement.md). `record_entries` had three foreign keys (conversation,
 * sender device, sender account); each ran a lookup and took a KEY SHARE lock for every entry, about a quarter of
 * PostgreSQL's CPU per message in the record writer's batches. Now:
 * - one trigger per statement checks every inserted entry at once: its conversation exists, and a message's sender
 *   device exists and is its sender account's (stricter than the foreign keys, which checked each apart);
 * - what the foreign keys also did, keep a referenced row from going away, is done for good: conversations and
 *   accounts are never deleted or truncated, nor their ids changed, as devices already were not (nor their account
 *   changed). Nothing in Parley deletes them (a conversation is closed, a device revoked, an account deactivated), so
 *   no row lock is needed to keep a check true until COMMIT.
 */
export class RecordReferencesPerStatement1765000600000 implements MigrationInterface {
  name = 'RecordReferencesPerStatement1765000600000';

  async up(db: QueryRunner): Promise<void> {
    await db.query(`
      CREATE FUNCTION record_entries_check_references() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        IF EXISTS (SELECT 1 FROM inserted i WHERE NOT EXISTS (SELECT 1 FROM conversations c WHERE c.id = i.conversation_id)) THEN
          RAISE EXCEPTION 'a record entry names a conversation that does not exist' USING ERRCODE = 'foreign_key_violation';
        END IF;
        IF EXISTS (SELECT 1 FROM inserted i
                    WHERE i.sender_device_id IS NOT NULL
                      AND NOT EXISTS (SELECT 1 FROM devices d WHERE d.id = i.sender_device_id AND d.user_id = i.sender_user_id)) THEN
          RAISE EXCEPTION 'a record entry names a sender device that does not exist or is not its sender''s' USING ERRCODE = 'foreign_key_violation';
        END IF;
        IF EXISTS (SELECT 1 FROM inserted i
                    WHERE i.sender_device_id IS NULL AND i.sender_user_id IS NOT NULL
                      AND NOT EXISTS (SELECT 1 FROM users u WHERE u.id = i.sender_user_id)) THEN
          RAISE EXCEPTION 'a record entry names a sender that does not exist' USING ERRCODE = 'foreign_key_violation';
        END IF;
        RETURN NULL;
      END $$`);
    await db.query(`
      CREATE TRIGGER record_entries_references AFTER INSERT ON record_entries
      REFERENCING NEW TABLE AS inserted FOR EACH STATEMENT EXECUTE FUNCTION record_entries_check_references()`);
    await db.query(`
      CREATE FUNCTION refuse_removing_record_referent() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        RAISE EXCEPTION '% rows are referred to by the record: % refused (close, revoke or deactivate instead)', TG_TABLE_NAME, TG_OP
          USING ERRCODE = 'restrict_violation';
      END $$`);
    // Devices are never deleted nor their id or account changed already (devices_never_deleted, devices_keys_kept).
    for (const table of ['conversations', 'users']) {
      await db.query(`CREATE TRIGGER ${table}_kept_for_record BEFORE DELETE ON ${table} FOR EACH ROW EXECUTE FUNCTION refuse_removing_record_referent()`);
      await db.query(
        `CREATE TRIGGER ${table}_id_kept_for_record BEFORE UPDATE OF id ON ${table} FOR EACH ROW WHEN (OLD.id IS DISTINCT FROM NEW.id) EXECUTE FUNCTION refuse_removing_record_referent()`,
      );
    }
    for (const table of ['conversations', 'devices', 'users']) {
      await db.query(
        `CREATE TRIGGER ${table}_not_truncated_for_record BEFORE TRUNCATE ON ${table} FOR EACH STATEMENT EXECUTE FUNCTION refuse_removing_record_referent()`,
      );
    }
    await db.query(`
      ALTER TABLE record_entries
        DROP CONSTRAINT record_entries_conversation_id_fkey,
        DROP CONSTRAINT record_entries_sender_device_id_fkey,
        DROP CONSTRAINT record_entries_sender_user_id_fkey`);
  }

  async down(db: QueryRunner): Promise<void> {
    await db.query(`
      ALTER TABLE record_entries
        ADD CONSTRAINT record_entries_conversation_id_fkey FOREIGN KEY (conversation_id) REFERENCES conversations(id),
        ADD CONSTRAINT record_entries_sender_device_id_fkey FOREIGN KEY (sender_device_id) REFERENCES devices(id),
        ADD CONSTRAINT record_entries_sender_user_id_fkey FOREIGN KEY (sender_user_id) REFERENCES users(id)`);
    for (const table of ['conversations', 'devices', 'users']) await db.query(`DROP TRIGGER ${table}_not_truncated_for_record ON ${table}`);
    for (const table of ['conversations', 'users']) {
      await db.query(`DROP TRIGGER ${table}_kept_for_record ON ${table}`);
      await db.query(`DROP TRIGGER ${table}_id_kept_for_record ON ${table}`);
    }
    await db.query(`DROP FUNCTION refuse_removing_record_referent`);
    await db.query(`DROP TRIGGER record_entries_references ON record_entries`);
    await db.query(`DROP FUNCTION record_entries_check_references`);
  }
}
