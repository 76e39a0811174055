import {
  fromBase64,
  verifyAccountKeySignature,
  verifyDeviceCertificate,
  verifyInvitation,
  verifyPatientAccountKeyCertificate,
  verifyRecordKeyCertificate,
  verifyRecordKeyCurrent,
  verifyStaffDeviceCertificate,
} from '@parley/crypto';
import type { CertifiedDevice, CertifiedStaff, JoinedConversation, MemberDevice, PatientAccountKey, PracticeKeys } from '@parley/protocol';
import { isSignedByAuthority, practiceAuthority, type TrustAnchor } from './authority.js';

// Every decision here is the client's own, from keys it pinned (docs/crypto.md, "Invitation-bound trust"):
// a server listing is only a claim, checked against the practice root key this device pinned from the
// invitation code, the key backup or the staff key file. Nothing here ever throws on a bad claim; it
// answers "not trusted" and the caller refuses.

/** The public halves of a patient's account key, as the patient's own device holds them. */
export interface AccountPublicKeys {
  signPublicKey: Uint8Array;
  boxPublicKey: Uint8Array;
}

/**
 * The devices a verified revocation list names (`RevocationState.revoked`), by lower-case id, with when each was
 * revoked (ms since 1970). Trust functions take it as an optional last argument: a listed device is never sealed to,
 * and nothing it made at or after its `revokedAt` is trusted, whatever the server's own listing says.
 */
export type RevokedDevices = ReadonlyMap<string, number>;

/**
 * Whether a revocation list names `deviceId` as revoked at `at` (ms since 1970, e.g. a message's record time); without
 * `at`, whether it is revoked at all (the question before sealing to it or taking its word now).
 */
export function isRevokedAt(revoked: RevokedDevices | undefined, deviceId: string, at?: number): boolean {
  const revokedAt = revoked?.get(deviceId.toLowerCase());
  return revokedAt !== undefined && (at === undefined || at >= revokedAt);
}

/**
 * The name and roles a staff device's v2 certificate vouches for, when that certificate verifies
 * against the practice's authority (the pinned root, or the authority resolved from it: its current
 * root or an admin key that root certified and the revocation list does not name); null for anything
 * else (uncertified, forged, a name the server changed, signed by a retired root or an uncertified key).
 */
export function verifiedStaff(
  device: CertifiedDevice,
  practiceId: string,
  pinnedRoot: TrustAnchor,
  revoked?: RevokedDevices,
  at?: number,
): CertifiedStaff | null {
  if (!device.certificate || !device.certifiedAs || isRevokedAt(revoked, device.deviceId, at)) return null;
  const { certifiedAs } = device;
  try {
    const fields = {
      practiceId,
      userId: device.userId,
      deviceId: device.deviceId,
      signPublicKey: fromBase64(device.signPublicKey),
      boxPublicKey: fromBase64(device.boxPublicKey),
      displayName: certifiedAs.displayName,
      roles: certifiedAs.roles,
    };
    const certificate = fromBase64(device.certificate);
    return isSignedByAuthority(pinnedRoot, (key) => verifyStaffDeviceCertificate(fields, certificate, key)) ? certifiedAs : null;
  } catch {
    return null;
  }
}

/**
 * Whether a patient's account key chains to the pinned root with no manager step: root → the staff
 * device that made the invitation (v2 certificate) → its signature over the invitation key for this
 * patient → the invitation key's signature over this account key. A root certificate over the key
 * (practice-assisted recovery) also counts.
 */
export function isAccountKeyTrusted(account: PatientAccountKey, practiceId: string, pinnedRoot: TrustAnchor): boolean {
  try {
    const signPublicKey = fromBase64(account.signPublicKey);
    const boxPublicKey = fromBase64(account.boxPublicKey);
    if (account.certificate) {
      const fields = { patientId: account.userId, signPublicKey, boxPublicKey, signature: fromBase64(account.certificate) };
      return isSignedByAuthority(pinnedRoot, (key) => verifyPatientAccountKeyCertificate(fields, key));
    }
    const { invitation } = account;
    if (!invitation || !account.accountSignature) return false;
    if (!verifiedStaff(invitation.creator, practiceId, pinnedRoot)) return false;
    const invitationSignPublicKey = fromBase64(invitation.invitationSignPublicKey);
    verifyInvitation(
      { practiceId, patientId: account.userId, invitationSignPublicKey, expiresAt: invitation.expiresAt },
      fromBase64(invitation.invitationSignature),
      fromBase64(invitation.creator.signPublicKey),
    );
    verifyAccountKeySignature(
      { practiceId, patientId: account.userId, signPublicKey, boxPublicKey },
      fromBase64(account.accountSignature),
      invitationSignPublicKey,
    );
    return true;
  } catch {
    return false;
  }
}

/**
 * Whether a member device chains to the pinned root: a staff device by its v2 certificate; a patient
 * device by its certificate from the patient's account key, which is either this patient's own (the
 * public halves it holds itself, never the server's copy) or chains to the root (`isAccountKeyTrusted`).
 */
