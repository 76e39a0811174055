import { HttpApi } from '@parley/client';
import { checkPassphraseStrength, fingerprint, fromBase64, generatePassphrase, ready, type RecordKey, type SigningKeys } from '@parley/crypto';
import { PROTOCOL_VERSION, type PatientAccountKey } from '@parley/protocol';
import {
  AccountFlowError,
  activateStaff,
  ChatSession,
  createPatientInvitation,
  currentRoot,
  everydaySigner,
  isAccountKeyTrusted,
  openRecordKeys,
  practiceAuthority,
  RevocationState,
  rotateRecordKey,
  openStaffKeyBackup,
  sealStaffKeyBackup,
  signIn,
  type DeviceIdentity,
  type IssuedInvitation,
  type PracticeAdminKey,
  type PracticeAuthority,
  type RecordKeyRotation,
  type SignedIn,
  type SigningSecrets,
} from '@parley/sdk';
import type { SessionInfo } from '@parley/protocol';
import { DeviceVault, IndexedDbOutboxStore, WebDatabase } from '@parley/web';
import { config } from './config';

/** Asks the gateway which protocol version it speaks (no sign-in needed). @throws Error when it cannot be reached */
export async function checkGateway(): Promise<{ isCompatible: boolean; serverProtocol: number }> {
  const result = await new HttpApi({ baseUrl: config.gatewayUrl, timeoutMs: 5_000 }).version();
  if (!result.ok) throw new Error(result.error.code);
  return { isCompatible: result.data.protocolVersion === PROTOCOL_VERSION, serverProtocol: result.data.protocolVersion };
}

/** A generated six-word passphrase to offer when a member of staff chooses one. */
export async function suggestPassphrase(): Promise<string> {
  await ready();
  return generatePassphrase();
}

/**
 * Rotates the practice record key from this browser: a new version signed by the admin key it holds (or the root),
 * granted to every device the practice's authority vouches for, and opened here at once.
 * @throws AccountFlowError (`forbidden` when this browser holds neither key; the sdk's and the gateway's codes)
 */
export async function rotateRecordKeyHere(connection: StaffConnection): Promise<RecordKeyRotation> {
  const secrets = connection.practiceSecrets();
  if (!secrets) throw new AccountFlowError('forbidden', 'this browser holds neither the admin key nor the root key');
  const rotation = await rotateRecordKey({
    baseUrl: config.gatewayUrl,
    token: connection.signedIn.session.token,
    odsCode: connection.signedIn.session.practice.odsCode,
    signer: everydaySigner(secrets),
    anchor: connection.pinnedRoot,
    granter: connection.signedIn.device,
  });
  connection.addRecordKey(rotation.recordKey);
  return rotation;
}

/** Refuses a weak passphrase before anything is derived from it. @throws AccountFlowError `weak_passphrase` */
function requireStrongPassphrase(passphrase: string): void {
  if (!checkPassphraseStrength(passphrase).isAcceptable) throw new AccountFlowError('weak_passphrase', 'the passphrase is not strong enough');
}

/** The keys this browser holds for one staff login. */
export interface StoredStaffKeys {
  device: DeviceIdentity;
  /**
   * Pinned when this device was made (trust on first use, compared in person at admission) or from
   * the sealed part of the key backup file; never replaced by a later server answer.
   */
  pinnedRoot: Uint8Array;
  /** Managers: the practice root key, until it is exported to the offline file and removed (docs/crypto.md, "The root off the browser"). */
  root?: SigningKeys;
  /** Managers: the practice admin key, which signs everyday statements once the root is offline. */
  admin?: PracticeAdminKey;
}

/** Where this browser keeps staff keys, one entry per practice and login. */
export interface StaffKeyStore {
  get(odsCode: string, login: string): Promise<StoredStaffKeys | undefined>;
  /** `remember: false` ("a shared computer") keeps them in this page's memory only. */
  put(odsCode: string, login: string, keys: StoredStaffKeys, options: { remember: boolean }): Promise<void>;
  /** Replaces the keys of a login where they are kept now (this computer, or this page only). */
  replace(odsCode: string, login: string, keys: StoredStaffKeys): Promise<void>;
  delete(odsCode: string, login: string): Promise<void>;
  /** The practice codes and e-mail addresses whose keys this browser keeps (to prefill the sign-in form: not secret). */
  knownLogins(): Promise<{ practice: string; login: string }[]>;
}

