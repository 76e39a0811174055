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
/** The columns `CHAIN_COLUMNS` selects (null throughout when the row has no invitation or creating device). */
export interface ChainColumnsRow {
  invitation_sign_public_key: Buffer | null;
  invitation_signature: Buffer | null;
  root_signature: Buffer | null;
  invitation_expires_at: Date | null;
  creator_device_id: string | null;
  creator_user_id: string | null;
  creator_sign_public_key: Buffer | null;
  creator_box_public_key: Buffer | null;
  creator_certificate: Buffer | null;
  creator_certified_display_name: string | null;
  creator_certified_roles: string[] | null;
}

export function toInvitationChain(row: ChainColumnsRow): InvitationChain | null {
  const { invitation_sign_public_key: signKey, invitation_signature: signature, invitation_expires_at: expiresAt } = row;
  if (!signKey || !signature || !expiresAt || !row.creator_device_id || !row.creator_user_id) return null;
  if (!row.creator_sign_public_key || !row.creator_box_public_key) return null;
  const creator: CertifiedDevice = {
    userId: row.creator_user_id,
    deviceId: row.creator_device_id,
    signPublicKey: row.creator_sign_public_key.toString('base64'),
    boxPublicKey: row.creator_box_public_key.toString('base64'),
    certificate: base64OrNull(row.creator_certificate),
    certifiedAs: toCertifiedAs(row.creator_certified_display_name, row.creator_certified_roles),
  };
  return { invitationSignPublicKey: signKey.toString('base64'), invitationSignature: signature.toString('base64'), expiresAt: expiresAt.getTime(), creator };
}

/** A nullable bytea column as base64, or null. */
export function base64OrNull(value: Buffer | null): string | null {
  return value ? value.toString('base64') : null;
}
