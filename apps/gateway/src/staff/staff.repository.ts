import { Injectable } from '@nestjs/common';
import type { OffboardingProgress, StaffDevice, StaffMember } from '@parley/protocol';
import { DataSource } from 'typeorm';
import { rows } from '../database/sql.js';
import { toDeviceFields, type DeviceColumnsRow } from '../common/device-row.js';

/** A member of staff's `users` row with their `clinician_capacity` (null without one) and live conversations, as `list` selects it. */
interface StaffRow {
  id: string;
  display_name: string;
  email: string | null;
  roles: StaffMember['roles'];
  activated_at: Date | null;
  deactivated_at: Date | null;
  availability: 'available' | 'away' | 'offline' | null;
  max_concurrent: number | null;
  daily_max: number | null;
  active: number;
}

/** A staff device (the columns `toDeviceFields` reads) with its user and the record key versions granted to it. */
type StaffDeviceRow = DeviceColumnsRow & { user_id: string; granted_versions: number[] };

const toStaffMember = (row: StaffRow, devices: StaffDevice[]): StaffMember => ({
  userId: row.id,
  displayName: row.display_name,
  email: row.email,
  roles: row.roles,
  isActivated: row.activated_at !== null,
  deactivatedAt: row.deactivated_at ? row.deactivated_at.toISOString() : null,
  capacity: row.roles.includes('clinician')
    ? {
        availability: row.availability ?? 'offline',
        // A clinician without a capacity row yet has the table's defaults.
        maxConcurrent: row.max_concurrent ?? DEFAULT_MAX_CONCURRENT,
        dailyMax: row.daily_max,
        active: row.active,
      }
    : null,
  devices,
});

/** The staff listing's reads: accounts, devices with their record key grants, and clinicians' capacity. Read-only. */
@Injectable()
export class StaffRepository {
  constructor(private readonly dataSource: DataSource) {}

  /** Every member of staff of the practice (offboarded ones included), by name, each with every device. */
  async list(practiceId: string): Promise<StaffMember[]> {
    const users = await rows<StaffRow>(
      this.dataSource,
      `SELECT u.id, u.display_name, u.email, u.roles, u.activated_at, u.deactivated_at,
              cc.availability, cc.max_concurrent, cc.daily_max,
              (SELECT count(*) FROM conversations c WHERE c.assigned_clinician_id = u.id AND c.status IN ('assigned', 'on_hold'))::int AS active
         FROM users u LEFT JOIN clinician_capacity cc ON cc.user_id = u.id
        WHERE u.practice_id = $1 AND NOT ('patient' = ANY(u.roles))
        ORDER BY lower(u.display_name), u.id`,
      [practiceId],
    );
    const devices = await rows<StaffDeviceRow>(
      this.dataSource,
      `SELECT d.id, d.user_id, d.label, d.sign_public_key, d.box_public_key, d.certificate, d.certified_display_name, d.certified_roles, d.created_at, d.revoked_at,
              coalesce((SELECT array_agg(g.version ORDER BY g.version) FROM record_key_grants g WHERE g.device_id = d.id AND g.revoked_at IS NULL), '{}') AS granted_versions
         FROM devices d JOIN users u ON u.id = d.user_id
        WHERE u.practice_id = $1 AND NOT ('patient' = ANY(u.roles))
        ORDER BY d.created_at, d.id`,
      [practiceId],
    );
    const byUser = new Map<string, StaffDevice[]>();
    for (const row of devices) {
      const list = byUser.get(row.user_id) ?? [];
      list.push({ ...toDeviceFields(row), grantedVersions: row.granted_versions.map(Number) });
      byUser.set(row.user_id, list);
    }
    return users.map((row) => toStaffMember(row, byUser.get(row.id) ?? []));
  }

  /**
   * What is left of a leaver's offboarding (docs/crypto.md, "Leavers"), or null for no member of staff of
   * this practice: whether a record key was made after it, and the open conversations whose current epoch
   * began before it (the epoch starts with its first envelope).
   */
  async offboardingProgress(practiceId: string, userId: string, limit: number): Promise<OffboardingProgress | null> {
    const [member] = await rows<{ deactivated_at: Date | null; newest_version: number | null; rotated: boolean }>(
      this.dataSource,
      `SELECT u.deactivated_at,
              (SELECT max(k.version) FROM record_keys k WHERE k.practice_id = u.practice_id) AS newest_version,
              EXISTS (SELECT 1 FROM record_keys k WHERE k.practice_id = u.practice_id AND k.created_at > u.deactivated_at) AS rotated
         FROM users u WHERE u.id = $1 AND u.practice_id = $2 AND NOT ('patient' = ANY(u.roles))`,
      [userId, practiceId],
    );
    if (!member) return null;
    const progress: OffboardingProgress = {
      userId,
      offboardedAt: member.deactivated_at?.toISOString() ?? null,
      recordKey: { isRotated: member.rotated, newestVersion: member.newest_version },
      conversationsToRenew: [],
      conversationsToRenewCount: 0,
    };
    if (!member.deactivated_at) return progress;
    const stale = await rows<{ id: string; total: number }>(
      this.dataSource,
      `SELECT c.id, count(*) OVER ()::int AS total
         FROM conversations c
         JOIN LATERAL (SELECT min(e.created_at) AS started FROM conversation_envelopes e
                        WHERE e.conversation_id = c.id AND e.epoch = c.current_epoch) epoch ON true
        WHERE c.practice_id = $1 AND c.status <> 'closed' AND epoch.started <= $2
        ORDER BY epoch.started, c.id
        LIMIT $3`,
      [practiceId, member.deactivated_at, limit],
    );
    progress.conversationsToRenew = stale.map((row) => row.id);
    progress.conversationsToRenewCount = stale[0]?.total ?? 0;
    return progress;
  }
}

/** `clinician_capacity.max_concurrent`'s column default (migration 1763790000000). */
const DEFAULT_MAX_CONCURRENT = 3;