const DATABASE_NAME = 'parley-staff';

/**
 * Keys at rest in `@parley/web`'s DeviceVault: AES-GCM under a non-extractable WebCrypto key kept in
 * this browser's IndexedDB (docs/crypto.md, "Staff device keys"). One vault slot holds every login
 * this browser knows, so two colleagues sharing a computer keep separate devices.
 */
class VaultStaffKeyStore implements StaffKeyStore {
  private vault: Promise<DeviceVault<Record<string, StoredStaffKeys>>> | undefined;
  /** Logins kept for this page only ("not my computer"): never written to IndexedDB. */
  private readonly memory = new Map<string, StoredStaffKeys>();

  async get(odsCode: string, login: string) {
    return this.memory.get(entryKey(odsCode, login)) ?? (await this.all())[entryKey(odsCode, login)];
  }

  async put(odsCode: string, login: string, keys: StoredStaffKeys, options: { remember: boolean }) {
    const key = entryKey(odsCode, login);
    const entries = { ...(await this.all()) };
    if (options.remember) {
      this.memory.delete(key);
      entries[key] = keys;
    } else {
      this.memory.set(key, keys);
      delete entries[key];
    }
    await this.store(entries);
  }

  async replace(odsCode: string, login: string, keys: StoredStaffKeys) {
    const key = entryKey(odsCode, login);
    if (this.memory.has(key)) return void this.memory.set(key, keys);
    await this.store({ ...(await this.all()), [key]: keys });
  }

  async delete(odsCode: string, login: string) {
    this.memory.delete(entryKey(odsCode, login));
    const entries = { ...(await this.all()) };
    delete entries[entryKey(odsCode, login)];
    await this.store(entries);
  }

  async knownLogins() {
    return Object.keys(await this.all()).map((key) => {
      const [practice = '', login = ''] = key.split('/');
      return { practice, login };
    });
  }

  private async store(entries: Record<string, StoredStaffKeys>): Promise<void> {
    const vault = await this.open();
    if (Object.keys(entries).length === 0) await vault.forget();
    else await vault.save(entries, { remember: true });
  }

  private async all(): Promise<Record<string, StoredStaffKeys>> {
    return (await (await this.open()).load()) ?? {};
  }

  private open(): Promise<DeviceVault<Record<string, StoredStaffKeys>>> {
    this.vault ??= database().then((db) => new DeviceVault<Record<string, StoredStaffKeys>>(db, 'staff'));
    return this.vault;
  }
}

let opened: Promise<WebDatabase> | undefined;
/** The app's one IndexedDB database (its own name: the patient app on the same origin must not share it). */
const database = (): Promise<WebDatabase> => (opened ??= WebDatabase.open(DATABASE_NAME));

const entryKey = (odsCode: string, login: string) => `${odsCode}/${login.toLowerCase()}`;

const keyStore: StaffKeyStore = new VaultStaffKeyStore();

/**
 * The signed-in session, kept so that reloading the page does not sign the person out (issue #14): the
 * server session (token) and which login it is, whether the console was locked, and the passphrase check
 * the idle lock uses. Stored in its own DeviceVault slot next to the keys (AES-GCM under a non-extractable
 * WebCrypto key) when the person keeps their keys on this computer, else in this page's memory only.
 */
export interface KeptSession {
  practice: string;
  login: string;
  session: SessionInfo;
  /** Locked by the idle timer: a reload keeps it locked. */
  isLocked: boolean;
  /** Wrong passphrases on the lock screen since it locked (kept, so a reload does not reset the count). */
  failedUnlocks: number;
  /**
   * The device keys sealed under the passphrase (a key backup without the root key): unlocking opens it, so
   * the passphrase is checked here, without a new sign-in. Whoever could read it could already use the keys.
   */
  passphraseCheck: string;
}

