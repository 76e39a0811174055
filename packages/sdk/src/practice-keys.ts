import { HttpApi } from '@parley/client';
import {
  certifyRecordKey,
  certifyStaffDevice,
  createRecordKey,
  fromBase64,
  generatePracticeRootKey,
  grantRecordKey,
  keyId,
  openRecordKeyGrant,
  ready,
  signRecordKeyCurrent,
  toBase64,
  type RecordKey,
  type SigningKeys,
} from '@parley/crypto';
import type { AddRecordKeyRequest, CertifiedStaff } from '@parley/protocol';
import { AccountFlowError, type DeviceIdentity } from './accounts.js';
import { verifiedStaff } from './trust.js';
import { unwrap } from './unwrap.js';

/** What a manager's client holds after the key ceremony. The root secret key is the practice's trust anchor: keep it offline in production. */
export interface PracticeSecrets {
  odsCode: string;
  root: SigningKeys;
  recordKeys: RecordKey[];
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

/** A new record key version as `POST /api/practice/record-keys` takes it: its root certificate and the root's "current" statement. */
export function certifiedRecordKey(odsCode: string, recordKey: RecordKey, root: SigningKeys, now = Date.now()): AddRecordKeyRequest {
  const fields = { practiceId: odsCode, version: recordKey.version, publicKey: recordKey.boxPublicKey };
  const certificate = certifyRecordKey({ ...fields, validFrom: now }, root.signSecretKey);
  const current = signRecordKeyCurrent({ ...fields, issuedAt: now }, root.signSecretKey);
  return {
    version: recordKey.version,
    boxPublicKey: toBase64(recordKey.boxPublicKey),
    validFrom: now,
    certificate: toBase64(certificate.signature),
    current: { issuedAt: now, signature: toBase64(current) },
  };
}

/**
 * Admits a staff device (after the in-person fingerprint check): certifies it with the root key,
 * together with the name and roles the manager sees (clients show these, never a server field), and
 * grants it every record key version, each grant signed by the granting manager's device.
 * @throws AccountFlowError
 */
export async function admitStaffDevice(input: {
  baseUrl: string;
  token: string;
  secrets: PracticeSecrets;
  granter: DeviceIdentity;
  device: { userId: string; deviceId: string; signPublicKey: Uint8Array; boxPublicKey: Uint8Array; certifiedAs: CertifiedStaff };
}): Promise<void> {
  const api = new HttpApi({ baseUrl: input.baseUrl, token: input.token });
  const { device } = input;
  const certificate = certifyStaffDevice({ practiceId: input.secrets.odsCode, ...device, ...device.certifiedAs }, input.secrets.root.signSecretKey);
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
 * checking the record key certificate against the pinned root key and the grant against its granter's
 * device, certified by the root key as a manager's.
 * @throws AccountFlowError (`untrusted_granter`), CryptoError (`bad_signature`, `bad_certificate`, …)
 */
export async function openRecordKeys(input: {
  baseUrl: string;
  token: string;
  odsCode: string;
  device: DeviceIdentity;
  pinnedRoot: Uint8Array;
}): Promise<Map<number, RecordKey>> {
  await ready();
  const keys = unwrap(await new HttpApi({ baseUrl: input.baseUrl, token: input.token }).getPracticeKeys(), 'practice keys');
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
      input.pinnedRoot,
    );
    if (!record || !granter?.roles.includes('manager'))
      throw new AccountFlowError('untrusted_granter', `record key ${grant.version} was granted by a device the practice did not certify as a manager's`);
    const granterSignPublicKey = fromBase64(grant.granterSignPublicKey);
    const publicKey = fromBase64(record.boxPublicKey);
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
        certificate: { practiceId: input.odsCode, version: record.version, publicKey, validFrom: record.validFrom, signature: fromBase64(record.certificate) },
        rootSignPublicKey: input.pinnedRoot,
        granterSignPublicKey,
        recipient: input.device.keys,
      }),
    );
  }
  return opened;
}

const pub = (identity: DeviceIdentity) => ({ signPublicKey: identity.keys.signPublicKey, boxPublicKey: identity.keys.boxPublicKey });
