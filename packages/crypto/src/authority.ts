// The practice's signing authority (issue #17): the root key is the trust anchor clients pin, but it
// is needed only for rare events, so it can live offline. Two statements make that possible:
// - the admin key certificate: the root certifies a practice admin key (Ed25519), which then signs
//   everyday statements (staff device certificates, record key certificates and "current" statements,
//   revocation lists) wherever a verifier accepted the root alone before;
// - the root successor: the retiring root signs the next root, and clients move their pin only along
//   such a signature, never because a server names another root.
// An admin key has a UUID (`adminKeyId`), signed into its certificate, so that the practice's
// revocation list can revoke it like a device: an entry `{ deviceId: adminKeyId, revokedAt }` in the
// list `revocations.ts` signs means nothing the admin key signed is trusted any more (ids are random
// UUIDs, so an admin key id never names a device). The package signs and verifies; which root is
// current and which admin keys are revoked are the caller's decisions (`@parley/sdk`, authority.ts).
import { ascii, concat, lpText, lpUuid, requireBytes, u64 } from './bytes.js';
import { verifyCertificate } from './certificates.js';
import { CryptoError } from './crypto-error.js';
import { PUBLIC_KEY_BYTES, SIGN_SECRET_KEY_BYTES } from './keys.js';
import { equalBytes, signDetached } from './sodium.js';

const ADMIN_KEY_PREFIX = ascii('parley/v2/admin-key');
const ROOT_SUCCESSOR_PREFIX = ascii('parley/v2/root-successor');

/** What the root vouches for when it certifies a practice admin key; `issuedAt` is milliseconds since the Unix epoch. */
export interface AdminKeyFields {
  practiceId: string;
  /** A UUID the practice picks; the revocation list names the admin key by it. */
  adminKeyId: string;
  signPublicKey: Uint8Array;
  issuedAt: number;
}

/** The retiring root's statement that `signPublicKey` is the practice's next root. */
export interface RootSuccessorFields {
  practiceId: string;
  previousSignPublicKey: Uint8Array;
  signPublicKey: Uint8Array;
  issuedAt: number;
}

/**
 * Certifies a practice admin key with the root's secret key.
 * @throws CryptoError `invalid_length`, `invalid_input`, `not_ready`
 */
export function certifyAdminKey(fields: AdminKeyFields, rootSignSecretKey: Uint8Array): Uint8Array {
  requireBytes(rootSignSecretKey, SIGN_SECRET_KEY_BYTES, 'rootSignSecretKey');
  return signDetached(adminKeySignedBytes(fields), rootSignSecretKey);
}

/**
 * Checks an admin key certificate under a root public key. Whether that root is the current one, and
 * whether the admin key was revoked since, is the caller's to check.
 * @throws CryptoError `bad_certificate`, `invalid_length`, `invalid_input`, `not_ready`
 */
export function verifyAdminKeyCertificate(fields: AdminKeyFields, certificate: Uint8Array, rootSignPublicKey: Uint8Array): void {
  verifyCertificate(adminKeySignedBytes(fields), certificate, rootSignPublicKey);
}

/**
 * Signs the root successor statement with the retiring root's secret key; `previousSignPublicKey` must be that key's public half.
 * @throws CryptoError `invalid_length`, `invalid_input` (a successor equal to its predecessor, or a secret key that is not the previous root's), `not_ready`
 */
export function signRootSuccessor(fields: RootSuccessorFields, previousRootSignSecretKey: Uint8Array): Uint8Array {
  requireBytes(previousRootSignSecretKey, SIGN_SECRET_KEY_BYTES, 'previousRootSignSecretKey');
  // An Ed25519 secret key holds its public half in its last 32 bytes: signing with another key would make a statement no client accepts.
  if (!equalBytes(previousRootSignSecretKey.subarray(32), requireBytes(fields.previousSignPublicKey, PUBLIC_KEY_BYTES, 'previousSignPublicKey'))) {
    throw new CryptoError('invalid_input', 'previousRootSignSecretKey is not the previous root');
  }
  return signDetached(rootSuccessorSignedBytes(fields), previousRootSignSecretKey);
}

/**
 * Checks a root successor statement under its previous root (`fields.previousSignPublicKey`), which the
 * caller must already trust (pinned, or reached through statements it verified).
 * @throws CryptoError `bad_certificate`, `invalid_length`, `invalid_input`, `not_ready`
 */
export function verifyRootSuccessor(fields: RootSuccessorFields, signature: Uint8Array): void {
  verifyCertificate(rootSuccessorSignedBytes(fields), signature, fields.previousSignPublicKey);
}

/** Internal (not in index.ts): "parley/v2/admin-key" ‖ lp(practice_id) ‖ lp(admin_key_id) ‖ admin_sign_pk ‖ u64(issued_at). */
export function adminKeySignedBytes(fields: AdminKeyFields): Uint8Array {
  return concat(
    ADMIN_KEY_PREFIX,
    lpText(fields.practiceId, 'practiceId'),
    lpUuid(fields.adminKeyId, 'adminKeyId'),
    requireBytes(fields.signPublicKey, PUBLIC_KEY_BYTES, 'signPublicKey'),
    u64(fields.issuedAt, 'issuedAt'),
  );
}

/** Internal (not in index.ts): "parley/v2/root-successor" ‖ lp(practice_id) ‖ old_pk ‖ new_pk ‖ u64(issued_at). */
export function rootSuccessorSignedBytes(fields: RootSuccessorFields): Uint8Array {
  const previous = requireBytes(fields.previousSignPublicKey, PUBLIC_KEY_BYTES, 'previousSignPublicKey');
  const next = requireBytes(fields.signPublicKey, PUBLIC_KEY_BYTES, 'signPublicKey');
  // A root that names itself would be a statement that changes nothing, or a loop in the chain.
  if (equalBytes(previous, next)) throw new CryptoError('invalid_input', 'a root cannot succeed itself');
  return concat(ROOT_SUCCESSOR_PREFIX, lpText(fields.practiceId, 'practiceId'), previous, next, u64(fields.issuedAt, 'issuedAt'));
}
