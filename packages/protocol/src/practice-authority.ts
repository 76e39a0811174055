import { z } from 'zod';
import { PublicKey, Signature, Uuid } from './common.js';

const Millis = z.number().int().min(0).max(Number.MAX_SAFE_INTEGER);

/**
 * POST /api/practice/admin-keys (manager): a practice admin key and the current root's certificate over it
 * ("parley/v2/admin-key", docs/crypto.md). The gateway stores it only if the certificate verifies under the
 * practice's current root; clients check it themselves.
 */
export const AddAdminKeyRequest = z
  .object({
    adminKeyId: Uuid,
    signPublicKey: PublicKey,
    issuedAt: Millis,
    certificate: Signature,
  })
  .strict();
export type AddAdminKeyRequest = z.infer<typeof AddAdminKeyRequest>;

/**
 * POST /api/practice/root-successors (manager): the current root's statement naming the next root
 * ("parley/v2/root-successor"). `previousSignPublicKey` must be the practice's current root, else `conflict`.
 */
export const AddRootSuccessorRequest = z
  .object({
    previousSignPublicKey: PublicKey,
    signPublicKey: PublicKey,
    issuedAt: Millis,
    signature: Signature,
  })
  .strict();
export type AddRootSuccessorRequest = z.infer<typeof AddRootSuccessorRequest>;

/**
 * POST /api/practice/record-key-certifications (manager): a record key version certified again, by the current root
 * or one of its admin keys (after a root rotation), with its "current" statement when it is the newest version.
 */
export const RecertifyRecordKeyRequest = z
  .object({
    version: z.number().int().min(1).max(1_000_000),
    validFrom: Millis,
    certificate: Signature,
    current: z.object({ issuedAt: Millis, signature: Signature }).strict().nullable(),
  })
  .strict();
export type RecertifyRecordKeyRequest = z.infer<typeof RecertifyRecordKeyRequest>;

/** A link of `PracticeKeys.rootChain`: `previousSignPublicKey` names `signPublicKey` as its successor. */
export interface RootSuccessorLink {
  previousSignPublicKey: string;
  signPublicKey: string;
  issuedAt: number;
  signature: string;
}

/** An admin key of `PracticeKeys.adminKeys`, with its certificate by the current root. */
export interface CertifiedAdminKey {
  adminKeyId: string;
  signPublicKey: string;
  issuedAt: number;
  certificate: string;
}