let sessionVault: Promise<DeviceVault<KeptSession>> | undefined;
const keptSessions = (): Promise<DeviceVault<KeptSession>> => (sessionVault ??= database().then((db) => new DeviceVault<KeptSession>(db, 'staff-session')));

/** The session a reload left, or null (none, or it no longer decrypts). */
export async function loadKeptSession(): Promise<KeptSession | null> {
  try {
    return await (await keptSessions()).load();
  } catch {
    return null;
  }
}

/** Keeps the signed-in session for a reload; `remember: false` keeps it in this page only. */
export async function keepSession(connection: StaffConnection, passphrase: string, remember: boolean): Promise<KeptSession> {
  const passphraseCheck = await sealStaffKeyBackup({
    odsCode: connection.practice,
    login: connection.login,
    userId: connection.signedIn.session.user.id,
    device: connection.signedIn.device,
    pinnedRoot: currentRoot(connection.pinnedRoot),
    passphrase,
  });
  const kept: KeptSession = {
    practice: connection.practice,
    login: connection.login,
    session: connection.signedIn.session,
    isLocked: false,
    failedUnlocks: 0,
    passphraseCheck,
  };
  await (await keptSessions()).save(kept, { remember });
  return kept;
}

/** Changes whether the kept session is locked (a reload of a locked console stays locked) and the wrong passphrases counted. */
export async function updateKeptSession(kept: KeptSession, changes: Partial<Pick<KeptSession, 'isLocked' | 'failedUnlocks'>>): Promise<KeptSession> {
  const vault = await keptSessions();
  const next = { ...kept, ...changes };
  await vault.save(next, { remember: vault.isRemembered });
  return next;
}

/** Wipes the kept session (sign-out, or a session the server ended); this computer's keys stay as the person chose. */
export async function dropKeptSession(): Promise<void> {
  await (await keptSessions()).forget();
}

/** Whether the passphrase opens the kept session's check (the idle lock). */
export async function isUnlockPassphrase(kept: KeptSession, passphrase: string): Promise<boolean> {
  await ready();
  try {
    await openStaffKeyBackup(kept.passphraseCheck, passphrase);
    return true;
  } catch {
    return false;
  }
}

/** Ends a kept session on the server that no page has open (sign-out from the lock screen); best effort. */
export async function signOutKept(kept: KeptSession): Promise<void> {
  await new HttpApi({ baseUrl: config.gatewayUrl, token: kept.session.token }).signOut().catch(() => undefined);
}

/** The practice code and e-mail address to prefill the sign-in form with: the one login whose keys this browser keeps. */
export async function knownLogin(): Promise<{ practice: string; login: string } | null> {
  const logins = await keyStore.knownLogins().catch(() => []);
  return logins.length === 1 ? logins[0]! : null;
}

/**
 * Opens the kept session again (after a reload or an unlock): the same server session and this browser's
 * keys for the login, no passphrase. @throws AccountFlowError `unauthorized` (the keys are gone, or the server ended the session)
 */
export async function resumeStaff(kept: KeptSession): Promise<StaffConnection> {
  await ready();
  const stored = await keyStore.get(kept.practice, kept.login);
  if (!stored || new Date(kept.session.expiresAt).getTime() <= Date.now()) throw new AccountFlowError('unauthorized', 'the kept session cannot be resumed');
  return open(kept.practice, kept.login, { session: kept.session, device: stored.device }, stored);
}

