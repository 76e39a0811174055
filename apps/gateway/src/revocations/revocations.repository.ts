import { Injectable } from '@nestjs/common';
import type { PutRevocationListRequest, RevokedDevice } from '@parley/protocol';
import { DataSource } from 'typeorm';
import { one, rows, run, transaction } from '../database/sql.js';

/** A revocation list version to store, with who stored it. */
export interface NewRevocationList {
  practiceId: string;
  version: number;
  issuedAt: number;
  entries: readonly RevokedDevice[];
  signerSignPublicKey: Buffer;
  signature: Buffer;
  storedByUserId: string;
}

/** Why a list was not stored. */
export type RevocationListRefusal = 'not_newer' | 'unknown_device';

/** A `revocation_lists` row as `newest` selects it (`issued_at` is bigint milliseconds). */
interface RevocationListRow {
  version: number;
  issued_at: string;
  entries: RevokedDevice[];
  signer_sign_public_key: Buffer;
  signature: Buffer;
}

/** Every query of the practices' signed revocation lists. */
@Injectable()
export class RevocationsRepository {
  constructor(private readonly dataSource: DataSource) {}

  /** Whether the newest stored list names the admin key that `signPublicKey` is (a revoked admin key signs no later list). */
  async isRevokedAdminKey(practiceId: string, signPublicKey: Buffer): Promise<boolean> {
    const row = await one<{ revoked: boolean }>(
      this.dataSource,
      `SELECT EXISTS (
         SELECT 1 FROM admin_keys a
           JOIN (SELECT entries FROM revocation_lists WHERE practice_id = $1 ORDER BY version DESC LIMIT 1) l
             ON l.entries @> jsonb_build_array(jsonb_build_object('deviceId', a.admin_key_id::text))
          WHERE a.practice_id = $1 AND a.sign_public_key = $2) AS revoked`,
      [practiceId, signPublicKey],
    );
    return row?.revoked ?? false;
  }

  /** Devices of the practice revoked on the server that the newest list does not name, oldest revocation first. */
  async unlisted(practiceId: string, limit: number): Promise<RevokedDevice[]> {
    const found = await rows<{ id: string; revoked_at: Date }>(
      this.dataSource,
      `SELECT d.id, d.revoked_at FROM devices d JOIN users u ON u.id = d.user_id
        WHERE u.practice_id = $1 AND d.revoked_at IS NOT NULL
          AND NOT EXISTS (SELECT 1 FROM (SELECT entries FROM revocation_lists WHERE practice_id = $1 ORDER BY version DESC LIMIT 1) l
                           WHERE l.entries @> jsonb_build_array(jsonb_build_object('deviceId', d.id::text)))
        ORDER BY d.revoked_at, d.id
        LIMIT $2`,
      [practiceId, limit],
    );
    return found.map((row) => ({ deviceId: row.id, revokedAt: row.revoked_at.getTime() }));
  }

  /** The practice's highest version; null before its first list. */
  async newest(practiceId: string): Promise<PutRevocationListRequest | null> {
    const row = await one<RevocationListRow>(
      this.dataSource,
      `SELECT version, issued_at, entries, signer_sign_public_key, signature FROM revocation_lists WHERE practice_id = $1 ORDER BY version DESC LIMIT 1`,
      [practiceId],
    );
    if (!row) return null;
    return {
      version: row.version,
      // bigint arrives as a string; milliseconds since 1970 fit a double exactly for millennia.
      issuedAt: Number(row.issued_at),
      entries: row.entries,
      signerSignPublicKey: row.signer_sign_public_key.toString('base64'),
      signature: row.signature.toString('base64'),
    };
  }

  /**
   * Stores a list whose version is higher than every stored one and whose ids are all the practice's: its devices
   * (patients' and staff's, revoked or not) or its admin keys (docs/crypto.md, "Practice authority"). Ids are kept in
   * lower case (the signature covers their bytes, not their case). The practice row is locked so two managers cannot
   * store one version twice.
   */
  async store(list: NewRevocationList): Promise<RevocationListRefusal | null> {
    return transaction(this.dataSource, async (db) => {
      await run(db, `SELECT 1 FROM practices WHERE id = $1 FOR UPDATE`, [list.practiceId]);
      const latest = await one<{ version: number }>(db, `SELECT coalesce(max(version), 0)::int AS version FROM revocation_lists WHERE practice_id = $1`, [
        list.practiceId,
      ]);
      if (list.version <= (latest?.version ?? 0)) return 'not_newer';
      const deviceIds = [...new Set(list.entries.map((entry) => entry.deviceId.toLowerCase()))];
      const known = await one<{ count: number }>(
        db,
        `SELECT count(*)::int AS count FROM (
           SELECT d.id FROM devices d JOIN users u ON u.id = d.user_id WHERE u.practice_id = $1 AND d.id = ANY($2::uuid[])
           UNION SELECT admin_key_id FROM admin_keys WHERE practice_id = $1 AND admin_key_id = ANY($2::uuid[])) known`,
        [list.practiceId, deviceIds],
      );
      if ((known?.count ?? 0) !== deviceIds.length) return 'unknown_device';
      await run(
        db,
        `INSERT INTO revocation_lists (practice_id, version, issued_at, entries, signer_sign_public_key, signature, stored_by_user_id)
         VALUES ($1, $2, $3, $4::jsonb, $5, $6, $7)`,
        [
          list.practiceId,
          list.version,
          list.issuedAt,
          JSON.stringify(list.entries.map((entry) => ({ deviceId: entry.deviceId.toLowerCase(), revokedAt: entry.revokedAt }))),
          list.signerSignPublicKey,
          list.signature,
          list.storedByUserId,
        ],
      );
      return null;
    });
  }
}
