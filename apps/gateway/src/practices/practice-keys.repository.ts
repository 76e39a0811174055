import { Injectable } from '@nestjs/common';
import type { PracticeKeys } from '@parley/protocol';
import { DataSource } from 'typeorm';
import { toCertifiedAs } from '../common/device-row.js';
import { isUniqueViolation, one, rows, run, transaction, type Db } from '../database/sql.js';

/** A record key version to store. */
export interface NewRecordKey {
  practiceId: string;
  version: number;
  boxPublicKey: Buffer;
  validFrom: number;
  certificate: Buffer;
  /** The root's "this version is current" statement. */
  current: { issuedAt: number; signature: Buffer };
}

/** A record key grant to store. */
export interface NewRecordKeyGrant {
  id: string;
  practiceId: string;
  version: number;
  deviceId: string;
  sealedSeed: Buffer;
  signature: Buffer;
  grantedByDeviceId: string;
}

/** A root successor statement to store, signed by the practice's current root. */
export interface NewRootSuccessor {
  practiceId: string;
  previousSignPublicKey: Buffer;
  signPublicKey: Buffer;
  issuedAt: number;
  signature: Buffer;
  storedByUserId: string;
}

/** An admin key to store with the certificate of the root that was current when the service checked it. */
export interface NewAdminKey {
  practiceId: string;
  adminKeyId: string;
  signPublicKey: Buffer;
  issuedAt: number;
  rootSignPublicKey: Buffer;
  certificate: Buffer;
  storedByUserId: string;
}

/** A record key version certified again by the current authority (after a root rotation). */
export interface NewRecordKeyCertification {
  practiceId: string;
  version: number;
  validFrom: number;
  certificate: Buffer;
  current: { issuedAt: number; signature: Buffer } | null;
  signerSignPublicKey: Buffer;
  /** The root current when the service checked the signer: the write is refused if it changed since. */
  rootSignPublicKey: Buffer;
  storedByUserId: string;
}

/** What signs for a practice now: its ODS code (the practice id clients sign), current root, and the admin keys that root certified. */
export interface PracticeAuthorityRow {
  odsCode: string;
  currentRoot: Buffer | null;
  /** Every root the practice has had, oldest first (the first pinned one, then each successor). */
  roots: Buffer[];
  adminKeys: { adminKeyId: string; signPublicKey: Buffer }[];
}

/** Why an authority statement was not stored. */
export type AuthorityWriteRefusal = 'no_root_key' | 'not_current_root' | 'root_reused' | 'no_such_version' | 'already_stored';

/** Why a record key or grant was not stored. */
export type KeyWriteRefusal = 'no_root_key' | 'not_next_version' | 'no_such_version' | 'already_granted';

/** A `record_keys` row as `keysFor` selects it (`valid_from` and `current_issued_at` are bigint milliseconds). */
interface RecordKeyRow {
  version: number;
  /** From the newest row of record_key_certifications when the version was certified again, else the original. */
  box_public_key: Buffer;
  valid_from: string;
  certificate: Buffer;
  current_issued_at: string | null;
  current_signature: Buffer | null;
}

/** An active `record_key_grants` row with its granter's device, as `keysFor` selects it. */
interface GrantRow {
  version: number;
  sealed_seed: Buffer;
  signature: Buffer;
  granted_by_device_id: string;
  granter_user_id: string;
  granter_sign_public_key: Buffer;
  granter_box_public_key: Buffer;
  granter_certificate: Buffer | null;
  granter_certified_display_name: string | null;
  granter_certified_roles: string[] | null;
}

/** A `root_successors` row (`issued_at` is bigint milliseconds). */
interface RootSuccessorRow {
  previous_sign_public_key: Buffer;
  sign_public_key: Buffer;
  issued_at: string;
  signature: Buffer;
}

/** An `admin_keys` row as `keysFor` selects it. */
interface AdminKeyRow {
  admin_key_id: string;
  sign_public_key: Buffer;
  issued_at: string;
  certificate: Buffer;
}

type RecordKey = PracticeKeys['recordKeys'][number];
type Grant = PracticeKeys['grants'][number];

const toRecordKey = (row: RecordKeyRow): RecordKey => ({
  version: row.version,
  boxPublicKey: row.box_public_key.toString('base64'),
  // bigint arrives as a string; milliseconds since 1970 fit a double exactly for millennia.
  validFrom: Number(row.valid_from),
  certificate: row.certificate.toString('base64'),
  current: row.current_signature ? { issuedAt: Number(row.current_issued_at), signature: row.current_signature.toString('base64') } : null,
});

