// The one module that composes @parley/client, @parley/crypto and @parley/sdk for the patient.
// They are imported lazily (dynamic import), so the first screen ships without libsodium's
// WebAssembly: it loads only when a crypto flow starts (activation, sign-in, a remembered device).
import type { ChatSession, PatientSignedIn, SystemEvent, SystemEventLine, SystemEventWording, VerifiedInvitation } from '@parley/sdk';
import type {
  AttachmentSettings,
  DeviceInfo,
  HoursStatus,
  NotificationChannels,
  NotificationContactRequest,
  PracticeSettings,
  PushSubscriptionRequest,
  SystemPong,
  TermsStatus,
} from '@parley/protocol';
import { IndexedDbOutboxStore, SecretLock, type SecretLockKdf, type WebDatabase } from '@parley/web';
import { config } from './config';

// zod, under @parley/protocol, compiles no parsers with eval in a browser (the CSP's Trusted Types
// forbid it): @parley/protocol says "jitless" before any schema parses.
const loadClient = () => import('@parley/client');
let loadedSdk: typeof import('@parley/sdk') | null = null;
const loadSdk = () => import('@parley/sdk').then((sdk) => (loadedSdk = sdk));
const loadCrypto = () => import('@parley/crypto');

/** A failed step, with the code the screens turn into words (`unauthorized`, `network`, `wrong_passphrase`, `outside_hours` …). */
export class PatientFlowError extends Error {
  constructor(
    readonly code: string,
    message: string,
    /** The gateway's facts about a refusal (e.g. `retryAfterSeconds`, or `reason: 'invitation_voided'`). */
    readonly details?: Record<string, string | number | boolean | null>,
  ) {
    super(message);
    this.name = 'PatientFlowError';
  }
}

/** Turns any failure of the sdk or the client into a PatientFlowError. */
function asFlowError(error: unknown): PatientFlowError {
  if (error instanceof PatientFlowError) return error;
  const code = typeof error === 'object' && error !== null && 'code' in error && typeof error.code === 'string' ? error.code : 'internal';
  const details = typeof error === 'object' && error !== null && 'details' in error ? (error.details as PatientFlowError['details']) : undefined;
  return new PatientFlowError(code, error instanceof Error ? error.message : 'something went wrong', details);
}

async function flow<T>(run: () => Promise<T>): Promise<T> {
  try {
    return await run();
  } catch (error) {
    throw asFlowError(error);
  }
}

async function api(token?: string) {
  const { HttpApi } = await loadClient();
  return new HttpApi({ baseUrl: config.gatewayUrl, token, timeoutMs: 15_000 });
}

function unwrap<T>(result: { ok: true; data: T } | { ok: false; error: { code: string; message: string; details?: PatientFlowError['details'] } }): T {
  if (result.ok) return result.data;
  throw new PatientFlowError(result.error.code, result.error.message, result.error.details);
}

/**
 * Asks the gateway which protocol version it speaks (no sign-in needed). @throws Error when it cannot be reached
 *
 * A plain fetch rather than HttpApi, and the version this build speaks fixed at build time: the landing screen shows
 * this status, and @parley/client and @parley/protocol (zod) then load only when the patient starts activation or
 * sign-in, not on a first visit over a slow network.
 */
export async function checkGateway(): Promise<{ isCompatible: boolean; serverProtocol: number }> {
  const response = await fetch(new URL('/api/version', config.gatewayUrl), { signal: AbortSignal.timeout(15_000) });
  if (!response.ok) throw new Error(`version: HTTP ${response.status}`);
  const { protocolVersion } = (await response.json()) as Partial<SystemPong>;
  if (typeof protocolVersion !== 'number') throw new Error('version: no protocolVersion');
  return { isCompatible: protocolVersion === config.protocolVersion, serverProtocol: protocolVersion };
}

