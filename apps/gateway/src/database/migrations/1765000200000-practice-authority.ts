import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * The practice's signing authority (docs/crypto.md, "Practice authority"): the chain of root successors, each
 * signed by the root before it, and the admin keys a root certified for everyday signing. Rows are kept for good,
 * like revoked devices' keys, so every signature a client was shown stays verifiable. The server checks each
 * signature against the practice's current root before storing it; clients verify everything themselves.
 */
export class PracticeAuthority1765000200000 implements MigrationInterface {
  name = 'PracticeAuthority1765000200000';

  async up(db: QueryRunner): Promise<void> {
    await db.query(`
      CREATE TABLE root_successors (
        practice_id uuid NOT NULL REFERENCES practices(id),
        -- 1 for the first successor of the root pinned in practices.root_sign_public_key, then 2, …
        seq integer NOT NULL CHECK (seq >= 1),
        previous_sign_public_key bytea NOT NULL CHECK (length(previous_sign_public_key) = 32),
        sign_public_key bytea NOT NULL CHECK (length(sign_public_key) = 32),
        issued_at bigint NOT NULL CHECK (issued_at >= 0),
        signature bytea NOT NULL CHECK (length(signature) = 64),
        stored_by_user_id uuid NOT NULL REFERENCES users(id),
        stored_at timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (practice_id, seq),
        -- a root is never used twice in one practice's chain, so the chain cannot loop
        UNIQUE (practice_id, sign_public_key)
      )`);
    await db.query(`
      CREATE TABLE admin_keys (
        practice_id uuid NOT NULL REFERENCES practices(id),
        admin_key_id uuid NOT NULL,
        sign_public_key bytea NOT NULL CHECK (length(sign_public_key) = 32),
        issued_at bigint NOT NULL CHECK (issued_at >= 0),
        -- the root that certified it: after a root rotation the admin key is certified again (a new row)
        root_sign_public_key bytea NOT NULL CHECK (length(root_sign_public_key) = 32),
        certificate bytea NOT NULL CHECK (length(certificate) = 64),
        stored_by_user_id uuid NOT NULL REFERENCES users(id),
        stored_at timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (practice_id, admin_key_id, root_sign_public_key)
      )`);
    // A record key's own certificate is set once (record_keys_kept); after a root rotation the new authority certifies
    // the same key again here, and clients are served the newest certification of each version.
    await db.query(`
      CREATE TABLE record_key_certifications (
        practice_id uuid NOT NULL,
        version integer NOT NULL,
        certified_seq integer NOT NULL CHECK (certified_seq >= 1),
        valid_from bigint NOT NULL CHECK (valid_from >= 0),
        certificate bytea NOT NULL CHECK (length(certificate) = 64),
        current_issued_at bigint CHECK (current_issued_at >= 0),
        current_signature bytea CHECK (length(current_signature) = 64),
        signer_sign_public_key bytea NOT NULL CHECK (length(signer_sign_public_key) = 32),
        stored_by_user_id uuid NOT NULL REFERENCES users(id),
        stored_at timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (practice_id, version, certified_seq),
        FOREIGN KEY (practice_id, version) REFERENCES record_keys (practice_id, version),
        CHECK ((current_issued_at IS NULL) = (current_signature IS NULL))
      )`);
  }

  async down(db: QueryRunner): Promise<void> {
    await db.query(`DROP TABLE record_key_certifications`);
    await db.query(`DROP TABLE admin_keys`);
    await db.query(`DROP TABLE root_successors`);
  }
}
