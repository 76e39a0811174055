import { HttpApi } from '@parley/client';
import {
  certifyDevice,
  DEFAULT_KDF_PARAMS,
  deriveAccountKeys,
  deriveInvitationKeys,
  fromBase64,
  generateDeviceKeys,
  generatePatientAccountKeys,
  INVITATION_KDF_PARAMS,
  newSalt,
  openBackup,
  ready,
  sealBackup,
  signAccountKey,
  toBase64,
  verifyInvitation,
  verifyInvitationRoot,
  type IdentityKeys,
  type KdfParams,
  type PassphraseKeys,
  type SigningKeys,
} from '@parley/crypto';
import type { AccountEnrolment, ErrorBody, KdfParams as WireKdfParams, SessionInfo } from '@parley/protocol';
import { openEnvelope } from './conversation-crypto.js';
import { equal, isAccountKeyTrusted, isCertifiedBy, verifiedStaff, type AccountPublicKeys } from './trust.js';
import { unwrap } from './unwrap.js';

/** A device's id and its key pairs. The private keys never leave the device (see docs/crypto.md). */
export interface DeviceIdentity {
  deviceId: string;
  keys: IdentityKeys;
}

/** A signed-in user as a client holds them: the session, this device's keys and, for patients, the account key's public halves. */
export interface SignedIn {
  session: SessionInfo;
  device: DeviceIdentity;
  /** Patients only: the account key's public halves. Its secret halves live only in the passphrase backup (docs/crypto.md). */
  account?: AccountPublicKeys;
}

/**
 * What a patient's device keeps after enrolment (activation or sign-in): its session and keys, the
 * practice root pinned from the invitation code or the key backup (never from a server answer), and
 * the epoch keys of earlier conversations, opened with the account key while it was in memory.
 */
export interface PatientSignedIn extends SignedIn {
  account: AccountPublicKeys;
  pinnedRoot: Uint8Array;
  /** Epoch keys by `${conversationId}/${epoch}` (see `epochKeyId`). */
  epochKeys: Map<string, Uint8Array>;
}

/** The key under which a device keeps a conversation epoch's key. */
export const epochKeyId = (conversationId: string, epoch: number): string => `${conversationId.toLowerCase()}/${epoch}`;

/** A failed step of an account flow: the gateway's error code, or the local crypto failure. */
export class AccountFlowError extends Error {
  constructor(
    readonly code: string,
    message: string,
    /** The server's facts about a refusal (ids, numbers and times: e.g. `{ limit, max }` with `patient_limit`). */
    readonly details?: ErrorBody['details'],
  ) {
    super(message);
    this.name = 'AccountFlowError';
  }

