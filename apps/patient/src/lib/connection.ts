// The one module that composes @parley/client, @parley/crypto and @parley/sdk for the patient.
// They are imported lazily (dynamic import), so the first screen ships without libsodium's
// WebAssembly: it loads only when a crypto flow starts (activation, sign-in, a remembered device).
import type { ChatSession, SignedIn } from '@parley/sdk';
import type { HoursStatus, InvitationDetails, PracticeSettings, TermsStatus } from '@parley/protocol';
import { IndexedDbOutboxStore, type WebDatabase } from '@parley/web';
import { config } from './config';

// zod, under @parley/protocol, compiles no parsers with eval in a browser (the CSP's Trusted Types
// forbid it): @parley/protocol says "jitless" before any schema parses.
const loadClient = () => import('@parley/client');
const loadSdk = () => import('@parley/sdk');
const loadCrypto = () => import('@parley/crypto');

/** A failed step, with the code the screens turn into words (`unauthorized`, `network`, `wrong_passphrase`, `outside_hours` …). */
export class PatientFlowError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = 'PatientFlowError';
  }
}

/** Turns any failure of the sdk or the client into a PatientFlowError. */
function asFlowError(error: unknown): PatientFlowError {
  if (error instanceof PatientFlowError) return error;
  const code = typeof error === 'object' && error !== null && 'code' in error && typeof error.code === 'string' ? error.code : 'internal';
  return new PatientFlowError(code, error instanceof Error ? error.message : 'something went wrong');
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

function unwrap<T>(result: { ok: true; data: T } | { ok: false; error: { code: string; message: string } }): T {
  if (result.ok) return result.data;
  throw new PatientFlowError(result.error.code, result.error.message);
}

/** Asks the gateway which protocol version it speaks (no sign-in needed). @throws Error when it cannot be reached */
export async function checkGateway(): Promise<{ isCompatible: boolean; serverProtocol: number }> {
  const [http, { PROTOCOL_VERSION }] = await Promise.all([api(), import('@parley/protocol')]);
  const result = await http.version();
  if (!result.ok) throw new Error(result.error.code);
  return { isCompatible: result.data.protocolVersion === PROTOCOL_VERSION, serverProtocol: result.data.protocolVersion };
}

/** Checks an invitation before the patient chooses a passphrase. @throws PatientFlowError `unauthorized` (wrong, used or expired code or date of birth), `rate_limited`, `network` */
export async function lookUpInvitation(input: { practice: string; code: string; dateOfBirth: string }): Promise<InvitationDetails> {
  const details = unwrap(await (await api()).lookUpInvitation(input));
  if (details.kind !== 'patient') throw new PatientFlowError('unauthorized', 'this is a staff set-up code');
  return details;
}

/** A generated six-word passphrase (loads the crypto library). */
export async function suggestPassphrase(): Promise<string> {
  const crypto = await loadCrypto();
  await crypto.ready();
  return crypto.generatePassphrase();
}

/** The practice security code (the root key's 40-digit fingerprint) the patient compares with their invitation. */
export async function practiceSecurityCode(rootSignPublicKey: string): Promise<string> {
  const crypto = await loadCrypto();
  await crypto.ready();
  return crypto.fingerprint(crypto.fromBase64(rootSignPublicKey));
}

/** Starts loading the crypto library in the background (the passphrase step will need it). */
export function preloadCrypto(): void {
  void loadSdk();
}

/** Offline strength verdict for a passphrase. */
export async function passphraseStrength(phrase: string) {
  const crypto = await loadCrypto();
  return crypto.checkPassphraseStrength(phrase);
}

/** What this browser keeps (encrypted, or in memory only) for a signed-in patient. */
export interface PatientKeys {
  signedIn: SignedIn;
  /** The practice root key pinned at activation (from the invitation) or at sign-in. */
  pinnedRoot: Uint8Array;
  practice: string;
  /** The NHS number, once the patient signed in with it (activation does not ask for it). */
  login: string | null;
}

/**
 * Activates an invitation: derives keys from the passphrase (which never leaves), makes the account and device keys, uploads only public keys and the sealed backup.
 * @throws PatientFlowError `unauthorized` (wrong or expired code or date of birth), `conflict` (already used), `rate_limited`, `network`
 */
export function activate(input: { practice: string; code: string; dateOfBirth: string; passphrase: string }): Promise<PatientKeys> {
  return flow(async () => {
    const { activatePatient } = await loadSdk();
    const { fromBase64 } = await loadCrypto();
    const activated = await activatePatient({ baseUrl: config.gatewayUrl, deviceLabel: deviceLabel(), ...input });
    const root = activated.invitation.practice.rootSignPublicKey;
    if (!root) throw new PatientFlowError('not_ready', 'the practice has not finished setting up secure messaging');
    const { invitation: _invitation, ...signedIn } = activated;
    return { signedIn, pinnedRoot: fromBase64(root), practice: input.practice, login: null };
  });
}

/**
 * Signs in with the NHS number and passphrase; on a new device the account key is restored from the encrypted backup.
 * @throws PatientFlowError `unauthorized` (unknown number or wrong passphrase), `wrong_passphrase`, `rate_limited`, `network`
 */
export function signIn(input: { practice: string; login: string; passphrase: string; known?: PatientKeys | null }): Promise<PatientKeys> {
  return flow(async () => {
    const { signIn: sdkSignIn } = await loadSdk();
    const { fromBase64 } = await loadCrypto();
    const sameAccount = input.known && input.known.practice === input.practice ? input.known : null;
    const signedIn = await sdkSignIn({
      baseUrl: config.gatewayUrl,
      deviceLabel: deviceLabel(),
      practice: input.practice,
      login: input.login,
      passphrase: input.passphrase,
      device: sameAccount?.signedIn.device,
    });
    // A known device keeps the root it pinned; a new one pins what the server names (trust on first use, docs/patient-client.md).
    const root = sameAccount?.pinnedRoot ?? (signedIn.session.practice.rootSignPublicKey ? fromBase64(signedIn.session.practice.rootSignPublicKey) : null);
    if (!root) throw new PatientFlowError('not_ready', 'the practice has not finished setting up secure messaging');
    return { signedIn, pinnedRoot: root, practice: input.practice, login: input.login };
  });
}

/** Whether the passphrase opens this patient's key backup (privacy unlock). @throws PatientFlowError `unauthorized`, `rate_limited`, `network` */
export function verifyPassphrase(keys: PatientKeys, passphrase: string): Promise<boolean> {
  return flow(async () => {
    const { verifyPatientPassphrase } = await loadSdk();
    return verifyPatientPassphrase({ baseUrl: config.gatewayUrl, token: keys.signedIn.session.token, userId: keys.signedIn.session.user.id, passphrase });
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

/** Ends this session on the server (best effort: the local wipe happens regardless). */
export async function signOut(token: string): Promise<void> {
  await (await api(token)).signOut().catch(() => undefined);
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
export function startSession(keys: PatientKeys, db: WebDatabase | null, onOutboxChange: () => void): Promise<ChatSession> {
  return flow(async () => {
    const { ChatSession } = await loadSdk();
    return ChatSession.start({
      baseUrl: config.gatewayUrl,
      signedIn: keys.signedIn,
      pinnedRoot: keys.pinnedRoot,
      outboxStore: db ? new IndexedDbOutboxStore(db, keys.signedIn.session.user.id) : undefined,
      requestTimeoutMs: 10_000,
      onOutboxChange,
    });
  });
}

/** The practice's opening status, asked over the live connection. @throws PatientFlowError */
export async function hoursStatus(session: ChatSession): Promise<HoursStatus> {
  return unwrap(await session.client.request('hours:get', {}));
}

/** A neutral device name the patient sees in their device list (no personal detail). */
function deviceLabel(): string {
  const ua = navigator.userAgent;
  const platform = /Android/.test(ua) ? 'Android' : /iPhone|iPad/.test(ua) ? 'iPhone or iPad' : /Windows/.test(ua) ? 'Windows' : /Mac/.test(ua) ? 'Mac' : /Linux/.test(ua) ? 'Linux' : 'device';
  return `Web browser on ${platform}`;
}