/** A signed-in member of staff: the live session, and the keys this device could open. */
export interface StaffConnection {
  /** The practice code and e-mail address it signed in with. */
  practice: string;
  login: string;
  signedIn: SignedIn;
  chat: ChatSession;
  api: HttpApi;
  /**
   * What this browser's trust checks take: the practice's authority resolved from the root it pinned (the
   * current root reached through verified successors, and the admin keys that root certified). Refreshed
   * by `refreshAuthority`; a new root reached that way is pinned in this browser's keys.
   */
  readonly pinnedRoot: PracticeAuthority;
  /** The fingerprint of the current root (the practice security code). */
  readonly rootFingerprint: string;
  deviceFingerprint: string;
  /** Record key versions this device was granted (empty until a manager admits the device); the chat session reads the same map. */
  recordKeys: ReadonlyMap<number, RecordKey>;
  /** Managers with the root key in this browser: rotating the root and certifying admin keys need it. */
  readonly root?: SigningKeys;
  /** Managers with the practice admin key in this browser: it signs everyday statements. */
  readonly admin?: PracticeAdminKey;
  /**
   * Opens grants that arrived since sign-in (after a manager admitted this device, or a rotation). Answers
   * how many versions it holds, or `untrusted_root` when a grant does not chain to the root this device
   * pinned (the root it was given at set-up was not the practice's, or a grant is forged).
   */
  refreshRecordKeys(): Promise<number | 'untrusted_root'>;
  /** Managers holding the admin key or the root key: the secrets the sdk's admission and rotation flows take. */
  practiceSecrets(): SigningSecrets | null;
  /**
   * Fetches the practice's keys and resolves its authority again from the pinned root (after a rotation by
   * this or another manager); a successor reached through the old root's signature is pinned from then on.
   */
  refreshAuthority(): Promise<PracticeAuthority>;
  /**
   * Replaces the practice keys this browser holds (`root: null` removes the root: it went to the offline file),
   * keeps them where the keys are kept, and resolves the authority again.
   */
  holdPracticeKeys(changes: { root?: SigningKeys | null; admin?: PracticeAdminKey }): Promise<void>;
  /**
   * Invites a patient from this device (which a manager must have admitted): the code is made here and
   * never sent; it exists only in the answer, to be shown once.
   * @throws AccountFlowError (`forbidden` for a device not admitted yet, `conflict` for a registered NHS number …)
   */
  invitePatient(patient: { displayName: string; nhsNumber: string; dateOfBirth: string }): Promise<IssuedInvitation>;
  /** Whether a patient's account key chains, through their invitation, to the root this device pinned. */
  isPatientTrusted(account: PatientAccountKey | null): boolean;
  /** Adds a record key version this browser made (a rotation), so it can read what is sealed to it at once. */
  addRecordKey(key: RecordKey): void;
  /** A call to one of the gateway's management routes that `HttpApi` has no method for yet. */
  request<T>(method: 'GET' | 'POST' | 'PUT' | 'DELETE', path: string, body?: unknown): Promise<AdminResult<T>>;
  /**
   * Seals this device's keys (and the root and admin keys, if held) under the passphrase, for the person to keep as a
   * file (format 4: its own salt and cost). @throws AccountFlowError `weak_passphrase` (checked before any derivation)
   */
  exportKeyBackup(passphrase: string): Promise<string>;
  /** Removes this login's keys from this browser (its device was revoked: they are useless now). */
  forgetKeys(): Promise<void>;
  close(): Promise<void>;
}

/** What a management route answered: its data, or the gateway's error code. */
export type AdminResult<T> = { ok: true; data: T } | { ok: false; error: { code: string; message: string } };

/**
 * First sign-in with the one-time set-up code a manager gave: makes this device's keys, pins the
 * practice root key the server names now, and keeps both here. This is the one place a staff client
 * trusts on first use: the console shows the practice security code (the pinned root's fingerprint)
 * until a manager admits the device, for the person to compare with their manager's screen.
 * @throws AccountFlowError (`weak_passphrase`, checked before any derivation; `unauthorized` for a wrong or used code …)
 */
export async function activateStaffAccount(input: {
  practice: string;
  login: string;
  code: string;
  passphrase: string;
  remember: boolean;
}): Promise<StaffConnection> {
  await ready();
  requireStrongPassphrase(input.passphrase);
  const practice = input.practice.trim().toUpperCase();
  const signedIn = await activateStaff({
    baseUrl: config.gatewayUrl,
    practice,
    code: input.code.trim(),
    passphrase: input.passphrase,
    deviceLabel: browserLabel(),
  });
  const stored = await newDeviceKeys(new HttpApi({ baseUrl: config.gatewayUrl, token: signedIn.session.token }), signedIn);
  await keyStore.put(practice, input.login.trim(), stored, { remember: input.remember });
  return open(practice, input.login.trim(), signedIn, stored);
}