/**
 * Checks an invitation code and date of birth, and verifies the invitation against the code here, in
 * the browser: the practice root key it names must be signed by the key only this code derives, the
 * staff device that made it must be certified by that root, and that device must have signed this
 * invitation. Argon2id over the code takes about a second. Keep the answer in memory only: it holds
 * the invitation key until activation signs the account key with it.
 * @throws PatientFlowError `invalid_payload` (not an invitation code), `unauthorized` (wrong, used or void code, or wrong date of birth), `untrusted_invitation`, `expired`, `rate_limited`, `network`
 */
export function openInvitation(input: { practice: string; code: string; dateOfBirth: string }): Promise<VerifiedInvitation> {
  return flow(async () => {
    const { openInvitation: sdkOpenInvitation } = await loadSdk();
    return sdkOpenInvitation({ baseUrl: config.gatewayUrl, ...input });
  });
}

/** A generated six-word passphrase (loads the crypto library). */
export async function suggestPassphrase(): Promise<string> {
  const crypto = await loadCrypto();
  await crypto.ready();
  return crypto.generatePassphrase();
}

/** The practice security code: the 40-digit fingerprint of the root key this device pins (from the verified invitation). */
export async function practiceSecurityCode(pinnedRoot: Uint8Array): Promise<string> {
  const crypto = await loadCrypto();
  await crypto.ready();
  return crypto.fingerprint(pinnedRoot);
}

/** Starts loading the crypto library in the background (the passphrase step will need it). */
export function preloadCrypto(): void {
  void loadSdk();
}

/** Offline strength verdict for a passphrase. */
export async function passphraseAdvice(phrase: string) {
  const sdk = await loadSdk();
  return sdk.passphraseAdvice(phrase);
}

/**
 * What this browser keeps (encrypted in the vault, or in memory only) for a signed-in patient: the
 * sdk's PatientSignedIn and what this device has learnt. Never the account key's secret halves: they
 * exist only in the passphrase backup, and in memory while a device is enrolled (docs/patient-client.md).
 */
export interface PatientKeys {
  /** The session, this device's keys and the account key's public halves. */
  signedIn: Omit<PatientSignedIn, 'pinnedRoot' | 'epochKeys'>;
  /** The practice root key, pinned from the invitation code (activation) or the key backup (sign-in); never from a server answer. */
  pinnedRoot: Uint8Array;
  /** Conversation epoch keys by `epochKeyId`, opened with the account key at enrolment. A plain record: the vault keeps no Map. */
  epochKeys: Record<string, Uint8Array>;
  /** The highest record key version this device has seen as current: a lower one is refused. */
  recordKeyFloor: number;
  /** The highest revocation list version this device has verified: a lower one (or none) is refused. Absent in older vaults (0). */
  revocationFloor?: number;
  practice: string;
  /** The NHS number, once the patient signed in with it (activation does not ask for it). */
  login: string | null;
}

/** Whether a vault record has the current shape (an older one held the account secret key, and no epoch keys or floor). */
export function isCurrentPatientKeys(keys: unknown): keys is PatientKeys {
  const candidate = keys as Partial<PatientKeys> | null;
  return (
    typeof candidate === 'object' &&
    candidate !== null &&
    candidate.pinnedRoot instanceof Uint8Array &&
    typeof candidate.recordKeyFloor === 'number' &&
    typeof candidate.epochKeys === 'object' &&
    candidate.signedIn?.account?.signPublicKey instanceof Uint8Array &&
    !('accountKeys' in candidate.signedIn)
  );
}

function toPatientKeys(
  signedIn: PatientSignedIn,
  rest: Pick<PatientKeys, 'practice' | 'login' | 'recordKeyFloor' | 'revocationFloor'> & { knownEpochKeys?: Record<string, Uint8Array> },
): PatientKeys {
  const { pinnedRoot, epochKeys, session, device, account } = signedIn;
  return {
    signedIn: { session, device, account },
    pinnedRoot,
    // Keys this device already held win: the first key kept for an epoch is never replaced.
    epochKeys: { ...Object.fromEntries(epochKeys), ...rest.knownEpochKeys },
    recordKeyFloor: rest.recordKeyFloor,
    ...(rest.revocationFloor ? { revocationFloor: rest.revocationFloor } : {}),
    practice: rest.practice,
    login: rest.login,
  };
}

