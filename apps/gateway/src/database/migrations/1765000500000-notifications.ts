import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Notices when the app is closed (docs/protocol.md, "Notifications"; docs/operations.md, "Push notifications"): the
 * deployment's VAPID key pair (one current, made at first start, rotatable), a Web Push subscription per patient device,
 * a patient's SMS/e-mail contact for the Notify channel, the practice's notification settings, and the notices sent or
 * held (coalescing, quiet hours). A subscription goes with its device's sessions: any session ended before its time
 * (sign-out, device revocation, sign-out everywhere, recovery) or the device revoked deletes it, whichever path did it.
 */
export class Notifications1765000500000 implements MigrationInterface {
  name = 'Notifications1765000500000';

  async up(db: QueryRunner): Promise<void> {
    await db.query(`
      CREATE TABLE vapid_keys (
        id serial PRIMARY KEY,
        -- base64url: the 65-byte uncompressed P-256 point and the 32-byte private scalar
        public_key text NOT NULL CHECK (length(public_key) = 87),
        private_key text NOT NULL CHECK (length(private_key) = 43),
        created_at timestamptz NOT NULL DEFAULT now(),
        retired_at timestamptz
      )`);
    // At most one current key: two nodes starting at once both try to insert one, and one of them wins.
    await db.query(`CREATE UNIQUE INDEX vapid_keys_current ON vapid_keys ((true)) WHERE retired_at IS NULL`);

    await db.query(`
      CREATE TABLE push_subscriptions (
        device_id uuid PRIMARY KEY,
        user_id uuid NOT NULL,
        endpoint text NOT NULL CHECK (length(endpoint) BETWEEN 1 AND 2048),
        p256dh text NOT NULL CHECK (length(p256dh) = 87),
        auth text NOT NULL CHECK (length(auth) = 22),
        vapid_key_id integer NOT NULL REFERENCES vapid_keys(id) ON DELETE CASCADE,
        created_at timestamptz NOT NULL DEFAULT now(),
        FOREIGN KEY (device_id, user_id) REFERENCES devices (id, user_id)
      )`);
    await db.query(`CREATE INDEX push_subscriptions_user ON push_subscriptions (user_id)`);
    await db.query(`
      CREATE FUNCTION forget_push_subscription() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        DELETE FROM push_subscriptions WHERE device_id = NEW.device_id;
        RETURN NULL;
      END $$`);
    await db.query(`
      CREATE TRIGGER sessions_forget_push AFTER UPDATE OF revoked_at ON sessions FOR EACH ROW
      WHEN (OLD.revoked_at IS NULL AND NEW.revoked_at IS NOT NULL) EXECUTE FUNCTION forget_push_subscription()`);
    await db.query(`
      CREATE FUNCTION forget_push_subscription_of_device() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        DELETE FROM push_subscriptions WHERE device_id = NEW.id;
        RETURN NULL;
      END $$`);
    await db.query(`
      CREATE TRIGGER devices_forget_push AFTER UPDATE OF revoked_at ON devices FOR EACH ROW
      WHEN (OLD.revoked_at IS NULL AND NEW.revoked_at IS NOT NULL) EXECUTE FUNCTION forget_push_subscription_of_device()`);

    await db.query(`
      CREATE TABLE notification_contacts (
        user_id uuid PRIMARY KEY REFERENCES users(id),
        channel text NOT NULL CHECK (channel IN ('sms', 'email')),
        address text NOT NULL CHECK (length(address) BETWEEN 1 AND 254),
        -- set when the channel's service refused the address (a bad number): not used again until the patient changes it
        failing_since timestamptz,
        updated_at timestamptz NOT NULL DEFAULT now()
      )`);

    await db.query(`
      CREATE TABLE practice_notification_settings (
        practice_id uuid PRIMARY KEY REFERENCES practices(id),
        show_practice_name boolean NOT NULL,
        quiet_start text CHECK (quiet_start ~ '^([01][0-9]|2[0-3]):[0-5][0-9]$'),
        quiet_end text CHECK (quiet_end ~ '^([01][0-9]|2[0-3]):[0-5][0-9]$'),
        updated_by uuid NOT NULL REFERENCES users(id),
        updated_at timestamptz NOT NULL,
        CHECK ((quiet_start IS NULL) = (quiet_end IS NULL))
      )`);

    // One row per patient and conversation told (or to be told, at due_at) since the patient last connected: the coalescing.
    await db.query(`
      CREATE TABLE notification_notices (
        patient_user_id uuid NOT NULL REFERENCES users(id),
        conversation_id uuid NOT NULL REFERENCES conversations(id),
        practice_id uuid NOT NULL REFERENCES practices(id),
        due_at timestamptz NOT NULL,
        sent_at timestamptz,
        PRIMARY KEY (patient_user_id, conversation_id)
      )`);
    await db.query(`CREATE INDEX notification_notices_due ON notification_notices (due_at) WHERE sent_at IS NULL`);
  }

  async down(db: QueryRunner): Promise<void> {
    await db.query(`DROP TABLE notification_notices`);
    await db.query(`DROP TABLE practice_notification_settings`);
    await db.query(`DROP TABLE notification_contacts`);
    await db.query(`DROP TRIGGER devices_forget_push ON devices`);
    await db.query(`DROP FUNCTION forget_push_subscription_of_device()`);
    await db.query(`DROP TRIGGER sessions_forget_push ON sessions`);
    await db.query(`DROP FUNCTION forget_push_subscription()`);
    await db.query(`DROP TABLE push_subscriptions`);
    await db.query(`DROP TABLE vapid_keys`);
  }
}
