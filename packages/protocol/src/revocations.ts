import { z } from 'zod';
import { PublicKey, Signature, Uuid } from './common.js';

/** A practice revokes far fewer devices than this; the cap bounds one request (as MAX_REVOCATION_ENTRIES in @parley/crypto). */
export const MAX_REVOKED_DEVICES = 10_000;

/** One revoked device: nothing it makes from `revokedAt` (milliseconds since 1970) on is trusted. */
export const RevokedDevice = z.object({ deviceId: Uuid, revokedAt: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER) }).strict();
export type RevokedDevice = z.infer<typeof RevokedDevice>;

/**
 * PUT /api/practice/revocations (manager): a new version of the practice's signed revocation list
 * ("parley/v2/revocations", docs/crypto.md). `signerSignPublicKey` is the key that signed it: the
 * practice's pinned root (or, later, an admin key the root certified).
 */
export const PutRevocationListRequest = z
  .object({
    version: z.number().int().min(1).max(0xffff_ffff),
    issuedAt: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER),
    entries: z.array(RevokedDevice).max(MAX_REVOKED_DEVICES),
    signerSignPublicKey: PublicKey,
    signature: Signature,
  })
  .strict();
export type PutRevocationListRequest = z.infer<typeof PutRevocationListRequest>;

/**
 * GET /api/practice/revocations: the newest list the practice stored, or `list: null` before its first. Clients verify it themselves.
 * Managers also get `unlisted`: devices of the practice the server has revoked (a patient's lost phone revoked from another
 * device, a patient's sign-out, a recovery, a revocation by a browser without a signing key) that the newest list does not
 * name yet, oldest first, at most 1,000; a manager's client signs them into the next version (docs/crypto.md). Only a claim:
 * a server that leaves one out withholds a revocation the manager can still make by hand, and one it adds only denies.
 */
export interface RevocationListResponse {
  list: (PutRevocationListRequest & { practiceOdsCode: string }) | null;
  unlisted?: RevokedDevice[];
}
