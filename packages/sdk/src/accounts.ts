import { HttpApi } from '@parley/client';
import {
  certifyDevice,
  DEFAULT_KDF_PARAMS,
  deriveAccountKeys,
  fromBase64,
  generateDeviceKeys,
  generatePatientAccountKeys,
  newSalt,
  openBackup,
  ready,
  sealBackup,
  toBase64,
  type IdentityKeys,
  type KdfParams,
  type PassphraseKeys,
} from '@parley/crypto';
import type { InvitationDetails, KdfParams as WireKdfParams, SessionInfo } from '@parley/protocol';
import { unwrap } from './unwrap.js';

/** A device's id and its key pairs. The private keys never leave the device (see docs/crypto.md). */
export interface DeviceIdentity {
  deviceId: string;
  keys: IdentityKeys;
}

/** A signed-in user as a client holds them: the session, this device's keys and, for patients, the account key. */
export interface SignedIn {
  session: SessionInfo;
  device: DeviceIdentity;
  /** Patients only: the patient account key, restored from the backup or made at activation. */
  accountKeys?: IdentityKeys;
}

/** A failed step of an account flow: the gateway's error code, or the local crypto failure. */
export class AccountFlowError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = 'AccountFlowError';
  }
}

const toWire = (salt: Uint8Array, params: Readonly<KdfParams>): WireKdfParams => ({
  salt: toBase64(salt),
  opsLimit: params.opsLimit,
  memLimitBytes: params.memLimit,
});

const fromWire = (kdf: WireKdfParams, isTestOnly: boolean): KdfParams => ({
  opsLimit: kdf.opsLimit,
  memLimit: kdf.memLimitBytes,
  ...(isTestOnly ? { isTestOnly: true as const } : {}),
});

/** Options every flow takes. `kdf` lowers the Argon2 cost for tests only; real clients keep the default. */
export interface FlowOptions {
  /** The gateway's base URL (`''` in a browser page it served). */
  baseUrl: string;
  deviceLabel: string;
  kdf?: Readonly<KdfParams>;
}

/**
 * Activates an invited patient with the code and date of birth from their invitation: looks up the
 * account the code opens (and the practice root key, to compare with the letter's fingerprint), derives the auth and backup keys from the passphrase (which never
 * leaves), makes the patient account key and this device's keys, certifies the device with the
 * account key, seals the backup, and sends only public keys, the certificate and the sealed blob.
 * @throws AccountFlowError with the gateway's code (`unauthorized` for a wrong code or date of birth, …)
 */
export async function activatePatient(
  input: FlowOptions & { practice: string; code: string; dateOfBirth: string; passphrase: string },
): Promise<SignedIn & { invitation: InvitationDetails }> {
  await ready();
  const api = new HttpApi({ baseUrl: input.baseUrl });
  const invitation = unwrap(await api.lookUpInvitation({ practice: input.practice, code: input.code, dateOfBirth: input.dateOfBirth }), 'invitation');
  if (invitation.kind !== 'patient') throw new AccountFlowError('invalid_payload', 'this is a staff set-up code');
  const userId = invitation.userId;
  const params = input.kdf ?? DEFAULT_KDF_PARAMS;
  const passphraseKeys = deriveAccountKeys(input.passphrase, newSalt(), params);
  const accountKeys = generatePatientAccountKeys();
  const device = { deviceId: crypto.randomUUID(), keys: generateDeviceKeys() };
  const certificate = certifyDevice(
    { userId, deviceId: device.deviceId, signPublicKey: device.keys.signPublicKey, boxPublicKey: device.keys.boxPublicKey },
    accountKeys.signSecretKey,
  );
  const backup = sealBackup({ userId, backupVersion: 1, accountKeys, passphraseKeys });
  const session = unwrap(
    await api.activate({
      practice: input.practice,
      code: input.code,
      dateOfBirth: input.dateOfBirth,
      authKey: toBase64(passphraseKeys.authKey),
      kdf: toWire(passphraseKeys.salt, params),
      device: { label: input.deviceLabel, keys: publicKeys(device.keys) },
      account: {
        userId,
        deviceId: device.deviceId,
        keys: publicKeys(accountKeys),
        deviceCertificate: toBase64(certificate.signature),
        backup: toBase64(backup),
      },
    }),
    'activate',
  );
  return { session, device, accountKeys, invitation };
}

