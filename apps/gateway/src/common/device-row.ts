import type { CertifiedStaff, DeviceInfo } from '@parley/protocol';

/**
 * A device row (`id, label, sign_public_key, box_public_key, certificate, certified_display_name,
 * certified_roles, created_at, revoked_at`) as the protocol shows it. In common because `auth` (one's own
 * devices) and `staff` (a practice's) both list devices and a feature may not import another's repository.
 */
export interface DeviceColumnsRow {
  id: string;
  label: string;
  sign_public_key: Buffer;
  box_public_key: Buffer;
  certificate: Buffer | null;
  certified_display_name: string | null;
  certified_roles: string[] | null;
  created_at: Date;
  revoked_at: Date | null;
}

export function toDeviceFields(row: DeviceColumnsRow): Omit<DeviceInfo, 'userId'> {
  return {
    id: row.id,
    label: row.label,
    signPublicKey: row.sign_public_key.toString('base64'),
    boxPublicKey: row.box_public_key.toString('base64'),
    certificate: row.certificate?.toString('base64') ?? null,
    certifiedAs: toCertifiedAs(row.certified_display_name, row.certified_roles),
    createdAt: row.created_at.toISOString(),
    revokedAt: row.revoked_at?.toISOString() ?? null,
  };
}

/** What a staff device's certificate names (`certified_display_name`, `certified_roles` columns); null when it names nobody. */
export function toCertifiedAs(displayName: unknown, roles: unknown): CertifiedStaff | null {
  if (typeof displayName !== 'string' || !Array.isArray(roles)) return null;
  return { displayName, roles: roles as CertifiedStaff['roles'] };
}