export function isDeviceTrusted(
  device: MemberDevice,
  joined: Pick<JoinedConversation, 'patientAccount' | 'conversation'>,
  pinnedRoot: TrustAnchor,
  ownAccount?: AccountPublicKeys,
  revoked?: RevokedDevices,
  at?: number,
): boolean {
  if (isRevokedAt(revoked, device.id, at)) return false;
  const practiceId = joined.conversation.practiceOdsCode;
  if (device.role !== 'patient') return verifiedStaff(asCertified(device), practiceId, pinnedRoot) !== null;
  if (!device.certificate || device.userId !== joined.conversation.patientId) return false;
  const account = joined.patientAccount;
  if (!account || account.userId !== device.userId) return false;
  let accountSignPublicKey: Uint8Array;
  try {
    accountSignPublicKey = fromBase64(account.signPublicKey);
  } catch {
    return false;
  }
  // The patient itself trusts only the account key it holds: a server that swapped it gets none of its devices trusted.
  if (ownAccount) {
    if (!equal(ownAccount.signPublicKey, accountSignPublicKey)) return false;
  } else if (!isAccountKeyTrusted(account, practiceId, pinnedRoot)) return false;
  return isCertifiedBy(device, accountSignPublicKey) || isCertifiedByRetiredKey(device, account, practiceId, pinnedRoot);
}

/**
 * Whether a patient device is certified by an account key a practice-assisted recovery retired (flow B) that still
 * chains to the root on its own. Such a device counts only while the server lists it as revoked: a past sender whose
 * messages stay readable, never one to seal to (a server that un-revokes it makes it untrusted, not trusted).
 */
function isCertifiedByRetiredKey(device: MemberDevice, account: PatientAccountKey, practiceId: string, pinnedRoot: TrustAnchor): boolean {
  if (device.revokedAt === null) return false;
  return (account.retired ?? []).some((retired) => {
    if (retired.userId !== device.userId || !isAccountKeyTrusted(retired, practiceId, pinnedRoot)) return false;
    try {
      return isCertifiedBy(device, fromBase64(retired.signPublicKey));
    } catch {
      return false;
    }
  });
}

/** Whether a patient device's certificate verifies under an account signing key the caller already trusts, and no revocation list given names it. */
export function isCertifiedBy(
  device: Pick<MemberDevice, 'id' | 'userId' | 'signPublicKey' | 'boxPublicKey' | 'certificate'>,
  accountSignPublicKey: Uint8Array,
  revoked?: RevokedDevices,
): boolean {
  if (!device.certificate || isRevokedAt(revoked, device.id)) return false;
  try {
    verifyDeviceCertificate(
      {
        userId: device.userId,
        deviceId: device.id,
        signPublicKey: fromBase64(device.signPublicKey),
        boxPublicKey: fromBase64(device.boxPublicKey),
        signature: fromBase64(device.certificate),
      },
      accountSignPublicKey,
    );
    return true;
  } catch {
    return false;
  }
}

/** A record key a client may seal to: its certificate and its "current" statement verified against the pinned root. */
export interface CurrentRecordKey {
  version: number;
  boxPublicKey: Uint8Array;
}

/**
 * The newest record key the practice's authority vouches for as current (certificate and "current"
 * statement by its root or a certified admin key), or null when none verifies. Given only the pinned
 * root, it follows the root successors and admin keys `keys` lists from that root (`practiceAuthority`),
 * so a client that pinned a retired root still finds the key the new authority certified, and never one
 * only the retired root signed. A lower version than `floor` (the highest this device has seen) is
 * refused by the caller: a server that kept an old version a leaver still holds cannot roll clients back to it.
 */
export function currentRecordKey(
  keys: Pick<PracticeKeys, 'recordKeys'> & Partial<Pick<PracticeKeys, 'rootChain' | 'adminKeys'>>,
  practiceId: string,
  pinnedRoot: TrustAnchor,
): CurrentRecordKey | null {
  const anchor = pinnedRoot instanceof Uint8Array ? practiceAuthority(keys, practiceId, pinnedRoot) : pinnedRoot;
  let best: CurrentRecordKey | null = null;
  for (const key of keys.recordKeys) {
    if (!key.current || (best && key.version <= best.version)) continue;
    try {
      const publicKey = fromBase64(key.boxPublicKey);
      const certificate = { practiceId, version: key.version, publicKey, validFrom: key.validFrom, signature: fromBase64(key.certificate) };
      const current = { practiceId, version: key.version, publicKey, issuedAt: key.current.issuedAt };
      const currentSignature = fromBase64(key.current.signature);
      const isCertified = isSignedByAuthority(anchor, (signer) => verifyRecordKeyCertificate(certificate, signer));
      // A forged or mismatched statement is skipped, never sealed to.
      if (isCertified && isSignedByAuthority(anchor, (signer) => verifyRecordKeyCurrent(current, currentSignature, signer))) {
        best = { version: key.version, boxPublicKey: publicKey };
      }
    } catch {
      // Undecodable keys or signatures are skipped too.
    }
  }
  return best;
}

/** A member device in the shape the staff certificate check takes. */
export function asCertified(device: MemberDevice): CertifiedDevice {
  return {
    userId: device.userId,
    deviceId: device.id,
    signPublicKey: device.signPublicKey,
    boxPublicKey: device.boxPublicKey,
    certificate: device.certificate,
    certifiedAs: device.certifiedAs,
  };
}

export function equal(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((byte, index) => byte === b[index]);
}
