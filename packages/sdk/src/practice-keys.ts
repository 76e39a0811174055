import { HttpApi } from '@parley/client';
import {
  certifyAdminKey,
  certifyRecordKey,
  certifyStaffDevice,
  type RecordKeyCertificate,
  createRecordKey,
  fromBase64,
  generatePracticeRootKey,
  grantRecordKey,
  keyId,
  openRecordKeyGrant,
  ready,
  signRecordKeyCurrent,
  verifyRecordKeyCertificate,
  signRevocationList,
  signRootSuccessor,
  toBase64,
  type RecordKey,
  type SigningKeys,
} from '@parley/crypto';
import type { AddRecordKeyRequest, CertifiedStaff } from '@parley/protocol';
import { AccountFlowError, type DeviceIdentity } from './accounts.js';
import { authoritySignKeys, practiceAuthority, type PracticeAuthority, type TrustAnchor } from './authority.js';
import { RevocationState } from './revocations.js';
import { currentRecordKey, equal, verifiedStaff } from './trust.js';
import { unwrap } from './unwrap.js';

/** What a manager's client holds after the key ceremony. The root secret key is the practice's trust anchor: keep it offline in production. */
export interface PracticeSecrets {
  odsCode: string;
  root: SigningKeys;
  /** The practice admin key, once made: it signs everyday statements, so the root can go offline. */
  admin?: PracticeAdminKey;
  recordKeys: RecordKey[];
}

/** A practice admin key a manager's client holds: certified by the root, it signs where the root did (docs/crypto.md, "Practice authority"). */
export interface PracticeAdminKey {
  /** The UUID its certificate names; the revocation list revokes it by this id. */
  adminKeyId: string;
  keys: SigningKeys;
}

/** What a manager's client signs everyday statements with: the admin key, or the root while it is in the browser; either may be absent. */
export type SigningSecrets = Omit<PracticeSecrets, 'root'> & { root?: SigningKeys };

/**
 * The key everyday statements (staff device certificates, record key certificates, "current" statements,
 * revocation lists) are signed with: the admin key when the client holds one, else the root.
 * @throws AccountFlowError `no_signing_key` (neither is in this browser: import the offline root, or sign in with a key file holding the admin key)
 */
export function everydaySigner(secrets: Pick<SigningSecrets, 'root' | 'admin'>): SigningKeys {
  const signer = secrets.admin?.keys ?? secrets.root;
  if (!signer) throw new AccountFlowError('no_signing_key', 'this browser holds neither the practice admin key nor the root key');
  return signer;
}

/**
 * The first manager's key ceremony: makes the practice root key and record key version 1, pins the
 * root public key on the server, certifies the record key with the root key and states it is the
 * current version, and certifies the manager's own device with it (so the grants it signs can be verified).
 * @throws AccountFlowError (`conflict` when the practice already has a root key, `forbidden` …)
 */
export async function setUpPracticeKeys(input: {
  baseUrl: string;
  token: string;
  odsCode: string;
  manager: DeviceIdentity & { userId: string; certifiedAs: CertifiedStaff };
}): Promise<PracticeSecrets> {
  await ready();
  const api = new HttpApi({ baseUrl: input.baseUrl, token: input.token });
  const root = generatePracticeRootKey();
  unwrap(await api.setRootKey({ rootSignPublicKey: toBase64(root.signPublicKey) }), 'pin root key');
  const recordKey = createRecordKey(1);
  unwrap(await api.addRecordKey(certifiedRecordKey(input.odsCode, recordKey, root)), 'add record key');
  const secrets = { odsCode: input.odsCode, root, recordKeys: [recordKey] };
  await admitStaffDevice({
    baseUrl: input.baseUrl,
    token: input.token,
    secrets,
    granter: input.manager,
    device: { userId: input.manager.userId, deviceId: input.manager.deviceId, ...pub(input.manager), certifiedAs: input.manager.certifiedAs },
  });
  return secrets;
}

/**
 * A new record key version as `POST /api/practice/record-keys` takes it: its certificate and "current" statement,
 * signed by `signer` (the root, or the admin key: `everydaySigner`).
 */