/**
 * Signs a member of staff in with their passphrase: on the device a key backup file restores, on the
 * device this browser already holds, or on a new device (which a manager must admit before it can
 * read conversations). Opens the record keys granted to the device and starts the chat session.
 * @throws AccountFlowError (`unauthorized`, `wrong_passphrase`, `invalid_payload`, `rate_limited` …)
 */
export async function connectStaff(input: {
  practice: string;
  login: string;
  passphrase: string;
  keyBackup?: string;
  remember: boolean;
}): Promise<StaffConnection> {
  await ready();
  const practice = input.practice.trim().toUpperCase();
  const login = input.login.trim();
  let stored = await keyStore.get(practice, login);
  if (input.keyBackup !== undefined) {
    const backup = await openStaffKeyBackup(input.keyBackup, input.passphrase);
    if (backup.odsCode !== practice || backup.login.toLowerCase() !== login.toLowerCase()) {
      throw new AccountFlowError('invalid_payload', 'this key backup file belongs to another sign-in');
    }
    stored = {
      device: backup.device,
      pinnedRoot: backup.pinnedRoot,
      ...(backup.root ? { root: backup.root } : {}),
      ...(backup.admin ? { admin: backup.admin } : {}),
    };
  }
  const signedIn = await signIn({
    baseUrl: config.gatewayUrl,
    practice,
    login,
    passphrase: input.passphrase,
    deviceLabel: browserLabel(),
    device: stored?.device,
  });
  const api = new HttpApi({ baseUrl: config.gatewayUrl, token: signedIn.session.token });
  if (!stored) {
    // A brand-new device (no key file) is a new device, as at set-up.
    stored = await newDeviceKeys(api, signedIn);
  }
  await keyStore.put(practice, login, stored, { remember: input.remember });
  return open(practice, login, signedIn, stored);
}

/**
 * A new staff device's keys: its own, and the root the server names now, pinned once (trust on first use)
 * and shown as the practice security code until a manager admits the device, to compare with their screen.
 * @throws AccountFlowError when the practice has no root key yet
 */
async function newDeviceKeys(api: HttpApi, signedIn: SignedIn): Promise<StoredStaffKeys> {
  const keys = await api.getPracticeKeys();
  if (!keys.ok || !keys.data.rootSignPublicKey) throw new AccountFlowError(keys.ok ? 'conflict' : keys.error.code, 'the practice has no root key yet');
  return { device: signedIn.device, pinnedRoot: fromBase64(keys.data.rootSignPublicKey) };
}