  /** The error for a server's (or transport's) refusal, keeping its details; `step` names the step that failed. */
  static of(error: { code: string; message: string; details?: ErrorBody['details'] }, step?: string): AccountFlowError {
    return new AccountFlowError(error.code, step ? `${step}: ${error.message}` : error.message, error.details);
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
 * An invitation the patient's client checked itself against the code: the practice root key it pins
 * (signed by the invitation key only the code derives), the staff device that made the invitation
 * (certified by that root) and its signature over this patient and invitation key. Holds the invitation
 * key's secret half until activation signs the account key with it; keep it in memory only.
 */
export interface VerifiedInvitation {
  practice: string;
  practiceName: string;
  userId: string;
  displayName: string;
  pinnedRoot: Uint8Array;
  lookupId: Uint8Array;
  invitationKeys: SigningKeys;
  expiresAt: number;
  /** Who made the invitation, as the root key certified them. */
  invitedBy: { displayName: string; roles: string[] };
}

/**
 * Checks an invitation code and date of birth: derives the lookup id and invitation key from the code
 * (Argon2id; the code never leaves), fetches the invitation, and verifies it locally: the root key the
 * server names must be signed by this code's invitation key (so the root is pinned from the code
 * itself), the creating staff device must be certified by that root, and its signature must bind this
 * patient and this invitation key. `kdf` is for tests only.
 * @throws AccountFlowError `invalid_payload` (not a code), `unauthorized` (no such invitation, or wrong date of birth), `untrusted_invitation` (any check failed), `expired`, `rate_limited`, `network`
 */
export async function openInvitation(input: {
  baseUrl: string;
  practice: string;
  code: string;
  dateOfBirth: string;
  kdf?: Readonly<KdfParams>;
}): Promise<VerifiedInvitation> {
  await ready();
  const practice = input.practice.trim().toUpperCase();
  let derived;
  try {
    derived = deriveInvitationKeys(input.code, practice, input.kdf ?? INVITATION_KDF_PARAMS);
  } catch (error) {
    const code = (error as { code?: string }).code;
    throw new AccountFlowError(code === 'weak_kdf_params' ? code : 'invalid_payload', 'that is not an invitation code');
  }
  const api = new HttpApi({ baseUrl: input.baseUrl });
  const details = unwrap(await api.lookUpInvitation({ practice, lookupId: toBase64(derived.lookupId), dateOfBirth: input.dateOfBirth }), 'invitation');
  const refuse = (why: string) => new AccountFlowError('untrusted_invitation', `the invitation does not match its code: ${why}`);
  const chain = details.invitation;
  if (details.kind !== 'patient' || !chain) throw refuse('not a patient invitation');
  if (details.practice.odsCode !== practice || !details.practice.rootSignPublicKey) throw refuse('another practice');
  const invitationSignPublicKey = derived.signKeys.signPublicKey;
  if (!equal(fromBase64(chain.invitationSignPublicKey), invitationSignPublicKey)) throw refuse('another invitation key');
  let pinnedRoot: Uint8Array;
  try {
    pinnedRoot = fromBase64(details.practice.rootSignPublicKey);
    verifyInvitationRoot({ practiceId: practice, rootSignPublicKey: pinnedRoot }, fromBase64(chain.rootSignature), invitationSignPublicKey);
  } catch {
    throw refuse('the practice root key is not the one the code vouches for');
  }
  const invitedBy = verifiedStaff(chain.creator, practice, pinnedRoot);
  if (!invitedBy) throw refuse('the inviting device is not certified by the practice');
  try {
    verifyInvitation(
      { practiceId: practice, patientId: details.userId, invitationSignPublicKey, expiresAt: chain.expiresAt },
      fromBase64(chain.invitationSignature),
      fromBase64(chain.creator.signPublicKey),
    );
  } catch {
    throw refuse('the inviting device did not sign this invitation');
  }
  if (chain.expiresAt <= Date.now()) throw new AccountFlowError('expired', 'this invitation has expired; ask the practice for a new one');
  return {
    practice,
    practiceName: details.practice.name,
    userId: details.userId,
    displayName: details.displayName,
    pinnedRoot,
    lookupId: derived.lookupId,
    invitationKeys: derived.signKeys,
    expiresAt: chain.expiresAt,
    invitedBy: { displayName: invitedBy.displayName, roles: [...invitedBy.roles] },
  };
}

/**
 * Activates a verified invitation: derives the auth and backup keys from the passphrase (which never
 * leaves), makes the patient account key and this device's keys, signs the account key with the
 * invitation key (so staff trust it with no manager step), certifies the device with the account key,
 * seals the account key and the pinned root in the backup, and sends only public keys, signatures and
 * the sealed blob. The account key's and the invitation key's secret halves are wiped before this returns.
 * @throws AccountFlowError with the gateway's code (`unauthorized` for a used invitation or wrong date of birth, …)
 */
export async function activatePatient(
  input: FlowOptions & { invitation: VerifiedInvitation; dateOfBirth: string; passphrase: string },
): Promise<PatientSignedIn> {
  await ready();
  const { invitation } = input;
  const userId = invitation.userId;
  const params = input.kdf ?? DEFAULT_KDF_PARAMS;
  const passphraseKeys = deriveAccountKeys(input.passphrase, newSalt(), params);
  const accountKeys = generatePatientAccountKeys();
  const device = { deviceId: crypto.randomUUID(), keys: generateDeviceKeys() };
  const certificate = certifyDevice(
    { userId, deviceId: device.deviceId, signPublicKey: device.keys.signPublicKey, boxPublicKey: device.keys.boxPublicKey },
    accountKeys.signSecretKey,
  );
  const accountSignature = signAccountKey(
    { practiceId: invitation.practice, patientId: userId, signPublicKey: accountKeys.signPublicKey, boxPublicKey: accountKeys.boxPublicKey },
    invitation.invitationKeys.signSecretKey,
  );
  const backup = sealBackup({ userId, backupVersion: 1, accountKeys, pinnedRoot: invitation.pinnedRoot, passphraseKeys });
  const session = unwrap(
    await new HttpApi({ baseUrl: input.baseUrl }).activate({
      practice: invitation.practice,
      lookupId: toBase64(invitation.lookupId),
      dateOfBirth: input.dateOfBirth,
      authKey: toBase64(passphraseKeys.authKey),
      kdf: toWire(passphraseKeys.salt, params),
      device: { label: input.deviceLabel, keys: publicKeys(device.keys) },
      account: {
        userId,
        deviceId: device.deviceId,
        keys: publicKeys(accountKeys),
        deviceCertificate: toBase64(certificate.signature),
        accountSignature: toBase64(accountSignature),
        backup: toBase64(backup),
      },
    }),
    'activate',
  );
  const account = { signPublicKey: accountKeys.signPublicKey, boxPublicKey: accountKeys.boxPublicKey };
  forget(accountKeys);
  // The invitation is used: its key has signed the one account key it will ever sign.
  invitation.invitationKeys.signSecretKey.fill(0);
  return { session, device, account, pinnedRoot: invitation.pinnedRoot, epochKeys: new Map() };
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
 * Signs in with the passphrase, on a device this browser already has or on a new one. A patient's
 * device is enrolled again each time (flow A of docs/crypto.md): it downloads the backup, opens the
 * account key and the pinned root with the passphrase, checks the account key the server lists is the
 * same and chains to that root, certifies a new device with it, opens the epoch keys sealed to it, and
 * drops it. Staff devices get no account (their root comes from their own key store).
 * @throws AccountFlowError (`unauthorized`, `rate_limited`, `wrong_passphrase`, `untrusted_account` …)
 */
export async function signIn(
  input: FlowOptions & { practice: string; login: string; passphrase: string; device?: DeviceIdentity },
): Promise<SignedIn | PatientSignedIn> {
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
  return enrolPatientDevice(new HttpApi({ baseUrl: input.baseUrl, token: session.token }), signedIn, passphraseKeys, !input.device);
}

/** Whether a sign-in answer is a patient's (with the account key's public halves and the pinned root). */
export function isPatientSignedIn(signedIn: SignedIn): signedIn is PatientSignedIn {
  return 'pinnedRoot' in signedIn && signedIn.account !== undefined;
}

async function enrolPatientDevice(api: HttpApi, signedIn: SignedIn, passphraseKeys: PassphraseKeys, isNewDevice: boolean): Promise<PatientSignedIn> {
  const userId = signedIn.session.user.id;
  const { accountKeys, pinnedRoot } = await restoreAccountKeys(api, userId, passphraseKeys);
  try {
    const enrolment = unwrap(await api.getAccountEnrolment(), 'account keys');
    const practiceId = signedIn.session.practice.odsCode;
    const { account } = enrolment;
    // The backup (sealed under the passphrase) is the authority; the server's copy must be the same key and chain to the root pinned in it.
    const isSameKey =
      account.userId === userId &&
      equal(fromBase64(account.signPublicKey), accountKeys.signPublicKey) &&
      equal(fromBase64(account.boxPublicKey), accountKeys.boxPublicKey);
    if (!isSameKey) throw new AccountFlowError('untrusted_account', 'the account key the server lists is not the one in your key backup');
    if (!isAccountKeyTrusted(account, practiceId, pinnedRoot))
      throw new AccountFlowError('untrusted_account', 'your account key does not chain to the practice root key in your key backup');
    if (isNewDevice) {
      const certificate = certifyDevice(
        { userId, deviceId: signedIn.device.deviceId, signPublicKey: signedIn.device.keys.signPublicKey, boxPublicKey: signedIn.device.keys.boxPublicKey },
        accountKeys.signSecretKey,
      );
      unwrap(await api.putDeviceCertificate(signedIn.device.deviceId, { certificate: toBase64(certificate.signature) }), 'certify device');
    }
    return {
      ...signedIn,
      account: { signPublicKey: accountKeys.signPublicKey.slice(), boxPublicKey: accountKeys.boxPublicKey.slice() },
      pinnedRoot,
      epochKeys: openHistory(enrolment, userId, accountKeys, practiceId, pinnedRoot),
    };
  } finally {
    forget(accountKeys);
  }
}

/**
 * Opens every epoch key sealed to the account key whose creator is one of this patient's own devices,
 * certified by the account key itself (the only creators of first epochs, docs/crypto.md). An account key
 * the root certified (flow B: a recovery) also takes the old epoch keys a manager's device re-sealed to it:
 * that device must be root-certified as a manager's, since only the root holder completes a recovery and its
 * certificate over this account key is what made the key trusted. The first envelope for a conversation
 * epoch wins; one that fails any check is skipped, never trusted.
 */
function openHistory(
  enrolment: AccountEnrolment,
  userId: string,
  accountKeys: IdentityKeys,
  practiceId: string,
  pinnedRoot: Uint8Array,
): Map<string, Uint8Array> {
  const devices = new Map(enrolment.devices.map((device) => [device.id, device]));
  const isRecovered = enrolment.account.certificate !== null;
  const resealers = new Map(isRecovered ? (enrolment.resealers ?? []).map((device) => [device.deviceId, device]) : []);
  const opened = new Map<string, Uint8Array>();
  for (const envelope of enrolment.envelopes) {
    const id = epochKeyId(envelope.conversationId, envelope.epoch);
    if (opened.has(id)) continue;
    const own = devices.get(envelope.creatorDeviceId);
    const resealer = resealers.get(envelope.creatorDeviceId);
    let creator: { signPublicKey: Uint8Array; isTrusted: boolean; isMember: boolean };
    if (own && own.userId === userId) {
      creator = { signPublicKey: fromBase64(own.signPublicKey), isTrusted: isCertifiedBy(own, accountKeys.signPublicKey), isMember: true };
    } else if (resealer && resealer.userId !== userId) {
      const staff = verifiedStaff(resealer, practiceId, pinnedRoot);
      creator = { signPublicKey: fromBase64(resealer.signPublicKey), isTrusted: staff?.roles.includes('manager') ?? false, isMember: true };
    } else continue;
    try {
      opened.set(id, openEnvelope({ conversationId: envelope.conversationId, envelope, recipient: accountKeys, creator }));
    } catch {
      // Forged, substituted or from an uncertified device: left closed.
    }
  }
  return opened;
}

async function restoreAccountKeys(
  api: HttpApi,
  userId: string,
  passphraseKeys: PassphraseKeys,
): Promise<{ accountKeys: IdentityKeys; pinnedRoot: Uint8Array }> {
  const backup = unwrap(await api.getBackup(), 'download backup');
  try {
    return openBackup({ blob: fromBase64(backup.backup), userId, passphraseKeys });
  } catch (error) {
    throw new AccountFlowError((error as { code?: string }).code ?? 'decrypt_failed', 'the key backup does not open with this passphrase');
  }
}

/** Overwrites the secret halves of a key set (best effort in JavaScript). */
function forget(keys: IdentityKeys): void {
  keys.signSecretKey.fill(0);
  keys.boxSecretKey.fill(0);
}

/** The public halves of a key set, base64 for the wire. */
export function publicKeys(keys: Pick<IdentityKeys, 'signPublicKey' | 'boxPublicKey'>): { signPublicKey: string; boxPublicKey: string } {
  return { signPublicKey: toBase64(keys.signPublicKey), boxPublicKey: toBase64(keys.boxPublicKey) };
}