/**
 * Activates a verified invitation: derives keys from the passphrase (which never leaves), makes the
 * account and device keys, signs the account key with the invitation key, uploads only public keys,
 * signatures and the sealed backup. Pins the root the invitation was verified against: no second lookup.
 * @throws PatientFlowError `unauthorized` (used invitation or wrong date of birth), `conflict`, `rate_limited`, `network`
 */
export function activate(input: { invitation: VerifiedInvitation; dateOfBirth: string; passphrase: string }): Promise<PatientKeys> {
  return flow(async () => {
    const { activatePatient } = await loadSdk();
    const activated = await activatePatient({ baseUrl: config.gatewayUrl, deviceLabel: deviceLabel(), ...input });
    return toPatientKeys(activated, { practice: input.invitation.practice, login: null, recordKeyFloor: 0 });
  });
}

/**
 * Signs in with the NHS number and passphrase. Every sign-in enrols this device again from the
 * passphrase backup: the root is pinned from the backup (never from the sign-in answer), the account
 * key the server lists is checked against it, and the epoch keys sealed to the account key are opened.
 * A known device keeps its epoch keys and record key floor and must find the same root in the backup.
 * @throws PatientFlowError `unauthorized` (unknown number or wrong passphrase), `wrong_passphrase`, `untrusted_account`, `rate_limited`, `network`
 */
export function signIn(input: { practice: string; login: string; passphrase: string; known?: PatientKeys | null }): Promise<PatientKeys> {
  return flow(async () => {
    const { signIn: sdkSignIn, isPatientSignedIn, equal } = await loadSdk();
    const sameAccount = input.known && input.known.practice === input.practice ? input.known : null;
    const attempt = (device?: PatientKeys['signedIn']['device']) =>
      sdkSignIn({ baseUrl: config.gatewayUrl, deviceLabel: deviceLabel(), practice: input.practice, login: input.login, passphrase: input.passphrase, device });
    let signedIn: Awaited<ReturnType<typeof attempt>>;
    try {
      signedIn = await attempt(sameAccount?.signedIn.device);
    } catch (error) {
      // This device was revoked while the page was closed (signed out everywhere, or "lost phone" from another device).
      // The gateway checks the passphrase before the device, so the credentials were right: enrol a new device instead
      // of refusing the patient for good. Only that refusal is retried: a wrong passphrase must count once, not twice.
      if (!sameAccount || !isRevokedDeviceRefusal(error)) throw error;
      signedIn = await attempt();
    }
    if (!isPatientSignedIn(signedIn)) throw new PatientFlowError('forbidden', 'this is not a patient account');
    const known = sameAccount && sameAccount.signedIn.session.user.id === signedIn.session.user.id ? sameAccount : null;
    if (known && !equal(known.pinnedRoot, signedIn.pinnedRoot))
      throw new PatientFlowError('untrusted_account', 'the key backup names another practice root key than this device pinned');
    return toPatientKeys(signedIn, {
      practice: input.practice,
      login: input.login,
      recordKeyFloor: known?.recordKeyFloor ?? 0,
      revocationFloor: known?.revocationFloor,
      knownEpochKeys: known?.epochKeys,
    });
  });
}

/** The gateway's refusal of a known device that was revoked (sign-in service: "This device is signed out for good"). */
function isRevokedDeviceRefusal(error: unknown): boolean {
  const { code, message } = error as { code?: string; message?: string };
  return code === 'unauthorized' && typeof message === 'string' && message.includes('signed out for good');
}