const toGrant = (row: GrantRow): Grant => ({
  version: row.version,
  sealedSeed: row.sealed_seed.toString('base64'),
  signature: row.signature.toString('base64'),
  grantedByDeviceId: row.granted_by_device_id,
  granterUserId: row.granter_user_id,
  granterSignPublicKey: row.granter_sign_public_key.toString('base64'),
  granterBoxPublicKey: row.granter_box_public_key.toString('base64'),
  granterCertificate: row.granter_certificate ? row.granter_certificate.toString('base64') : null,
  granterCertifiedAs: toCertifiedAs(row.granter_certified_display_name, row.granter_certified_roles),
});

/** Every query of a practice's keys: root key and its successors, admin keys, record key versions and their grants. */
@Injectable()
export class PracticeKeysRepository {
  constructor(private readonly dataSource: DataSource) {}

  /** Pins the practice's root key; false when it already has one (it is set once, ever). */
  async setRootKey(practiceId: string, rootSignPublicKey: Buffer): Promise<boolean> {
    const pinned = await rows<{ id: string }>(
      this.dataSource,
      `UPDATE practices SET root_sign_public_key = $2 WHERE id = $1 AND root_sign_public_key IS NULL RETURNING id`,
      [practiceId, rootSignPublicKey],
    );
    return pinned.length === 1;
  }

  /**
   * Adds a record key version, which must be the next one (1, 2, …), and only once a root key is pinned
   * to certify it. The practice row is locked so two managers cannot add the same version.
   */
  async addRecordKey(key: NewRecordKey): Promise<KeyWriteRefusal | null> {
    return transaction(this.dataSource, async (db) => {
      const practice = await one<{ has_root: boolean }>(db, `SELECT root_sign_public_key IS NOT NULL AS has_root FROM practices WHERE id = $1 FOR UPDATE`, [
        key.practiceId,
      ]);
      if (!practice?.has_root) return 'no_root_key';
      const latest = await one<{ version: number }>(db, `SELECT coalesce(max(version), 0)::int AS version FROM record_keys WHERE practice_id = $1`, [
        key.practiceId,
      ]);
      if (key.version !== (latest?.version ?? 0) + 1) return 'not_next_version';
      await run(
        db,
        `INSERT INTO record_keys (practice_id, version, box_public_key, valid_from, certificate, current_issued_at, current_signature)
         VALUES ($1, $2, $3, $4, $5, $6, $7)`,
        [key.practiceId, key.version, key.boxPublicKey, key.validFrom, key.certificate, key.current.issuedAt, key.current.signature],
      );
      return null;
    });
  }

  /** Stores a grant of an existing record key version; one active grant per device and version. */
  async addGrant(grant: NewRecordKeyGrant): Promise<KeyWriteRefusal | null> {
    try {
      const granted = await rows<{ id: string }>(
        this.dataSource,
        `INSERT INTO record_key_grants (id, practice_id, version, device_id, sealed_seed, signature, granted_by_device_id)
         SELECT $1, k.practice_id, k.version, $4, $5, $6, $7 FROM record_keys k WHERE k.practice_id = $2 AND k.version = $3
         RETURNING id`,
        [grant.id, grant.practiceId, grant.version, grant.deviceId, grant.sealedSeed, grant.signature, grant.grantedByDeviceId],
      );
      return granted.length === 1 ? null : 'no_such_version';
    } catch (error) {
      if (isUniqueViolation(error, 'record_key_grants_one_active')) return 'already_granted';
      throw error;
    }
  }

  /** The practice's roots, current root and the admin keys it certified (on `db`, so a transaction sees its own lock); null for an unknown practice. */
  async authority(practiceId: string, db: Db = this.dataSource): Promise<PracticeAuthorityRow | null> {
    const practice = await one<{ ods_code: string; root_sign_public_key: Buffer | null }>(
      db,
      `SELECT ods_code, root_sign_public_key FROM practices WHERE id = $1`,
      [practiceId],
    );
    if (!practice) return null;
    const chain = await rows<{ sign_public_key: Buffer }>(db, `SELECT sign_public_key FROM root_successors WHERE practice_id = $1 ORDER BY seq`, [practiceId]);
    const roots = practice.root_sign_public_key ? [practice.root_sign_public_key, ...chain.map((link) => link.sign_public_key)] : [];
    const currentRoot = roots.at(-1) ?? null;
    const adminKeys = currentRoot
      ? await rows<{ admin_key_id: string; sign_public_key: Buffer }>(
          db,
          `SELECT admin_key_id, sign_public_key FROM admin_keys WHERE practice_id = $1 AND root_sign_public_key = $2 ORDER BY stored_at, admin_key_id`,
          [practiceId, currentRoot],
        )
      : [];
    return {
      odsCode: practice.ods_code,
      currentRoot,
      roots,
      adminKeys: adminKeys.map((row) => ({ adminKeyId: row.admin_key_id, signPublicKey: row.sign_public_key })),
    };
  }

