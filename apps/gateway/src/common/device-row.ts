import type { CertifiedStaff, DeviceInfo } from '@parley/protocol';

/**
 * A device row (`id, label, sign_public_key, box_public_key, certificate, certified_display_name,
 * certified_roles, created_at, revoked_at`) as the protocol shows it. In common because `auth` (one's own
 * devices) and `staff` (a practice's) both list devices and a feature may not import another's repository.
 */
export function toDeviceFields(row: Record<string, unknown>): Omit<DeviceInfo, 'userId'> {
  return {
    id: row['id'] as string,
    label: row['label'] as string,
    signPublicKey: (row['sign_public_key'] as Buffer).toString('base64'),
    boxPublicKey: (row['box_public_key'] as Buffer).toString('base64'),
    certificate: row['certificate'] ? (row['certificate'] as Buffer).toString('base64') : null,
    certifiedAs: toCertifiedAs(row['certified_display_name'], row['certified_roles']),
    createdAt: (row['created_at'] as Date).toISOString(),
    revokedAt: row['revoked_at'] ? (row['revoked_at'] as Date).toISOString() : null,
  };
}

/** What a staff device's certificate names (`certified_display_name`, `certified_roles` columns); null when it names nobody. */
export function toCertifiedAs(displayName: unknown, roles: unknown): CertifiedStaff | null {
  if (typeof displayName !== 'string' || !Array.isArray(roles)) return null;
  return { displayName, roles: roles as CertifiedStaff['roles'] };
}