export function certifiedRecordKey(odsCode: string, recordKey: RecordKey, signer: SigningKeys, now = Date.now()): AddRecordKeyRequest {
  const fields = { practiceId: odsCode, version: recordKey.version, publicKey: recordKey.boxPublicKey };
  const certificate = certifyRecordKey({ ...fields, validFrom: now }, signer.signSecretKey);
  const current = signRecordKeyCurrent({ ...fields, issuedAt: now }, signer.signSecretKey);
  return {
    version: recordKey.version,
    boxPublicKey: toBase64(recordKey.boxPublicKey),
    validFrom: now,
    certificate: toBase64(certificate.signature),
    current: { issuedAt: now, signature: toBase64(current) },
  };
}

/**
 * Admits a staff device (after the in-person fingerprint check): certifies it with the admin key (or the
 * root while the browser holds no admin key), together with the name and roles the manager sees (clients
 * show these, never a server field), and grants it every record key version, each grant signed by the
 * granting manager's device.
 * @throws AccountFlowError (`no_signing_key`, the gateway's codes)
 */
export async function admitStaffDevice(input: {
  baseUrl: string;
  token: string;
  secrets: SigningSecrets;
  granter: DeviceIdentity;
  device: { userId: string; deviceId: string; signPublicKey: Uint8Array; boxPublicKey: Uint8Array; certifiedAs: CertifiedStaff };
}): Promise<void> {
  const api = new HttpApi({ baseUrl: input.baseUrl, token: input.token });
  const { device } = input;
  const certificate = certifyStaffDevice({ practiceId: input.secrets.odsCode, ...device, ...device.certifiedAs }, everydaySigner(input.secrets).signSecretKey);
  unwrap(await api.putDeviceCertificate(device.deviceId, { certificate: toBase64(certificate), certifiedAs: device.certifiedAs }), 'certify device');
  for (const recordKey of input.secrets.recordKeys) {
    const grant = grantRecordKey({
      practiceId: input.secrets.odsCode,
      recordKey,
      recipientBoxPublicKey: device.boxPublicKey,
      granterSignSecretKey: input.granter.keys.signSecretKey,
    });
    unwrap(
      await api.addRecordKeyGrant({
        version: recordKey.version,
        deviceId: device.deviceId,
        sealedSeed: toBase64(grant.sealedSeed),
        signature: toBase64(grant.signature),
      }),
      'grant record key',
    );
  }
}

/**
 * A staff client's record keys: fetches the grants sealed to this device and opens each one, after
 * checking the record key certificate against the practice's authority and the grant against its granter's
 * device, certified by that authority as a manager's. Given only the pinned root, the authority is resolved
 * from it and the chain the server lists (`practiceAuthority`).
 * @throws AccountFlowError (`untrusted_granter`), CryptoError (`bad_signature`, `bad_certificate`, …)
 */
export async function openRecordKeys(input: {
  baseUrl: string;
  token: string;
  odsCode: string;
  device: DeviceIdentity;
  pinnedRoot: TrustAnchor;
}): Promise<Map<number, RecordKey>> {
  await ready();
  const keys = unwrap(await new HttpApi({ baseUrl: input.baseUrl, token: input.token }).getPracticeKeys(), 'practice keys');
  const authority = input.pinnedRoot instanceof Uint8Array ? practiceAuthority(keys, input.odsCode, input.pinnedRoot) : input.pinnedRoot;
  const opened = new Map<number, RecordKey>();
  for (const grant of keys.grants) {
    const record = keys.recordKeys.find((key) => key.version === grant.version);
    // The granter's device must itself be certified by the root key as a manager's; the server's word is not enough.
    const granter = verifiedStaff(
      {
        userId: grant.granterUserId,
        deviceId: grant.grantedByDeviceId,
        signPublicKey: grant.granterSignPublicKey,
        boxPublicKey: grant.granterBoxPublicKey,
        certificate: grant.granterCertificate,
        certifiedAs: grant.granterCertifiedAs,
      },
      input.odsCode,
      authority,
    );
    if (!record || !granter?.roles.includes('manager'))
      throw new AccountFlowError('untrusted_granter', `record key ${grant.version} was granted by a device the practice did not certify as a manager's`);
    const granterSignPublicKey = fromBase64(grant.granterSignPublicKey);
    const publicKey = fromBase64(record.boxPublicKey);
    const certificate = {
      practiceId: input.odsCode,
      version: record.version,
      publicKey,
      validFrom: record.validFrom,
      signature: fromBase64(record.certificate),
    };
    // The certificate may be the root's or an admin key's: the grant opens under whichever of the authority's keys signed it.
    const signer = authoritySignKeys(authority).find((key) => {
      try {
        verifyRecordKeyCertificate(certificate, key);
        return true;
      } catch {
        return false;
      }
    });
    if (!signer) throw new AccountFlowError('untrusted_granter', `record key ${grant.version} is not certified by the practice's authority`);
    opened.set(
      grant.version,
      openRecordKeyGrant({
        grant: {
          practiceId: input.odsCode,
          version: grant.version,
          recordKeyId: keyId(publicKey),
          recipientKeyId: keyId(input.device.keys.boxPublicKey),
          sealedSeed: fromBase64(grant.sealedSeed),
          signature: fromBase64(grant.signature),
        },
        certificate,
        rootSignPublicKey: signer,
        granterSignPublicKey,
        recipient: input.device.keys,
      }),
    );
  }
  return opened;
}

