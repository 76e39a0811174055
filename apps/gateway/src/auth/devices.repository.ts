import { Injectable } from '@nestjs/common';
import type { DeviceInfo, Role } from '@parley/protocol';
import { DataSource } from 'typeorm';
import { returnedRows } from '../common/sql.js';

/** A device of the caller's practice, with what the certification rules need about its owner. */
export interface PracticeDevice {
  id: string;
  userId: string;
  ownerRoles: Role[];
  hasCertificate: boolean;
  isRevoked: boolean;
}

/** Every query of devices: listing, revoking (with their sessions and grants), certifying. */
@Injectable()
export class DevicesRepository {
  constructor(private readonly dataSource: DataSource) {}

  /** Every device of a user, revoked ones too, oldest first. */
  async listOfUser(userId: string): Promise<DeviceInfo[]> {
    const rows: Record<string, unknown>[] = await this.dataSource.query(
      `SELECT id, user_id, label, sign_public_key, box_public_key, certificate, created_at, revoked_at FROM devices WHERE user_id = $1 ORDER BY created_at, id`,
      [userId],
    );
    return rows.map((row) => ({
      id: row['id'] as string,
      userId: row['user_id'] as string,
      label: row['label'] as string,
      signPublicKey: (row['sign_public_key'] as Buffer).toString('base64'),
      boxPublicKey: (row['box_public_key'] as Buffer).toString('base64'),
      certificate: row['certificate'] ? (row['certificate'] as Buffer).toString('base64') : null,
      createdAt: (row['created_at'] as Date).toISOString(),
      revokedAt: row['revoked_at'] ? (row['revoked_at'] as Date).toISOString() : null,
    }));
  }

  /** A device whose owner belongs to this practice; null for any other id. */
  async findInPractice(practiceId: string, deviceId: string): Promise<PracticeDevice | null> {
    const rows: Record<string, unknown>[] = await this.dataSource.query(
      `SELECT d.id, d.user_id, u.roles, d.certificate IS NOT NULL AS has_certificate, d.revoked_at IS NOT NULL AS is_revoked
         FROM devices d JOIN users u ON u.id = d.user_id WHERE d.id = $2 AND u.practice_id = $1`,
      [practiceId, deviceId],
    );
    const row = rows[0];
    if (!row) return null;
    return {
      id: row['id'] as string,
      userId: row['user_id'] as string,
      ownerRoles: row['roles'] as Role[],
      hasCertificate: row['has_certificate'] as boolean,
      isRevoked: row['is_revoked'] as boolean,
    };
  }

  /**
   * Revokes a device of this user, its open sessions and the record key grants sealed to it, in one
   * transaction. Returns false when the user has no such device; revoking a revoked device changes nothing.
   */
  async revokeOfUser(userId: string, deviceId: string): Promise<boolean> {
    return this.dataSource.transaction(async (db) => {
      const [device] = (await db.query(`SELECT revoked_at FROM devices WHERE id = $1 AND user_id = $2 FOR UPDATE`, [deviceId, userId])) as {
        revoked_at: Date | null;
      }[];
      if (!device) return false;
      if (device.revoked_at) return true;
      await db.query(`UPDATE devices SET revoked_at = now() WHERE id = $1`, [deviceId]);
      await db.query(`UPDATE sessions SET revoked_at = now(), end_reason = 'device_revoked' WHERE device_id = $1 AND revoked_at IS NULL`, [deviceId]);
      await db.query(`UPDATE record_key_grants SET revoked_at = now() WHERE device_id = $1 AND revoked_at IS NULL`, [deviceId]);
      return true;
    });
  }

  /** Sets a device's certificate once; false when it already has one or was revoked. */
  async certify(deviceId: string, certificate: Buffer): Promise<boolean> {
    const rows = returnedRows(
      await this.dataSource.query(`UPDATE devices SET certificate = $2 WHERE id = $1 AND certificate IS NULL AND revoked_at IS NULL RETURNING id`, [
        deviceId,
        certificate,
      ]),
    );
    return rows.length === 1;
  }

  /** Whether a device is unrevoked and belongs to an active member of staff of this practice. */
  async isActiveStaffDevice(practiceId: string, deviceId: string): Promise<boolean> {
    const rows: unknown[] = await this.dataSource.query(
      `SELECT 1 FROM devices d JOIN users u ON u.id = d.user_id
        WHERE d.id = $2 AND u.practice_id = $1 AND d.revoked_at IS NULL AND u.deactivated_at IS NULL AND NOT ('patient' = ANY(u.roles))`,
      [practiceId, deviceId],
    );
    return rows.length === 1;
  }
}
