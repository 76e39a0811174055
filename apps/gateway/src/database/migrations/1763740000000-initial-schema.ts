import type { MigrationInterface, QueryRunner } from 'typeorm';

/** Practices, their users (patients and staff), devices with public keys, and patient invitations. */
export class InitialSchema1763740000000 implements MigrationInterface {
  name = 'InitialSchema1763740000000';

  async up(db: QueryRunner): Promise<void> {
    await db.query(`
      CREATE TABLE practices (
        id uuid PRIMARY KEY,
        ods_code text NOT NULL UNIQUE CHECK (ods_code ~ '^[A-Z0-9]{3,10}$'),
        name text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
        time_zone text NOT NULL CHECK (length(time_zone) BETWEEN 1 AND 64),
        created_at timestamptz NOT NULL DEFAULT now()
      )`);
    await db.query(`
      CREATE TABLE users (
        id uuid PRIMARY KEY,
        practice_id uuid NOT NULL REFERENCES practices(id),
        roles text[] NOT NULL CHECK (cardinality(roles) > 0 AND roles <@ ARRAY['patient','clinician','manager']::text[]),
        display_name text NOT NULL CHECK (length(display_name) BETWEEN 1 AND 200),
        email text CHECK (email IS NULL OR length(email) <= 254),
        nhs_number text CHECK (nhs_number IS NULL OR nhs_number ~ '^[0-9]{10}$'),
        date_of_birth date,
        auth_key_hash text,
        created_at timestamptz NOT NULL DEFAULT now(),
        deactivated_at timestamptz,
        -- a patient is never also staff: their record access differs
        CHECK (NOT ('patient' = ANY(roles)) OR cardinality(roles) = 1)
      )`);
    await db.query(`CREATE UNIQUE INDEX users_practice_email ON users (practice_id, lower(email)) WHERE email IS NOT NULL`);
    await db.query(`CREATE UNIQUE INDEX users_practice_nhs_number ON users (practice_id, nhs_number) WHERE nhs_number IS NOT NULL`);
    await db.query(`
      CREATE TABLE devices (
        id uuid PRIMARY KEY,
        user_id uuid NOT NULL REFERENCES users(id),
        label text NOT NULL CHECK (length(label) BETWEEN 1 AND 100),
        sign_public_key bytea NOT NULL CHECK (length(sign_public_key) = 32),
        box_public_key bytea NOT NULL CHECK (length(box_public_key) = 32),
        created_at timestamptz NOT NULL DEFAULT now(),
        revoked_at timestamptz
      )`);
    await db.query(`CREATE INDEX devices_user ON devices (user_id)`);
    await db.query(`
      CREATE TABLE invitations (
        id uuid PRIMARY KEY,
        practice_id uuid NOT NULL REFERENCES practices(id),
        user_id uuid NOT NULL REFERENCES users(id),
        code_hash bytea NOT NULL UNIQUE CHECK (length(code_hash) = 32),
        created_by uuid NOT NULL REFERENCES users(id),
        created_at timestamptz NOT NULL DEFAULT now(),
        expires_at timestamptz NOT NULL,
        used_at timestamptz,
        CHECK (expires_at > created_at)
      )`);
  }

  async down(db: QueryRunner): Promise<void> {
    await db.query(`DROP TABLE invitations`);
    await db.query(`DROP TABLE devices`);
    await db.query(`DROP TABLE users`);
    await db.query(`DROP TABLE practices`);
  }
}
