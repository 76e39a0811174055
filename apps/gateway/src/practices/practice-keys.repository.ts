import { Injectable } from '@nestjs/common';
import type { PracticeKeys } from '@parley/protocol';
import { DataSource } from 'typeorm';
import { toCertifiedAs } from '../common/device-row.js';
import { isUniqueViolation, one, rows, run, transaction } from '../database/sql.js';

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

/** Why a record key or grant was not stored. */
export type KeyWriteRefusal = 'no_root_key' | 'not_next_version' | 'no_such_version' | 'already_granted';

/** A `record_keys` row as `keysFor` selects it (`valid_from` and `current_issued_at` are bigint milliseconds). */
interface RecordKeyRow {
  version: number;
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

/** Every query of a practice's keys: root key, record key versions and their grants. */
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

  /** The practice's root key and record keys, and the active grants sealed to one device; null for an unknown practice. */
  async keysFor(practiceId: string, deviceId: string): Promise<PracticeKeys | null> {
    const practice = await one<{ id: string; ods_code: string; root_sign_public_key: Buffer | null }>(
      this.dataSource,
      `SELECT id, ods_code, root_sign_public_key FROM practices WHERE id = $1`,
      [practiceId],
    );
    if (!practice) return null;
    const recordKeys = await rows<RecordKeyRow>(
      this.dataSource,
      `SELECT version, box_public_key, valid_from, certificate, current_issued_at, current_signature FROM record_keys WHERE practice_id = $1 ORDER BY version`,
      [practiceId],
    );
    const grants = await rows<GrantRow>(
      this.dataSource,
      `SELECT g.version, g.sealed_seed, g.signature, g.granted_by_device_id, d.user_id AS granter_user_id, d.sign_public_key AS granter_sign_public_key, d.box_public_key AS granter_box_public_key, d.certificate AS granter_certificate,
              d.certified_display_name AS granter_certified_display_name, d.certified_roles AS granter_certified_roles
         FROM record_key_grants g JOIN devices d ON d.id = g.granted_by_device_id
        WHERE g.practice_id = $1 AND g.device_id = $2 AND g.revoked_at IS NULL ORDER BY g.version`,
      [practiceId, deviceId],
    );
    return {
      practiceId: practice.id,
      odsCode: practice.ods_code,
      rootSignPublicKey: practice.root_sign_public_key ? practice.root_sign_public_key.toString('base64') : null,
      recordKeys: recordKeys.map(toRecordKey),
      grants: grants.map(toGrant),
    };
  }
}