/** Activates a member of staff with their set-up code; their device is certified later by a manager. @throws AccountFlowError */
export async function activateStaff(input: FlowOptions & { practice: string; code: string; passphrase: string }): Promise<SignedIn> {
  await ready();
  const params = input.kdf ?? DEFAULT_KDF_PARAMS;
  const passphraseKeys = deriveAccountKeys(input.passphrase, newSalt(), params);
  const keys = generateDeviceKeys();
  const session = unwrap(
    await new HttpApi({ baseUrl: input.baseUrl }).activate({
      practice: input.practice,
      code: input.code,
      authKey: toBase64(passphraseKeys.authKey),
      kdf: toWire(passphraseKeys.salt, params),
      device: { label: input.deviceLabel, keys: publicKeys(keys) },
    }),
    'activate',
  );
  return { session, device: { deviceId: session.deviceId, keys } };
}

/**
 * Signs in with the passphrase, on a device this browser already has or on a new one. A patient on a
 * new device downloads the backup, opens the account key with the passphrase, and certifies the new
 * device with it (flow A of docs/crypto.md).
 * @throws AccountFlowError (`unauthorized`, `rate_limited`, `wrong_passphrase` …)
 */
export async function signIn(
  input: FlowOptions & { practice: string; login: string; passphrase: string; device?: DeviceIdentity },
): Promise<SignedIn> {
  await ready();
  const api = new HttpApi({ baseUrl: input.baseUrl });
  const kdf = unwrap(await api.prelogin({ practice: input.practice, login: input.login }), 'prelogin');
  const passphraseKeys = deriveAccountKeys(input.passphrase, fromBase64(kdf.salt), fromWire(kdf, input.kdf?.isTestOnly === true));
  const device = input.device ?? { deviceId: '', keys: generateDeviceKeys() };
  const session = unwrap(
    await api.signIn({
      practice: input.practice,
      login: input.login,
      authKey: toBase64(passphraseKeys.authKey),
      device: input.device ? { deviceId: input.device.deviceId } : { label: input.deviceLabel, keys: publicKeys(device.keys) },
    }),
    'sign-in',
  );
  const signedIn: SignedIn = { session, device: { deviceId: session.deviceId, keys: device.keys } };
  if (!session.user.roles.includes('patient')) return signedIn;
  const withToken = new HttpApi({ baseUrl: input.baseUrl, token: session.token });
  signedIn.accountKeys = await restoreAccountKeys(withToken, session.user.id, passphraseKeys);
  if (!input.device) {
    const certificate = certifyDevice(
      { userId: session.user.id, deviceId: session.deviceId, signPublicKey: device.keys.signPublicKey, boxPublicKey: device.keys.boxPublicKey },
      signedIn.accountKeys.signSecretKey,
    );
    unwrap(await withToken.putDeviceCertificate(session.deviceId, { certificate: toBase64(certificate.signature) }), 'certify device');
  }
  return signedIn;
}

async function restoreAccountKeys(api: HttpApi, userId: string, passphraseKeys: PassphraseKeys): Promise<IdentityKeys> {
  const backup = unwrap(await api.getBackup(), 'download backup');
  try {
    return openBackup({ blob: fromBase64(backup.backup), userId, passphraseKeys });
  } catch (error) {
    throw new AccountFlowError((error as { code?: string }).code ?? 'decrypt_failed', 'the key backup does not open with this passphrase');
  }
}

/** The public halves of a key set, base64 for the wire. */
export function publicKeys(keys: Pick<IdentityKeys, 'signPublicKey' | 'boxPublicKey'>): { signPublicKey: string; boxPublicKey: string } {
  return { signPublicKey: toBase64(keys.signPublicKey), boxPublicKey: toBase64(keys.boxPublicKey) };
}
