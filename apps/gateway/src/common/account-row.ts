import type { CertifiedDevice, InvitationChain } from '@parley/protocol';
import { toCertifiedAs } from './device-row.js';

/**
 * Row shapes shared by the account features' repositories: `sign-in` reads a pending invitation's chain and
 * the KDF it checks, `account-keys` answers an account key's chain and keeps the backup's KDF. In common
 * because a feature may not import another's repository (docs/architecture.md).
 */

/** Argon2id salt and cost as stored. */
export interface StoredKdf {
  salt: Buffer;
  opsLimit: number;
  memLimitBytes: number;
}

/** An invitation `i`'s chain and its creating device `cd` (joined by the query). */
export const CHAIN_COLUMNS = `i.invitation_sign_public_key, i.invitation_signature, i.root_signature, i.expires_at AS invitation_expires_at,
  cd.id AS creator_device_id, cd.user_id AS creator_user_id, cd.sign_public_key AS creator_sign_public_key, cd.box_public_key AS creator_box_public_key,
  cd.certificate AS creator_certificate, cd.certified_display_name AS creator_certified_display_name, cd.certified_roles AS creator_certified_roles`;

/** The chain of a row with `CHAIN_COLUMNS`; null when the row has no invitation signed by a staff client. */
export function toInvitationChain(row: Record<string, unknown>): InvitationChain | null {
  const invitationSignPublicKey = row['invitation_sign_public_key'] as Buffer | null;
  if (!invitationSignPublicKey || !row['creator_device_id']) return null;
  const creator: CertifiedDevice = {
    userId: row['creator_user_id'] as string,
    deviceId: row['creator_device_id'] as string,
    signPublicKey: (row['creator_sign_public_key'] as Buffer).toString('base64'),
    boxPublicKey: (row['creator_box_public_key'] as Buffer).toString('base64'),
    certificate: base64OrNull(row['creator_certificate']),
    certifiedAs: toCertifiedAs(row['creator_certified_display_name'], row['creator_certified_roles']),
  };
  return {
    invitationSignPublicKey: invitationSignPublicKey.toString('base64'),
    invitationSignature: (row['invitation_signature'] as Buffer).toString('base64'),
    expiresAt: (row['invitation_expires_at'] as Date).getTime(),
    creator,
  };
}

/** A nullable bytea column as base64, or null. */
export function base64OrNull(value: unknown): string | null {
  return value ? (value as Buffer).toString('base64') : null;
}
