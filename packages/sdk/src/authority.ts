import { fromBase64, verifyAdminKeyCertificate, verifyRootSuccessor } from '@parley/crypto';
import type { PracticeKeys } from '@parley/protocol';

// Who may sign for the practice, as a client decides it (docs/crypto.md, "Practice authority"). A client
// starts from the root it pinned (invitation code, key backup, staff key file) and moves only along
// successor statements each signed by the root before it; the server's `rootSignPublicKey` is never a
// reason to move. The root reached that way, and the admin keys it certified that the revocation list
// does not name, are the practice's authority: a statement signed by any of them is the practice's.
// A retired root signs nothing any more, whatever it signed before its successor: everything that must
// stay valid is certified again by the new authority at the rotation ceremony.

/** A practice admin key a client verified: certified by the current root and not revoked. */
export interface TrustedAdminKey {
  adminKeyId: string;
  signPublicKey: Uint8Array;
  issuedAt: number;
}

/** The practice's signing authority as this client verified it. */
export interface PracticeAuthority {
  /** The current root: the pinned one, or the last successor reached through verified statements. */
  readonly root: Uint8Array;
  /** Roots passed on the way from the pinned one, oldest first: their signatures are refused. */
  readonly retiredRoots: readonly Uint8Array[];
  /** Admin keys the current root certified, minus those the revocation list names. */
  readonly adminKeys: readonly TrustedAdminKey[];
}

/**
 * What a verifier trusts to sign for the practice: the pinned root alone (a caller that has not fetched
 * the practice's authority; it then refuses anything an admin key or a successor root signed), or the
 * authority resolved from it.
 */
export type TrustAnchor = Uint8Array | PracticeAuthority;

/** The longest root chain followed; a practice rotates its root a handful of times in its life. */
const MAX_ROOT_CHAIN = 64;

/**
 * Resolves the practice's authority from the root this client pinned and what the server lists
 * (`GET /api/practice/keys`): follows successor statements from `pinnedRoot` only (a link that does not
 * verify under the root it names as previous is skipped), then keeps the admin keys whose certificate
 * verifies under the root reached and whose id the revocation list does not name (`revoked`, admin key
 * id → revokedAt: REVOKE's list names an admin key as it names a device). Never throws: a server that
 * withholds or forges links leaves the client at the last root it could verify, which refuses what the
 * newer authority signed (a denial, never a key accepted).
 */
export function practiceAuthority(
  keys: Partial<Pick<PracticeKeys, 'rootChain' | 'adminKeys'>>,
  practiceId: string,
  pinnedRoot: Uint8Array,
  revoked?: ReadonlyMap<string, number>,
): PracticeAuthority {
  let root = pinnedRoot;
  const retiredRoots: Uint8Array[] = [];
  const chain = keys.rootChain ?? [];
  for (let step = 0; step < MAX_ROOT_CHAIN; step++) {
    const next = chain.map((link) => successorOf(link, practiceId, root)).find((key): key is Uint8Array => key !== null);
    // A root this client already passed cannot come back (a loop, or a retired root named again).
    if (!next || [pinnedRoot, ...retiredRoots].some((seen) => equalKeys(seen, next))) break;
    retiredRoots.push(root);
    root = next;
  }
  const adminKeys: TrustedAdminKey[] = [];
  for (const key of keys.adminKeys ?? []) {
    if (revoked?.has(key.adminKeyId) || revoked?.has(key.adminKeyId.toLowerCase())) continue;
    try {
      const signPublicKey = fromBase64(key.signPublicKey);
      verifyAdminKeyCertificate({ practiceId, adminKeyId: key.adminKeyId, signPublicKey, issuedAt: key.issuedAt }, fromBase64(key.certificate), root);
      adminKeys.push({ adminKeyId: key.adminKeyId, signPublicKey, issuedAt: key.issuedAt });
    } catch {
      // Certified by another key (a retired root, the server itself): not the practice's.
    }
  }
  return { root, retiredRoots, adminKeys };
}

/** The keys a statement may be signed by under `anchor`: the current root first, then its admin keys. */
export function authoritySignKeys(anchor: TrustAnchor): Uint8Array[] {
  return anchor instanceof Uint8Array ? [anchor] : [anchor.root, ...anchor.adminKeys.map((key) => key.signPublicKey)];
}

/** The current root under `anchor` (what a new invitation's S_root names and a key file pins). */
export function currentRoot(anchor: TrustAnchor): Uint8Array {
  return anchor instanceof Uint8Array ? anchor : anchor.root;
}

/**
 * Whether `check` passes for one of the authority's keys: `check` throws (a `CryptoError`) for a key that
 * did not sign. Nothing a retired root signed passes, since it is not among the keys.
 */
export function isSignedByAuthority(anchor: TrustAnchor, check: (signPublicKey: Uint8Array) => void): boolean {
  for (const key of authoritySignKeys(anchor)) {
    try {
      check(key);
      return true;
    } catch {
      // Not this key; try the next.
    }
  }
  return false;
}

function successorOf(link: PracticeKeys['rootChain'][number], practiceId: string, root: Uint8Array): Uint8Array | null {
  try {
    const previousSignPublicKey = fromBase64(link.previousSignPublicKey);
    if (!equalKeys(previousSignPublicKey, root)) return null;
    const signPublicKey = fromBase64(link.signPublicKey);
    verifyRootSuccessor({ practiceId, previousSignPublicKey, signPublicKey, issuedAt: link.issuedAt }, fromBase64(link.signature));
    return signPublicKey;
  } catch {
    return null;
  }
}

function equalKeys(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((byte, index) => byte === b[index]);
}