const pub = (identity: DeviceIdentity) => ({ signPublicKey: identity.keys.signPublicKey, boxPublicKey: identity.keys.boxPublicKey });

/**
 * Makes a practice admin key in this browser and has `root` certify it (`POST /api/practice/admin-keys`): from
 * then on everyday statements are signed with it (`everydaySigner`), and the root is needed only to rotate the
 * root or certify another admin key. Keep the answer with the manager's keys (key file, browser vault).
 * @throws AccountFlowError (the gateway's codes: `conflict` when `root` is not the practice's current root …)
 */
export async function addPracticeAdminKey(input: {
  baseUrl: string;
  token: string;
  odsCode: string;
  root: SigningKeys;
  now?: number;
}): Promise<PracticeAdminKey> {
  await ready();
  const keys = generatePracticeRootKey();
  const adminKeyId = crypto.randomUUID();
  const issuedAt = input.now ?? Date.now();
  const certificate = certifyAdminKey({ practiceId: input.odsCode, adminKeyId, signPublicKey: keys.signPublicKey, issuedAt }, input.root.signSecretKey);
  const api = new HttpApi({ baseUrl: input.baseUrl, token: input.token });
  unwrap(await api.addAdminKey({ adminKeyId, signPublicKey: toBase64(keys.signPublicKey), issuedAt, certificate: toBase64(certificate) }), 'add admin key');
  return { adminKeyId, keys };
}

/** What a root rotation did. */
export interface RootRotation {
  /** The new root: export it to the offline file, then remove it from the browser. */
  root: SigningKeys;
  /** The new admin key the new root certified: it signs everyday statements from now on. */
  admin: PracticeAdminKey;
  /** Record key versions certified again under the new authority. */
  recertifiedVersions: number[];
  /** Staff devices certified again under the new authority, with the name and roles the old one vouched for. */
  recertifiedDeviceIds: string[];
  /** Active staff devices the old authority did not vouch for: they stay untrusted (admit them again if they should not). */
  skipped: { userId: string; deviceId: string }[];
}

/**
 * The root rotation ceremony, in a manager's client holding the current root: makes the next root, has the
 * current root sign it as its successor (`POST /api/practice/root-successors`), certifies a new admin key with
 * the new root, and certifies again, with that admin key, what must stay valid: every record key version the
 * old authority certified (the newest one stated current again) and every active staff device certificate the
 * old authority vouched for. From the successor on, the old root signs nothing clients accept, and the admin
 * keys it certified are no longer served or trusted. `pinnedRoot` is the root this client pinned: the current
 * authority is resolved from it, never from the server's word.
 * @throws AccountFlowError (`untrusted_root` when `root` is not the practice's current root as this client resolves it; the gateway's codes)
 */
