import { HttpApi } from '@parley/client';
import { createRecordKey, fingerprint, fromBase64, grantRecordKey, ready, toBase64, type RecordKey, type SigningKeys } from '@parley/crypto';
import type { StaffDevice, StaffMember } from '@parley/protocol';
import { AccountFlowError, type DeviceIdentity } from './accounts.js';
import { certifiedRecordKey } from './practice-keys.js';
import type { TrustAnchor } from './authority.js';
import { verifiedStaff } from './trust.js';
import { unwrap } from './unwrap.js';

/** A staff device as a manager's screen shows it: its fingerprint (compare in person) and whether its certificate chains to the pinned root. */
export interface StaffDeviceTrust {
  deviceId: string;
  fingerprint: string;
  /** Active, certified, and the certificate verifies against the pinned root key: it may receive record key grants. */
  isTrusted: boolean;
  state: 'trusted' | 'uncertified' | 'untrusted' | 'revoked';
}

/**
 * Judges a staff device from `GET /api/staff` in the client: the server's listing proves nothing, so
 * the certificate is checked against the root key this manager pinned, and must name the person as
 * the listing does (a certificate from before a rename shows as untrusted: admit the device again).
 */
export function staffDeviceTrust(
  member: Pick<StaffMember, 'userId' | 'displayName' | 'roles'>,
  device: StaffDevice,
  practiceId: string,
  pinnedRoot: TrustAnchor,
): StaffDeviceTrust {
  const shown = { deviceId: device.id, fingerprint: fingerprint(fromBase64(device.signPublicKey)) };
  if (device.revokedAt) return { ...shown, isTrusted: false, state: 'revoked' };
  if (!device.certificate) return { ...shown, isTrusted: false, state: 'uncertified' };
  const certified = verifiedStaff({ ...device, userId: member.userId, deviceId: device.id }, practiceId, pinnedRoot);
  const isCurrent = certified !== null && certified.displayName === member.displayName && sameRoles(certified.roles, member.roles);
  return isCurrent ? { ...shown, isTrusted: true, state: 'trusted' } : { ...shown, isTrusted: false, state: 'untrusted' };
}

const sameRoles = (a: readonly string[], b: readonly string[]) => a.length === b.length && a.every((role) => b.includes(role));

/** What a rotation did. */
export interface RecordKeyRotation {
  /** The new version, seed included: add it to the practice's escrow (and to `PracticeSecrets.recordKeys`) — losing it loses the record. */
  recordKey: RecordKey;
  grantedDeviceIds: string[];
  /** Active staff devices left without the new version because their certificate is missing or does not verify: admit them, then grant. */
  skipped: { userId: string; deviceId: string; state: 'uncertified' | 'untrusted' }[];
}

/**
 * Rotates the practice record key, in a manager's client (after an offboarding, or from the practice keys
 * screen): makes the next version, certifies it and states it is current with `signer` (the admin key, or the
 * root while the browser holds no admin key: `everydaySigner`), posts it, and grants it to every active device
 * of every active member of staff whose certificate verifies under `anchor`, each grant signed by the manager's device. From then on patients' clients seal new
 * conversations to the newest version (`GET /api/practice/keys`, last of `recordKeys`); old
 * conversations stay sealed to the older versions, which remaining staff still hold (no re-encryption).
 * The grants can only follow the new version (the server refuses a grant of a version it lacks): a
 * conversation opened in between is readable by staff once their grant lands, moments later.
 * @throws AccountFlowError (`untrusted_root` when the server's root key is not `root`; the gateway's codes: `forbidden`, `conflict` …)
 */
export async function rotateRecordKey(
  input: {
    baseUrl: string;
    token: string;
    odsCode: string;
    granter: DeviceIdentity;
  } & (
    | { signer: SigningKeys; anchor: TrustAnchor }
    /** A manager holding the root and no admin key: the root signs, and devices are judged under it alone. */
    | { root: SigningKeys }
  ),
): Promise<RecordKeyRotation> {
  await ready();
  const signer = 'signer' in input ? input.signer : input.root;
  const anchor = 'signer' in input ? input.anchor : input.root.signPublicKey;
  const api = new HttpApi({ baseUrl: input.baseUrl, token: input.token });
  const keys = unwrap(await api.getPracticeKeys(), 'practice keys');
  // The signer must be the practice's root or one of its admin keys as listed; clients check the certificate themselves either way.
  const signerKey = toBase64(signer.signPublicKey);
  if (keys.rootSignPublicKey !== signerKey && !keys.adminKeys.some((key) => key.signPublicKey === signerKey))
    throw new AccountFlowError('untrusted_root', 'neither the practice root key nor an admin key on the server is this one');
  const version = keys.recordKeys.reduce((max, key) => Math.max(max, key.version), 0) + 1;
  const recordKey = createRecordKey(version);
  unwrap(await api.addRecordKey(certifiedRecordKey(input.odsCode, recordKey, signer)), 'add record key');
  const staff = unwrap(await api.listStaff(), 'list staff');
  const rotation: RecordKeyRotation = { recordKey, grantedDeviceIds: [], skipped: [] };
  for (const member of staff.filter((candidate) => candidate.deactivatedAt === null)) {
    for (const device of member.devices.filter((candidate) => candidate.revokedAt === null)) {
      const trust = staffDeviceTrust(member, device, input.odsCode, anchor);
      if (trust.state === 'uncertified' || trust.state === 'untrusted') {
        rotation.skipped.push({ userId: member.userId, deviceId: device.id, state: trust.state });
        continue;
      }
      const grant = grantRecordKey({
        practiceId: input.odsCode,
        recordKey,
        recipientBoxPublicKey: fromBase64(device.boxPublicKey),
        granterSignSecretKey: input.granter.keys.signSecretKey,
      });
      unwrap(
        await api.addRecordKeyGrant({ version, deviceId: device.id, sealedSeed: toBase64(grant.sealedSeed), signature: toBase64(grant.signature) }),
        'grant record key',
      );
      rotation.grantedDeviceIds.push(device.id);
    }
  }
  return rotation;
}