/** Whether the passphrase opens this patient's key backup (unlocking a vault kept before the device lock). @throws PatientFlowError `unauthorized`, `rate_limited`, `network` */
export function verifyPassphrase(keys: PatientKeys, passphrase: string): Promise<boolean> {
  return flow(async () => {
    const { verifyPatientPassphrase } = await loadSdk();
    return verifyPatientPassphrase({ baseUrl: config.gatewayUrl, token: keys.signedIn.session.token, userId: keys.signedIn.session.user.id, passphrase });
  });
}

/** What the device lock seals: the stored keys never open for another use of a lock. */
const DEVICE_LOCK_CONTEXT = 'patient-keys';

/**
 * The device lock the stored keys are sealed with (docs/crypto.md, "The device lock"): Argon2id over the
 * passphrase with this device's own salt, so a copy of the browser's storage does not open without the
 * passphrase. Without `kdf`, a new lock (sign-in, activation); with a stored lock's salt and cost, the same
 * key again (unlock). Takes about half a second and needs no network.
 * @throws PatientFlowError `invalid_payload` (a stored lock this app did not write)
 */
export function deviceLock(passphrase: string, kdf?: SecretLockKdf): Promise<SecretLock> {
  return flow(async () => {
    const { deriveDeviceLockKey } = await loadSdk();
    const derived = await deriveDeviceLockKey(passphrase, kdf);
    return SecretLock.fromKeyBytes(derived.key, derived.kdf, DEVICE_LOCK_CONTEXT);
  });
}

/** The practice's current terms and whether the patient must accept them. @throws PatientFlowError */
export async function termsStatus(token: string): Promise<TermsStatus> {
  return unwrap(await (await api(token)).getTerms());
}

/** Records the patient's consent to a version of the terms. @throws PatientFlowError `conflict` (a newer version exists) */
export async function acceptTerms(token: string, version: number): Promise<void> {
  unwrap(await (await api(token)).acceptTerms({ version }));
}

/** The practice's topics and phone number. @throws PatientFlowError */
export async function practiceSettings(token: string): Promise<PracticeSettings> {
  return unwrap(await (await api(token)).getPracticeSettings());
}

/** What the practice lets patients send: photos, PDFs, size limits, whether only when a clinician asks. @throws PatientFlowError */
export async function attachmentSettings(token: string): Promise<AttachmentSettings> {
  return unwrap(await (await api(token)).attachmentSettings());
}

/**
 * Ends this session on the server (best effort: the local wipe happens regardless). This device's push subscription
 * goes first, while the session can still name it (the gateway drops it with the device too).
 */
export async function signOut(token: string): Promise<void> {
  const http = await api(token);
  await http.deletePushSubscription().catch(() => undefined);
  await http.signOut().catch(() => undefined);
}

/** The gateway's VAPID public key (base64url), which this browser's push subscription must be made under. @throws PatientFlowError */
export async function vapidPublicKey(token: string): Promise<string> {
  return unwrap(await (await api(token)).vapidPublicKey()).publicKey;
}

/** Gives the gateway this device's push subscription (replacing the device's earlier one). @throws PatientFlowError `invalid_payload` */
export async function putPushSubscription(token: string, subscription: PushSubscriptionRequest): Promise<void> {
  unwrap(await (await api(token)).putPushSubscription(subscription));
}

/** Tells the gateway to push nothing more to this device. @throws PatientFlowError */
export async function deletePushSubscription(token: string): Promise<void> {
  unwrap(await (await api(token)).deletePushSubscription());
}

/** Which ways of telling the patient about a new message the practice offers (push always; text and e-mail if set up). @throws PatientFlowError */
export async function notificationChannels(token: string): Promise<NotificationChannels> {
  return unwrap(await (await api(token)).notificationChannels());
}

/** Keeps the patient's phone number or e-mail address for "you have a new message" texts or e-mails. @throws PatientFlowError `invalid_payload`, `forbidden` (not offered) */
export async function putNotificationContact(token: string, contact: NotificationContactRequest): Promise<void> {
  unwrap(await (await api(token)).putNotificationContact(contact));
}

