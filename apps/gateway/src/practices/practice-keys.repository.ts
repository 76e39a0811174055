import { Injectable } from '@nestjs/common';
import type { PracticeKeys } from '@parley/protocol';
import { DataSource } from 'typeorm';
import { toCertifiedAs } from '../common/device-row.js';
import { isUniqueViolation, returnedRows } from '../common/sql.js';

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

/** Every query of a practice's keys: root key, record key versions and their grants. */
@Injectable()
export class PracticeKeysRepository {
  constructor(private readonly dataSource: DataSource) {}

  /** Pins the practice's root key; false when it already has one (it is set once, ever). */
  async setRootKey(practiceId: string, rootSignPublicKey: Buffer): Promise<boolean> {
    const rows = returnedRows(
      await this.dataSource.query(`UPDATE practices SET root_sign_public_key = $2 WHERE id = $1 AND root_sign_public_key IS NULL RETURNING id`, [
        practiceId,
        rootSignPublicKey,
      ]),
    );
    return rows.length === 1;
  }

  /**
   * Adds a record key version, which must be the next one (1, 2, …), and only once a root key is pinned
   * to certify it. The practice row is locked so two managers cannot add the same version.
   */
  async addRecordKey(key: NewRecordKey): Promise<KeyWriteRefusal | null> {
    return this.dataSource.transaction(async (db) => {
      const [practice] = (await db.query(`SELECT root_sign_public_key IS NOT NULL AS has_root FROM practices WHERE id = $1 FOR UPDATE`, [
        key.practiceId,
      ])) as { has_root: boolean }[];
      if (!practice?.has_root) return 'no_root_key';
      const [latest] = (await db.query(`SELECT coalesce(max(version), 0)::int AS version FROM record_keys WHERE practice_id = $1`, [key.practiceId])) as {
        version: number;
      }[];
      if (key.version !== (latest?.version ?? 0) + 1) return 'not_next_version';
      await db.query(
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
      const rows: unknown[] = await this.dataSource.query(
        `INSERT INTO record_key_grants (id, practice_id, version, device_id, sealed_seed, signature, granted_by_device_id)
         SELECT $1, k.practice_id, k.version, $4, $5, $6, $7 FROM record_keys k WHERE k.practice_id = $2 AND k.version = $3
         RETURNING id`,
        [grant.id, grant.practiceId, grant.version, grant.deviceId, grant.sealedSeed, grant.signature, grant.grantedByDeviceId],
      );
      return rows.length === 1 ? null : 'no_such_version';
    } catch (error) {
      if (isUniqueViolation(error, 'record_key_grants_one_active')) return 'already_granted';
      throw error;
    }
  }

  /** The practice's root key and record keys, and the active grants sealed to one device; null for an unknown practice. */
  async keysFor(practiceId: string, deviceId: string): Promise<PracticeKeys | null> {
    const [practice] = (await this.dataSource.query(`SELECT id, ods_code, root_sign_public_key FROM practices WHERE id = $1`, [practiceId])) as Record<
      string,
      unknown
    >[];
    if (!practice) return null;
    const recordKeys: Record<string, unknown>[] = await this.dataSource.query(
      `SELECT version, box_public_key, valid_from, certificate, current_issued_at, current_signature FROM record_keys WHERE practice_id = $1 ORDER BY version`,
      [practiceId],
    );
    const grants: Record<string, unknown>[] = await this.dataSource.query(
      `SELECT g.version, g.sealed_seed, g.signature, g.granted_by_device_id, d.user_id AS granter_user_id, d.sign_public_key AS granter_sign_public_key, d.box_public_key AS granter_box_public_key, d.certificate AS granter_certificate,
              d.certified_display_name AS granter_certified_display_name, d.certified_roles AS granter_certified_roles
         FROM record_key_grants g JOIN devices d ON d.id = g.granted_by_device_id
        WHERE g.practice_id = $1 AND g.device_id = $2 AND g.revoked_at IS NULL ORDER BY g.version`,
      [practiceId, deviceId],
    );
    const root = practice['root_sign_public_key'] as Buffer | null;
    return {
      practiceId: practice['id'] as string,
      odsCode: practice['ods_code'] as string,
      rootSignPublicKey: root ? root.toString('base64') : null,
      recordKeys: recordKeys.map((row) => ({
        version: row['version'] as number,
        boxPublicKey: (row['box_public_key'] as Buffer).toString('base64'),
        // bigint arrives as a string; milliseconds since 1970 fit a double exactly for millennia.
        validFrom: Number(row['valid_from']),
        certificate: (row['certificate'] as Buffer).toString('base64'),
        current: row['current_signature']
          ? { issuedAt: Number(row['current_issued_at']), signature: (row['current_signature'] as Buffer).toString('base64') }
          : null,
      })),
      grants: grants.map((row) => ({
        version: row['version'] as number,
        sealedSeed: (row['sealed_seed'] as Buffer).toString('base64'),
        signature: (row['signature'] as Buffer).toString('base64'),
        grantedByDeviceId: row['granted_by_device_id'] as string,
        granterUserId: row['granter_user_id'] as string,
        granterSignPublicKey: (row['granter_sign_public_key'] as Buffer).toString('base64'),
        granterBoxPublicKey: (row['granter_box_public_key'] as Buffer).toString('base64'),
        granterCertificate: row['granter_certificate'] ? (row['granter_certificate'] as Buffer).toString('base64') : null,
        granterCertifiedAs: toCertifiedAs(row['granter_certified_display_name'], row['granter_certified_roles']),
      })),
    };
  }
}
