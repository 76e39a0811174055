import { Injectable } from '@nestjs/common';
import type { CertifiedStaff, DeviceInfo, Role } from '@parley/protocol';
import { DataSource } from 'typeorm';
import { toDeviceFields, type DeviceColumnsRow } from '../common/device-row.js';
import { one, rows, run, transaction } from '../database/sql.js';

/** A device of the caller's practice, with what the certification rules need about its owner. */
export interface PracticeDevice {
  id: string;
  userId: string;
  ownerRoles: Role[];
  ownerDisplayName: string;
  hasCertificate: boolean;
  isRevoked: boolean;
}

/** A device of the practice with its owner, as `findInPractice` selects it. */
interface PracticeDeviceRow {
  id: string;
  user_id: string;
  roles: Role[];
  display_name: string;
  has_certificate: boolean;
  is_revoked: boolean;
}

/** A `devices` row: the columns `toDeviceFields` reads, and its user. */
type DeviceRow = DeviceColumnsRow & { user_id: string };

/** Every query of devices: listing, revoking (with their sessions and grants), certifying. */
@Injectable()
export class DevicesRepository {
  constructor(private readonly dataSource: DataSource) {}

  /** Every device of a user, revoked ones too, oldest first. */
  async listOfUser(userId: string): Promise<DeviceInfo[]> {
    const devices = await rows<DeviceRow>(
      this.dataSource,
      `SELECT id, user_id, label, sign_public_key, box_public_key, certificate, certified_display_name, certified_roles, created_at, revoked_at
         FROM devices WHERE user_id = $1 ORDER BY created_at, id`,
      [userId],
    );
    return devices.map((row) => ({ ...toDeviceFields(row), userId: row.user_id }));
  }

  /** A device whose owner belongs to this practice; null for any other id. */
  async findInPractice(practiceId: string, deviceId: string): Promise<PracticeDevice | null> {
    const row = await one<PracticeDeviceRow>(
      this.dataSource,
      `SELECT d.id, d.user_id, u.roles, u.display_name, d.certificate IS NOT NULL AS has_certificate, d.revoked_at IS NOT NULL AS is_revoked
         FROM devices d JOIN users u ON u.id = d.user_id WHERE d.id = $2 AND u.practice_id = $1`,
      [practiceId, deviceId],
    );
    if (!row) return null;
    return {
      id: row.id,
      userId: row.user_id,
      ownerRoles: row.roles,
      ownerDisplayName: row.display_name,
      hasCertificate: row.has_certificate,
      isRevoked: row.is_revoked,
    };
  }

  /**
   * Revokes a device of this user, its open sessions and the record key grants sealed to it, in one
   * transaction. Returns false when the user has no such device; revoking a revoked device changes nothing.
   */
  async revokeOfUser(userId: string, deviceId: string): Promise<boolean> {
    return transaction(this.dataSource, async (db) => {
      const device = await one<{ revoked_at: Date | null }>(db, `SELECT revoked_at FROM devices WHERE id = $1 AND user_id = $2 FOR UPDATE`, [deviceId, userId]);
      if (!device) return false;
      if (device.revoked_at) return true;
      await run(db, `UPDATE devices SET revoked_at = now() WHERE id = $1`, [deviceId]);
      await run(db, `UPDATE sessions SET revoked_at = now(), end_reason = 'device_revoked' WHERE device_id = $1 AND revoked_at IS NULL`, [deviceId]);
      await run(db, `UPDATE record_key_grants SET revoked_at = now() WHERE device_id = $1 AND revoked_at IS NULL`, [deviceId]);
      return true;
    });
  }

  /** Whether a user is a member of staff (not a patient) of this practice, and whether they are still active; null when not. */
  async staffMember(practiceId: string, userId: string): Promise<{ isActive: boolean; roles: Role[] } | null> {
    const row = await one<{ deactivated_at: Date | null; roles: Role[] }>(
      this.dataSource,
      `SELECT deactivated_at, roles FROM users WHERE id = $2 AND practice_id = $1 AND NOT ('patient' = ANY(roles))`,
      [practiceId, userId],
    );
    return row ? { isActive: row.deactivated_at === null, roles: row.roles } : null;
  }

  /**
   * Offboards a member of staff in one transaction: deactivates the account (it can no longer sign
   * in), ends every session, revokes every device and the record key grants sealed to them (rows are
   * kept with `revoked_at`: signatures must stay verifiable). Returns what was ended, or null when the
   * user is not an active member of staff of the practice.
   */
  async offboard(practiceId: string, userId: string): Promise<{ devicesRevoked: number; grantsRevoked: number; sessionsEnded: number } | null> {
    return transaction(this.dataSource, async (db) => {
      const deactivated = await rows<{ id: string }>(
        db,
        `UPDATE users SET deactivated_at = now() WHERE id = $2 AND practice_id = $1 AND deactivated_at IS NULL AND NOT ('patient' = ANY(roles)) RETURNING id`,
        [practiceId, userId],
      );
      if (deactivated.length === 0) return null;
      const sessions = await rows<{ id: string }>(
        db,
        `UPDATE sessions SET revoked_at = now(), end_reason = 'revoked' WHERE user_id = $1 AND revoked_at IS NULL RETURNING id`,
        [userId],
      );
      const grants = await rows<{ id: string }>(
        db,
        `UPDATE record_key_grants SET revoked_at = now() WHERE revoked_at IS NULL AND device_id IN (SELECT id FROM devices WHERE user_id = $1) RETURNING id`,
        [userId],
      );
      const devices = await rows<{ id: string }>(db, `UPDATE devices SET revoked_at = now() WHERE user_id = $1 AND revoked_at IS NULL RETURNING id`, [userId]);
      return { devicesRevoked: devices.length, grantsRevoked: grants.length, sessionsEnded: sessions.length };
    });
  }

  /** Sets a patient device's certificate once; false when it already has one or was revoked. */
  async certifyPatientDevice(deviceId: string, certificate: Buffer): Promise<boolean> {
    const certified = await rows<{ id: string }>(
      this.dataSource,
      `UPDATE devices SET certificate = $2 WHERE id = $1 AND certificate IS NULL AND revoked_at IS NULL RETURNING id`,
      [deviceId, certificate],
    );
    return certified.length === 1;
  }

  /** Sets or replaces a staff device's root-signed certificate and what it names; false when the device was revoked. */
  async certifyStaffDevice(deviceId: string, certificate: Buffer, certifiedAs: CertifiedStaff): Promise<boolean> {
    const certified = await rows<{ id: string }>(
      this.dataSource,
      `UPDATE devices SET certificate = $2, certified_display_name = $3, certified_roles = $4 WHERE id = $1 AND revoked_at IS NULL RETURNING id`,
      [deviceId, certificate, certifiedAs.displayName, certifiedAs.roles],
    );
    return certified.length === 1;
  }

  /** Whether a device is unrevoked and belongs to an active member of staff of this practice. */
  async isActiveStaffDevice(practiceId: string, deviceId: string): Promise<boolean> {
    const found = await rows(
      this.dataSource,
      `SELECT 1 FROM devices d JOIN users u ON u.id = d.user_id
        WHERE d.id = $2 AND u.practice_id = $1 AND d.revoked_at IS NULL AND u.deactivated_at IS NULL AND NOT ('patient' = ANY(u.roles))`,
      [practiceId, deviceId],
    );
    return found.length === 1;
  }
}
