import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * The practice's signed revocation lists (docs/crypto.md, "Revocation lists"): every version a manager's client
 * stored, kept for good like revoked devices' keys, so what a client was shown can be reconstructed. The server
 * checks the signature against the practice's root before storing, but clients verify it themselves.
 */
export class RevocationLists1765000100000 implements MigrationInterface {
  name = 'RevocationLists1765000100000';

  async up(db: QueryRunner): Promise<void> {
    await db.query(`
      CREATE TABLE revocation_lists (
        practice_id uuid NOT NULL REFERENCES practices(id),
        version integer NOT NULL CHECK (version >= 1),
        issued_at bigint NOT NULL CHECK (issued_at >= 0),
        -- [{ "deviceId": uuid, "revokedAt": ms }], as signed; the ids are checked against devices when stored
        entries jsonb NOT NULL CHECK (jsonb_typeof(entries) = 'array'),
        signer_sign_public_key bytea NOT NULL CHECK (length(signer_sign_public_key) = 32),
        signature bytea NOT NULL CHECK (length(signature) = 64),
        stored_by_user_id uuid NOT NULL REFERENCES users(id),
        stored_at timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (practice_id, version)
      )`);
  }

  async down(db: QueryRunner): Promise<void> {
    await db.query(`DROP TABLE revocation_lists`);
  }
}