  /**
   * Appends a root successor. The practice row is locked, and the statement must name the current root as its
   * predecessor and a key the practice never had as its successor, so the chain stays one line with no loop.
   */
  async addRootSuccessor(link: NewRootSuccessor): Promise<AuthorityWriteRefusal | null> {
    return transaction(this.dataSource, async (db) => {
      await run(db, `SELECT id FROM practices WHERE id = $1 FOR UPDATE`, [link.practiceId]);
      const authority = await this.authority(link.practiceId, db);
      if (!authority?.currentRoot) return 'no_root_key';
      if (!authority.currentRoot.equals(link.previousSignPublicKey)) return 'not_current_root';
      if (authority.roots.some((root) => root.equals(link.signPublicKey))) return 'root_reused';
      await run(
        db,
        `INSERT INTO root_successors (practice_id, seq, previous_sign_public_key, sign_public_key, issued_at, signature, stored_by_user_id)
         VALUES ($1, $2, $3, $4, $5, $6, $7)`,
        [link.practiceId, authority.roots.length, link.previousSignPublicKey, link.signPublicKey, link.issuedAt, link.signature, link.storedByUserId],
      );
      return null;
    });
  }

  /** Stores an admin key certified by `rootSignPublicKey`, refused if that is no longer the current root (a rotation in between). */
  async addAdminKey(key: NewAdminKey): Promise<AuthorityWriteRefusal | null> {
    return transaction(this.dataSource, async (db) => {
      await run(db, `SELECT id FROM practices WHERE id = $1 FOR UPDATE`, [key.practiceId]);
      const authority = await this.authority(key.practiceId, db);
      if (!authority?.currentRoot) return 'no_root_key';
      if (!authority.currentRoot.equals(key.rootSignPublicKey)) return 'not_current_root';
      const stored = await rows<{ admin_key_id: string }>(
        db,
        `INSERT INTO admin_keys (practice_id, admin_key_id, sign_public_key, issued_at, root_sign_public_key, certificate, stored_by_user_id)
         VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING RETURNING admin_key_id`,
        [key.practiceId, key.adminKeyId, key.signPublicKey, key.issuedAt, key.rootSignPublicKey, key.certificate, key.storedByUserId],
      );
      return stored.length === 1 ? null : 'already_stored';
    });
  }

  /** A record key version's public key, to check a new certification against; null when the practice has no such version. */
  async recordKeyPublicKey(practiceId: string, version: number): Promise<Buffer | null> {
    const key = await one<{ box_public_key: Buffer }>(this.dataSource, `SELECT box_public_key FROM record_keys WHERE practice_id = $1 AND version = $2`, [
      practiceId,
      version,
    ]);
    return key?.box_public_key ?? null;
  }

  /** Stores a new certification of a record key version, refused if the root changed since the service checked the signer. */
  async addRecordKeyCertification(certification: NewRecordKeyCertification): Promise<AuthorityWriteRefusal | null> {
    return transaction(this.dataSource, async (db) => {
      await run(db, `SELECT id FROM practices WHERE id = $1 FOR UPDATE`, [certification.practiceId]);
      const authority = await this.authority(certification.practiceId, db);
      if (!authority?.currentRoot) return 'no_root_key';
      if (!authority.currentRoot.equals(certification.rootSignPublicKey)) return 'not_current_root';
      const stored = await rows<{ version: number }>(
        db,
        `INSERT INTO record_key_certifications (practice_id, version, certified_seq, valid_from, certificate, current_issued_at, current_signature, signer_sign_public_key, stored_by_user_id)
         SELECT k.practice_id, k.version,
                (SELECT coalesce(max(c.certified_seq), 0) + 1 FROM record_key_certifications c WHERE c.practice_id = k.practice_id AND c.version = k.version),
                $3, $4, $5, $6, $7, $8
           FROM record_keys k WHERE k.practice_id = $1 AND k.version = $2
         RETURNING version`,
        [
          certification.practiceId,
          certification.version,
          certification.validFrom,
          certification.certificate,
          certification.current?.issuedAt ?? null,
          certification.current?.signature ?? null,
          certification.signerSignPublicKey,
          certification.storedByUserId,
        ],
      );
      return stored.length === 1 ? null : 'no_such_version';
    });
  }