/** Forgets the patient's phone number or e-mail address on the server. @throws PatientFlowError */
export async function deleteNotificationContact(token: string): Promise<void> {
  unwrap(await (await api(token)).deleteNotificationContact());
}

/** The patient's devices, revoked ones included, oldest first. @throws PatientFlowError */
export async function listDevices(token: string): Promise<DeviceInfo[]> {
  return unwrap(await (await api(token)).listDevices());
}

/** Signs out one of the patient's other devices for good (a lost phone): revoked on the server. @throws PatientFlowError */
export async function revokeDevice(token: string, deviceId: string): Promise<void> {
  unwrap(await (await api(token)).revokeDevice(deviceId));
}

/** Ends every session of the patient, on every device. @throws PatientFlowError */
export async function signOutEverywhere(token: string): Promise<void> {
  unwrap(await (await api(token)).signOutEverywhere());
}

/**
 * Opens the live, end-to-end encrypted session: one socket, an outbox kept in IndexedDB (queued
 * sends survive reloads), decrypted entries in memory only.
 * @throws PatientFlowError `unauthorized` (the session ended), `unreachable` (offline)
 */
export function startSession(
  keys: PatientKeys,
  db: WebDatabase | null,
  events: { onRecordKeyFloor: (version: number) => void; onRevocationFloor: (version: number) => void; onEpochKey: (id: string, key: Uint8Array) => void },
): Promise<ChatSession> {
  return flow(async () => {
    const { ChatSession, RevocationState } = await loadSdk();
    // The practice's root-signed revocation list: a device it names gets nothing sealed to it and nothing it sends after
    // its revocation is shown, whatever the server lists (docs/crypto.md, "Revocation lists").
    const revocations = new RevocationState({
      api: await api(keys.signedIn.session.token),
      practiceOdsCode: keys.signedIn.session.practice.odsCode,
      pinnedRoot: keys.pinnedRoot,
      // Kept in the vault: after a reload, a server can no more serve an older list than it could before.
      versionFloor: keys.revocationFloor ?? 0,
      onVersionFloor: events.onRevocationFloor,
    });
    return ChatSession.start({
      baseUrl: config.gatewayUrl,
      signedIn: keys.signedIn,
      pinnedRoot: keys.pinnedRoot,
      revocations,
      epochKeys: new Map(Object.entries(keys.epochKeys)),
      recordKeyFloor: keys.recordKeyFloor,
      onRecordKeyFloor: events.onRecordKeyFloor,
      onEpochKey: events.onEpochKey,
      outboxStore: db ? new IndexedDbOutboxStore(db, keys.signedIn.session.user.id) : undefined,
      requestTimeoutMs: 10_000,
    });
  });
}

/**
 * The sdk's one wording of a record system event, as the patient sees it (null when patients are not shown it).
 * Synchronous: a chat exists only on a live session, which loaded the sdk.
 */
export function describeForPatient(event: SystemEvent, wording: SystemEventWording): SystemEventLine | null {
  return loadedSdk?.describeSystemEvent(event, 'patient', wording) ?? null;
}

/** The practice's opening status, asked over the live connection. @throws PatientFlowError */
export async function hoursStatus(session: ChatSession): Promise<HoursStatus> {
  return unwrap(await session.client.request('hours:get', {}));
}

/** A neutral device name the patient sees in their device list (no personal detail). */
function deviceLabel(): string {
  const ua = navigator.userAgent;
  const platform = /Android/.test(ua)
    ? 'Android'
    : /iPhone|iPad/.test(ua)
      ? 'iPhone or iPad'
      : /Windows/.test(ua)
        ? 'Windows'
        : /Mac/.test(ua)
          ? 'Mac'
          : /Linux/.test(ua)
            ? 'Linux'
            : 'device';
  return `Web browser on ${platform}`;
}
