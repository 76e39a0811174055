import { HttpApi } from '@parley/client';
import {
  certifyDevice,
  certifyPatientAccountKey,
  certifyRecordKey,
  createRecordKey,
  fromBase64,
  generatePracticeRootKey,
  grantRecordKey,
  keyId,
  openRecordKeyGrant,
  ready,
  toBase64,
  verifyDeviceCertificate,
  type RecordKey,
  type SigningKeys,
} from '@parley/crypto';
import { AccountFlowError, type DeviceIdentity } from './accounts.js';
import { unwrap } from './unwrap.js';

/** What a manager's client holds after the key ceremony. The root secret key is the practice's trust anchor: keep it offline in production. */
export interface PracticeSecrets {
  odsCode: string;
  root: SigningKeys;
  recordKeys: RecordKey[];
}

/**
 * The first manager's key ceremony: makes the practice root key and record key version 1, pins the
 * root public key on the server, certifies the record key with the root key, and certifies the
 * manager's own device with it (so the grants it signs can be verified).
 * @throws AccountFlowError (`conflict` when the practice already has a root key, `forbidden` …)
 */
export async function setUpPracticeKeys(input: { baseUrl: string; token: string; odsCode: string; manager: DeviceIdentity & { userId: string } }): Promise<PracticeSecrets> {
  await ready();
  const api = new HttpApi({ baseUrl: input.baseUrl, token: input.token });
  const root = generatePracticeRootKey();
  unwrap(await api.setRootKey({ rootSignPublicKey: toBase64(root.signPublicKey) }), 'pin root key');
  const recordKey = createRecordKey(1);
  const certificate = certifyRecordKey({ practiceId: input.odsCode, version: 1, publicKey: recordKey.boxPublicKey, validFrom: Date.now() }, root.signSecretKey);
  unwrap(
    await api.addRecordKey({ version: 1, boxPublicKey: toBase64(recordKey.boxPublicKey), validFrom: certificate.validFrom, certificate: toBase64(certificate.signature) }),
    'add record key',
  );
  const secrets = { odsCode: input.odsCode, root, recordKeys: [recordKey] };
  await admitStaffDevice({ baseUrl: input.baseUrl, token: input.token, secrets, granter: input.manager, device: { userId: input.manager.userId, deviceId: input.manager.deviceId, ...pub(input.manager) } });
  return secrets;
}

/**
 * Admits a staff device (after the in-person fingerprint check): certifies it with the root key and
 * grants it every record key version, each grant signed by the granting manager's device.
 * @throws AccountFlowError
 */
export async function admitStaffDevice(input: {
  baseUrl: string;
  token: string;
  secrets: PracticeSecrets;
  granter: DeviceIdentity;
  device: { userId: string; deviceId: string; signPublicKey: Uint8Array; boxPublicKey: Uint8Array };
}): Promise<void> {
  const api = new HttpApi({ baseUrl: input.baseUrl, token: input.token });
  const certificate = certifyDevice({ userId: input.device.userId, deviceId: input.device.deviceId, signPublicKey: input.device.signPublicKey, boxPublicKey: input.device.boxPublicKey }, input.secrets.root.signSecretKey);
  unwrap(await api.putDeviceCertificate(input.device.deviceId, { certificate: toBase64(certificate.signature) }), 'certify device');
  for (const recordKey of input.secrets.recordKeys) {
    const grant = grantRecordKey({ practiceId: input.secrets.odsCode, recordKey, recipientBoxPublicKey: input.device.boxPublicKey, granterSignSecretKey: input.granter.keys.signSecretKey });
    unwrap(
      await api.addRecordKeyGrant({ version: recordKey.version, deviceId: input.device.deviceId, sealedSeed: toBase64(grant.sealedSeed), signature: toBase64(grant.signature) }),
      'grant record key',
    );
  }
}

/** Certifies a patient's account key with the root key (the practice vouches for it after identity checks). @throws AccountFlowError */
export async function certifyPatientAccount(input: {
  baseUrl: string;
  token: string;
  secrets: PracticeSecrets;
  patientId: string;
  signPublicKey: Uint8Array;
  boxPublicKey: Uint8Array;
}): Promise<void> {
  const certificate = certifyPatientAccountKey({ patientId: input.patientId, signPublicKey: input.signPublicKey, boxPublicKey: input.boxPublicKey }, input.secrets.root.signSecretKey);
  unwrap(await new HttpApi({ baseUrl: input.baseUrl, token: input.token }).putAccountKeyCertificate(input.patientId, { certificate: toBase64(certificate.signature) }), 'certify account key');
}

/**
 * A staff client's record keys: fetches the grants sealed to this device and opens each one, after
 * checking the record key certificate against the pinned root key and the grant against its granter's
 * root-certified device key.
 * @throws AccountFlowError (`untrusted_granter`), CryptoError (`bad_signature`, `bad_certificate`, …)
 */
export async function openRecordKeys(input: { baseUrl: string; token: string; odsCode: string; device: DeviceIdentity; pinnedRoot: Uint8Array }): Promise<Map<number, RecordKey>> {
  await ready();
  const keys = unwrap(await new HttpApi({ baseUrl: input.baseUrl, token: input.token }).getPracticeKeys(), 'practice keys');
  const opened = new Map<number, RecordKey>();
  for (const grant of keys.grants) {
    const record = keys.recordKeys.find((key) => key.version === grant.version);
    if (!record || !grant.granterCertificate) throw new AccountFlowError('untrusted_granter', `record key ${grant.version} was granted by an uncertified device`);
    const granterSignPublicKey = fromBase64(grant.granterSignPublicKey);
    // The granter's device must itself be certified by the root key; the server's word is not enough.
    verifyDeviceCertificate(
      { userId: grant.granterUserId, deviceId: grant.grantedByDeviceId, signPublicKey: granterSignPublicKey, boxPublicKey: fromBase64(grant.granterBoxPublicKey), signature: fromBase64(grant.granterCertificate) },
      input.pinnedRoot,
    );
    const publicKey = fromBase64(record.boxPublicKey);
    opened.set(
      grant.version,
      openRecordKeyGrant({
        grant: { practiceId: input.odsCode, version: grant.version, recordKeyId: keyId(publicKey), recipientKeyId: keyId(input.device.keys.boxPublicKey), sealedSeed: fromBase64(grant.sealedSeed), signature: fromBase64(grant.signature) },
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