export async function rotatePracticeRoot(input: {
  baseUrl: string;
  token: string;
  odsCode: string;
  root: SigningKeys;
  pinnedRoot: Uint8Array;
}): Promise<RootRotation> {
  await ready();
  const api = new HttpApi({ baseUrl: input.baseUrl, token: input.token });
  const keys = unwrap(await api.getPracticeKeys(), 'practice keys');
  const before = practiceAuthority(keys, input.odsCode, input.pinnedRoot);
  if (!equal(before.root, input.root.signPublicKey))
    throw new AccountFlowError('untrusted_root', "the root key in this browser is not the practice's current root");

  // The revocation list as the retiring authority signed it: republished under the new one below, or every client that
  // follows the successor would refuse it (a retired root signs nothing) and stop at its start.
  const revocations = new RevocationState({ api, practiceOdsCode: input.odsCode, pinnedRoot: input.pinnedRoot });
  const revoked = await revocations.refresh();
  const now = Date.now();
  const next = generatePracticeRootKey();
  const successor = { practiceId: input.odsCode, previousSignPublicKey: input.root.signPublicKey, signPublicKey: next.signPublicKey, issuedAt: now };
  const signature = signRootSuccessor(successor, input.root.signSecretKey);
  unwrap(
    await api.addRootSuccessor({
      previousSignPublicKey: toBase64(successor.previousSignPublicKey),
      signPublicKey: toBase64(successor.signPublicKey),
      issuedAt: now,
      signature: toBase64(signature),
    }),
    'add root successor',
  );
  const admin = await addPracticeAdminKey({ baseUrl: input.baseUrl, token: input.token, odsCode: input.odsCode, root: next, now });
  const rotation: RootRotation = { root: next, admin, recertifiedVersions: [], recertifiedDeviceIds: [], skipped: [] };
  if (revoked) {
    const fields = { version: revoked.version + 1, issuedAt: now, entries: [...revoked.entries] };
    const signature = signRevocationList({ practiceId: input.odsCode, ...fields }, admin.keys.signSecretKey);
    unwrap(
      await api.putRevocations({ ...fields, signerSignPublicKey: toBase64(admin.keys.signPublicKey), signature: toBase64(signature) }),
      'revocation list under the new root',
    );
  }

  const newest = currentRecordKey(keys, input.odsCode, before);
  for (const key of keys.recordKeys) {
    const publicKey = fromBase64(key.boxPublicKey);
    const old: RecordKeyCertificate = {
      practiceId: input.odsCode,
      version: key.version,
      publicKey,
      validFrom: key.validFrom,
      signature: fromBase64(key.certificate),
    };
    if (!isCertifiedBy(before, old)) continue;
    const fields = { practiceId: input.odsCode, version: key.version, publicKey };
    const certificate = certifyRecordKey({ ...fields, validFrom: key.validFrom }, admin.keys.signSecretKey);
    const isNewest = newest?.version === key.version;
    const current = isNewest ? { issuedAt: now, signature: toBase64(signRecordKeyCurrent({ ...fields, issuedAt: now }, admin.keys.signSecretKey)) } : null;
    unwrap(
      await api.recertifyRecordKey({ version: key.version, validFrom: key.validFrom, certificate: toBase64(certificate.signature), current }),
      'certify record key again',
    );
    rotation.recertifiedVersions.push(key.version);
  }

  const staff = unwrap(await api.listStaff(), 'list staff');
  for (const member of staff.filter((candidate) => candidate.deactivatedAt === null)) {
    for (const device of member.devices.filter((candidate) => candidate.revokedAt === null)) {
      const vouched = verifiedStaff({ ...device, userId: member.userId, deviceId: device.id }, input.odsCode, before);
      if (!vouched) {
        rotation.skipped.push({ userId: member.userId, deviceId: device.id });
        continue;
      }
      const fields = {
        practiceId: input.odsCode,
        userId: member.userId,
        deviceId: device.id,
        signPublicKey: fromBase64(device.signPublicKey),
        boxPublicKey: fromBase64(device.boxPublicKey),
      };
      const certificate = certifyStaffDevice({ ...fields, ...vouched }, admin.keys.signSecretKey);
      unwrap(await api.putDeviceCertificate(device.id, { certificate: toBase64(certificate), certifiedAs: vouched }), 'certify device again');
      rotation.recertifiedDeviceIds.push(device.id);
    }
  }
  return rotation;
}

function isCertifiedBy(authority: PracticeAuthority, certificate: RecordKeyCertificate): boolean {
  return authoritySignKeys(authority).some((key) => {
    try {
      verifyRecordKeyCertificate(certificate, key);
      return true;
    } catch {
      return false;
    }
  });
}
