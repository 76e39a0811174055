import type { DeviceInfo } from '@parley/protocol';

/**
 * A device row (`id, label, sign_public_key, box_public_key, certificate, created_at, revoked_at`) as the
 * protocol shows it. In common because `auth` (one's own devices) and `staff` (a practice's) both list
 * devices and a feature may not import another's repository.
 */
export function toDeviceFields(row: Record<string, unknown>): Omit<DeviceInfo, 'userId'> {
  return {
    id: row['id'] as string,
    label: row['label'] as string,
    signPublicKey: (row['sign_public_key'] as Buffer).toString('base64'),
    boxPublicKey: (row['box_public_key'] as Buffer).toString('base64'),
    certificate: row['certificate'] ? (row['certificate'] as Buffer).toString('base64') : null,
    createdAt: (row['created_at'] as Date).toISOString(),
    revokedAt: row['revoked_at'] ? (row['revoked_at'] as Date).toISOString() : null,
  };
}