async function open(practice: string, login: string, signedIn: SignedIn, stored: StoredStaffKeys): Promise<StaffConnection> {
  const token = signedIn.session.token;
  const api = new HttpApi({ baseUrl: config.gatewayUrl, token });
  let held = stored;
  let authority: PracticeAuthority = { root: held.pinnedRoot, retiredRoots: [], adminKeys: [] };
  const refreshAuthority = async (): Promise<PracticeAuthority> => {
    const keys = await api.getPracticeKeys();
    // Without an answer the authority stays what it was: a denial, never a key accepted.
    if (!keys.ok) return authority;
    authority = practiceAuthority(keys.data, practice, held.pinnedRoot);
    if (!equalKeys(authority.root, held.pinnedRoot)) {
      // Reached only through the old root's signature: pin it, so a server that later hides the chain cannot bring the retired root back.
      held = { ...held, pinnedRoot: authority.root };
      await keyStore.replace(practice, login, held);
    }
    return authority;
  };
  await refreshAuthority();
  // One map, shared with the chat session, so keys opened later are used at once.
  const recordKeys = new Map<number, RecordKey>();
  const refreshRecordKeys = async (): Promise<number | 'untrusted_root'> => {
    let opened: Map<number, RecordKey>;
    try {
      opened = await openRecordKeys({ baseUrl: config.gatewayUrl, token, odsCode: practice, device: signedIn.device, pinnedRoot: authority });
    } catch (error) {
      // A grant whose granter or record key does not verify under the pinned root: never "not admitted yet", which would hide it.
      const code = (error as { code?: string }).code;
      if (code === 'untrusted_granter' || code === 'bad_certificate' || code === 'bad_signature') return 'untrusted_root';
      opened = new Map();
    }
    for (const [version, key] of opened) recordKeys.set(version, key);
    return recordKeys.size;
  };
  await refreshRecordKeys();
  // Pending sends (ciphertext only) survive a reload; decrypted history never touches the disk, so feed cursors stay in memory.
  const outboxStore = new IndexedDbOutboxStore(await database(), signedIn.session.user.id);
  const chat = await ChatSession.start({
    baseUrl: config.gatewayUrl,
    signedIn,
    pinnedRoot: held.pinnedRoot,
    recordKeys,
    // The practice's signed revocation list: nothing a listed device sent after its revocation is shown (docs/crypto.md).
    revocations: new RevocationState({ api, practiceOdsCode: practice, pinnedRoot: held.pinnedRoot }),
    outboxStore,
    requestTimeoutMs: 10_000,
  });
  return {
    practice,
    login,
    signedIn,
    chat,
    api,
    get pinnedRoot() {
      return authority;
    },
    get rootFingerprint() {
      return fingerprint(authority.root);
    },
    deviceFingerprint: fingerprint(signedIn.device.keys.signPublicKey),
    recordKeys,
    get root() {
      return held.root;
    },
    get admin() {
      return held.admin;
    },
    refreshRecordKeys,
    refreshAuthority,
    practiceSecrets: () =>
      held.root || held.admin
        ? { odsCode: practice, ...(held.root ? { root: held.root } : {}), ...(held.admin ? { admin: held.admin } : {}), recordKeys: [...recordKeys.values()] }
        : null,
    holdPracticeKeys: async (changes) => {
      const { root: _root, ...withoutRoot } = held;
      held = {
        ...(changes.root === null ? withoutRoot : held),
        ...(changes.root ? { root: changes.root } : {}),
        ...(changes.admin ? { admin: changes.admin } : {}),
      };
      await keyStore.replace(practice, login, held);
      await refreshAuthority();
    },
    // A new invitation's S_root names the current root: the patient pins that one.
    invitePatient: (patient) =>
      createPatientInvitation({ baseUrl: config.gatewayUrl, token, practice, device: signedIn.device, pinnedRoot: authority.root, patient }),
    isPatientTrusted: (account) => account !== null && isAccountKeyTrusted(account, practice, authority.root),
    addRecordKey: (key) => void recordKeys.set(key.version, key),
    request: (method, path, body) => adminRequest(token, method, path, body),
    exportKeyBackup: async (passphrase) => {
      // The file can hold the practice root key: never sealed under a weak passphrase, even one chosen before the check existed.
      requireStrongPassphrase(passphrase);
      return sealStaffKeyBackup({
        odsCode: practice,
        login,
        userId: signedIn.session.user.id,
        device: signedIn.device,
        pinnedRoot: held.pinnedRoot,
        ...(held.root ? { root: held.root } : {}),
        ...(held.admin ? { admin: held.admin } : {}),
        passphrase,
      });
    },
    forgetKeys: () => keyStore.delete(practice, login),
    close: async () => {
      await chat.close();
      await api.signOut();
    },
  };
}

async function adminRequest<T>(token: string, method: string, path: string, body?: unknown): Promise<AdminResult<T>> {
  try {
    const response = await fetch(`${config.gatewayUrl}${path}`, {
      method,
      headers: { accept: 'application/json', authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.timeout(15_000),
    });
    const text = await response.text();
    const parsed = text ? (JSON.parse(text) as unknown) : null;
    if (response.ok) return { ok: true, data: parsed as T };
    const error = (parsed as { error?: { code?: string; message?: string } } | null)?.error;
    return { ok: false, error: { code: error?.code ?? 'internal', message: error?.message ?? `HTTP ${response.status}` } };
  } catch {
    return { ok: false, error: { code: 'network', message: 'the gateway could not be reached' } };
  }
}

function browserLabel(): string {
  return `Browser (${navigator.platform || 'unknown'})`;
}

function equalKeys(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((byte, index) => byte === b[index]);
}