  /** The practice's root key and record keys, and the active grants sealed to one device; null for an unknown practice. */
  async keysFor(practiceId: string, deviceId: string): Promise<PracticeKeys | null> {
    // Five independent reads at once (every patient asks before each open: a 9 am rush must not queue them one by one).
    const [practice, recordKeys, grants, chain, adminKeys] = await Promise.all([
      one<{ id: string; ods_code: string; root_sign_public_key: Buffer | null }>(
        this.dataSource,
        `SELECT id, ods_code, root_sign_public_key FROM practices WHERE id = $1`,
        [practiceId],
      ),
      rows<RecordKeyRow>(
        this.dataSource,
        `SELECT k.version, k.box_public_key, coalesce(c.valid_from, k.valid_from) AS valid_from, coalesce(c.certificate, k.certificate) AS certificate,
                CASE WHEN c.version IS NULL THEN k.current_issued_at ELSE c.current_issued_at END AS current_issued_at,
                CASE WHEN c.version IS NULL THEN k.current_signature ELSE c.current_signature END AS current_signature
           FROM record_keys k
           LEFT JOIN LATERAL (SELECT * FROM record_key_certifications c WHERE c.practice_id = k.practice_id AND c.version = k.version
                               ORDER BY c.certified_seq DESC LIMIT 1) c ON true
          WHERE k.practice_id = $1 ORDER BY k.version`,
        [practiceId],
      ),
      rows<GrantRow>(
        this.dataSource,
        `SELECT g.version, g.sealed_seed, g.signature, g.granted_by_device_id, d.user_id AS granter_user_id, d.sign_public_key AS granter_sign_public_key, d.box_public_key AS granter_box_public_key, d.certificate AS granter_certificate,
                d.certified_display_name AS granter_certified_display_name, d.certified_roles AS granter_certified_roles
           FROM record_key_grants g JOIN devices d ON d.id = g.granted_by_device_id
          WHERE g.practice_id = $1 AND g.device_id = $2 AND g.revoked_at IS NULL ORDER BY g.version`,
        [practiceId, deviceId],
      ),
      rows<RootSuccessorRow>(
        this.dataSource,
        `SELECT previous_sign_public_key, sign_public_key, issued_at, signature FROM root_successors WHERE practice_id = $1 ORDER BY seq`,
        [practiceId],
      ),
      // The admin keys of the current root: the newest successor's, else the practice's first root.
      rows<AdminKeyRow>(
        this.dataSource,
        `SELECT admin_key_id, sign_public_key, issued_at, certificate FROM admin_keys
          WHERE practice_id = $1
            AND root_sign_public_key = coalesce((SELECT sign_public_key FROM root_successors WHERE practice_id = $1 ORDER BY seq DESC LIMIT 1),
                                                (SELECT root_sign_public_key FROM practices WHERE id = $1))
          ORDER BY stored_at, admin_key_id`,
        [practiceId],
      ),
    ]);
    if (!practice) return null;
    const currentRoot = chain.at(-1)?.sign_public_key ?? practice.root_sign_public_key;
    return {
      practiceId: practice.id,
      odsCode: practice.ods_code,
      rootSignPublicKey: currentRoot ? currentRoot.toString('base64') : null,
      rootChain: chain.map((link) => ({
        previousSignPublicKey: link.previous_sign_public_key.toString('base64'),
        signPublicKey: link.sign_public_key.toString('base64'),
        issuedAt: Number(link.issued_at),
        signature: link.signature.toString('base64'),
      })),
      adminKeys: adminKeys.map((key) => ({
        adminKeyId: key.admin_key_id,
        signPublicKey: key.sign_public_key.toString('base64'),
        issuedAt: Number(key.issued_at),
        certificate: key.certificate.toString('base64'),
      })),
      recordKeys: recordKeys.map(toRecordKey),
      grants: grants.map(toGrant),
    };
  }
}
