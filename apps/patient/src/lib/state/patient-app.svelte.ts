import type { ChatSession } from '@parley/sdk';
import type { ParleyConnectionError, ConnectionState } from '@parley/client';
import type { DeviceInfo, QueuePosition } from '@parley/protocol';
import { DeviceVault, IdleTimer, isLockedSecret, TabLock, WebDatabase, type LockedSecret, type SecretLock } from '@parley/web';
import { Chime } from '../chime';
import { config } from '../config';
import * as connection from '../connection';
import type { PatientKeys } from '../connection';
import { parseInvitationLink, type InvitationLink } from '../invitation-link';
import { isOpenConversationMessage, parseConversationLink } from '../notification-link';
import { unsubscribePush } from '../push-subscription';
import { contextPair } from '@parley/ui';
import { describeError } from './notices';

export type Screen = 'starting' | 'welcome' | 'activate' | 'sign-in' | 'terms' | 'home' | 'chat' | 'locked' | 'other-tab';

/** A message shown above the current screen: `error` is announced assertively. */
export interface Notice {
  kind: 'info' | 'error';
  text: string;
}

/**
 * Why Parley is locked: the patient pressed "Lock now", nobody used it for a while, the patient left with
 * quick exit, or the page was reloaded or opened again (a remembered device always starts locked).
 */
export type LockReason = 'patient' | 'idle' | 'quick-exit' | 'restart';

/**
 * The patient's answer about notifications on this device: `on` (they opted in: the session keeps the gateway told
 * of this browser's push subscription) or `declined` ("Not now", or turned off in Privacy and security: not asked
 * again). Null until asked.
 */
export type PushChoice = 'on' | 'declined';

/**
 * What the vault keeps (format 2): the keys and session sealed under the device lock, which only the passphrase
 * opens, and beside them the patient's choices on this device, which the locked screen needs before it is opened.
 */
interface VaultRecord {
  format: 2;
  sealedKeys: LockedSecret;
  idleLockMinutes: number;
  /** Why Parley was locked when the page closed (the locked screen says so again); null when it was in use. */
  lockedBecause: LockReason | null;
  isSoundOn: boolean;
  /** Absent in records kept before notifications (never asked). */
  pushChoice?: PushChoice | null;
}

/** A record kept before the device lock: the keys under the browser's own wrapping key only. Moved to format 2 at the next unlock. */
interface LegacyVaultRecord {
  keys: PatientKeys;
  idleLockMinutes: number;
  lockedBecause?: LockReason | null;
  isSoundOn?: boolean;
}

function isVaultRecord(record: VaultRecord | LegacyVaultRecord): record is VaultRecord {
  return 'format' in record && record.format === 2 && isLockedSecret(record.sealedKeys);
}

/** Lets the browser paint a busy state before the lock's key derivation holds the main thread for about half a second. */
function nextPaint(): Promise<void> {
  return new Promise((resolve) => {
    requestAnimationFrame(() => setTimeout(resolve, 0));
    setTimeout(resolve, 100);
  });
}

/** How long quick exit waits for the lock to be written before it leaves anyway (the screen is already blank). */
const QUICK_EXIT_SAVE_MS = 1_000;

/** Choices of the privacy lock, in minutes. */
export const IDLE_LOCK_CHOICES = [1, 2, 5, 10, 15] as const;

/**
 * The signed-in patient's app: which screen shows, the keys (in a vault: encrypted in IndexedDB or
 * memory only), the live session, the privacy lock and sign-out. Screens call its methods; it calls
 * `connection`. Decrypted messages live in ChatState, never here.
 */
export class PatientApp {
  screen = $state<Screen>('starting');
  notice = $state<Notice | null>(null);
  connectionState = $state<ConnectionState>('connecting');
  idleLockMinutes = $state(config.idleLockMinutes);
  displayName = $state('');
  isRemembered = $state(false);
  /** Why the locked screen shows (null while unlocked). */
  lockedBecause = $state<LockReason | null>(null);
  /** Whether a new message from the practice plays a short sound (the patient's choice, kept with the keys). */
  isSoundOn = $state(true);
  /** The patient's answer about notifications on this device (kept with the keys); null until asked. */
  pushChoice = $state<PushChoice | null>(null);
  /**
   * The conversation a tapped notification asked to show (its link, or a message from the service worker): the app
   * opens it once unlocked, if it is one of the patient's own. An id only, in memory only.
   */
  pendingConversationId = $state<string | null>(null);
  /** Whether this tab is in front: a message that arrives while it is hidden has not been shown. */
  isPageVisible = $state(document.visibilityState === 'visible');
  /** Bumped whenever a new live session starts, so screens reload what they show. */
  sessionGeneration = $state(0);
  /** The latest `queue:position` of each waiting conversation (facts can arrive before its chat screen shows). */
  queuePositions = $state.raw<Record<string, QueuePosition>>({});
  /** The conversation the chat screen shows. */
  openConversationId = $state<string | null>(null);

  /** The open keys and session: only while unlocked (dropped on lock, sign-out and reload). */
  keys = $state.raw<PatientKeys | null>(null);
  session = $state.raw<ChatSession | null>(null);
  private db: WebDatabase | null = null;
  private vault: DeviceVault<VaultRecord | LegacyVaultRecord> | null = null;
  /** The device lock (a non-extractable key derived from the passphrase), while unlocked: every store seals the keys with it. */
  private deviceLock: SecretLock | null = null;
  /** The keys as last sealed under the device lock: all that is kept while locked (in IndexedDB too when remembered). */
  private sealedKeys: LockedSecret | null = null;
  /** Keys from a vault kept before the device lock, while locked: the next unlock checks the passphrase and seals them. */
  private legacyKeys: PatientKeys | null = null;
  /** Vault writes, one after another: a lock's write must not be overtaken by an earlier, slower one. */
  private saving: Promise<void> = Promise.resolve();
  private readonly tabLock = new TabLock(config.connectionLockName);
  private idleTimer: IdleTimer | null = null;
  private retryTimer: ReturnType<typeof setTimeout> | null = null;
  private invitationLink: InvitationLink | null = null;
  private readonly chime = new Chime();

  /**
   * Opens the browser database and shows a remembered device's locked screen (only the passphrase opens the
   * keys it keeps), or the welcome screen, or (opened from an invitation link) the invitation step with the
   * practice and code filled in.
   */
  async boot(): Promise<void> {
    this.readInvitationLink();
    // A tapped notification while this window is open: the service worker asks it to show the conversation.
    navigator.serviceWorker?.addEventListener('message', (event: MessageEvent) => {
      if (isOpenConversationMessage(event.data)) this.pendingConversationId = event.data.conversationId;
    });
    document.addEventListener('visibilitychange', () => (this.isPageVisible = document.visibilityState === 'visible'));
    // Browsers let a page make sound only after the person has touched it: the first tap or key press allows the chime.
    for (const gesture of ['pointerdown', 'keydown'] as const) document.addEventListener(gesture, () => this.chime.unlock(), { capture: true });
    try {
      this.db = await WebDatabase.open(config.databaseName);
      this.vault = new DeviceVault<VaultRecord | LegacyVaultRecord>(this.db, 'patient');
    } catch {
      // Some private modes have no IndexedDB: the app still works, keeping keys in memory only.
      this.db = null;
    }
    const stored = await this.vault?.load().catch(() => null);
    if (stored && isVaultRecord(stored)) {
      // A reload or a reopened site: nothing of the patient shows, and nothing of theirs is open, until the passphrase.
      this.isRemembered = true;
      this.idleLockMinutes = stored.idleLockMinutes;
      this.isSoundOn = stored.isSoundOn;
      this.pushChoice = stored.pushChoice ?? null;
      this.sealedKeys = stored.sealedKeys;
      this.lockedBecause = stored.lockedBecause ?? 'restart';
      this.go('locked');
      return;
    }
    if (stored && !connection.isCurrentPatientKeys(stored.keys)) {
      // Kept by an older version, which also kept the account's secret key here: wipe it; the passphrase restores the rest.
      await this.wipe();
      this.go('sign-in', { kind: 'info', text: 'Parley has been updated. Please sign in again with your passphrase.' });
      return;
    }
    if (!stored) {
      this.screen = this.invitationLink ? 'activate' : 'welcome';
      return;
    }
    // Kept before the device lock: locked like any other, and sealed under the lock once the passphrase is checked.
    this.isRemembered = true;
    this.idleLockMinutes = stored.idleLockMinutes;
    this.isSoundOn = stored.isSoundOn ?? true;
    this.legacyKeys = stored.keys;
    this.lockedBecause = stored.lockedBecause ?? 'restart';
    this.go('locked');
  }

  /** Shows a screen and clears the notice unless asked to keep it. */
  go(screen: Screen, notice: Notice | null = null): void {
    this.notice = notice;
    this.screen = screen;
  }

  /** Reports a failure in plain words. */
  fail(code: string, serverMessage?: string): void {
    this.notice = { kind: 'error', text: describeError(code, serverMessage) };
  }

  /**
   * Keeps new keys (remembered or memory only) sealed under a new device lock derived from the passphrase, and
   * enters the app. Called after activation or sign-in, which have just used the passphrase.
   */
  async signedIn(keys: PatientKeys, remember: boolean, passphrase: string): Promise<void> {
    this.deviceLock = await connection.deviceLock(passphrase);
    this.legacyKeys = null;
    await this.store(keys, remember);
    await this.enter(keys);
  }

  /** The practice and code of the invitation link the page was opened with, once (the activation form takes them). */
  takeInvitationLink(): InvitationLink | null {
    const link = this.invitationLink;
    this.invitationLink = null;
    return link;
  }

  /** Changes the privacy lock delay and keeps the choice. */
  async setIdleLock(minutes: number): Promise<void> {
    this.idleLockMinutes = minutes;
    if (this.keys) await this.store(this.keys, this.isRemembered);
    this.startIdleTimer();
  }

  /** Turns the new-message sound on or off and keeps the choice on this device. */
  async setSound(isOn: boolean): Promise<void> {
    this.isSoundOn = isOn;
    if (isOn) this.chime.unlock();
    if (this.keys) await this.store(this.keys, this.isRemembered);
  }

  /** Keeps the patient's answer about notifications on this device. */
  async setPushChoice(choice: PushChoice): Promise<void> {
    this.pushChoice = choice;
    if (this.keys) await this.store(this.keys, this.isRemembered);
  }

  /** The conversation a tapped notification asked for, once: null when none is pending or it is not one of `conversationIds`. */
  takePendingConversation(conversationIds: readonly string[]): string | null {
    const id = this.pendingConversationId;
    if (!id || !conversationIds.includes(id)) return null;
    this.pendingConversationId = null;
    return id;
  }

  /** A message from the practice arrived that the patient has not seen: a short sound, if they want one. */
  announceNewMessage(): void {
    if (this.isSoundOn) this.chime.play();
  }

  /** The practice's terms were accepted: on to home. */
  termsAccepted(): void {
    this.go('home');
  }

  /** Opens a conversation's chat screen. */
  openChat(conversationId: string): void {
    this.openConversationId = conversationId;
    this.go('chat');
  }

  /** Back to the home screen. */
  goHome(): void {
    this.openConversationId = null;
    this.go('home');
  }

  /**
   * Leaves for a neutral page, replacing this one in the history so Back does not return. Signed in, it
   * locks first (the screen goes blank at once) and writes the lock to the vault, so reopening the site
   * shows the locked screen, never the patient's name or conversations.
   */
  async quickExit(): Promise<void> {
    if (this.keys) {
      const saved = this.lock('quick-exit');
      await Promise.race([saved, new Promise((resolve) => setTimeout(resolve, QUICK_EXIT_SAVE_MS))]);
    } else this.closeSession();
    window.location.replace(config.quickExitUrl);
  }

  /**
   * Privacy lock: closes the session, drops every decrypted message, the open keys and the device lock (only
   * the sealed keys stay, in memory and, when remembered, in the vault), and keeps the reason in the vault. A
   * reload asks for the passphrase in any case. `reason` says on the locked screen what happened.
   */
  async lock(reason: LockReason): Promise<void> {
    if (!this.keys || this.screen === 'locked') return;
    this.closeSession();
    this.idleTimer?.stop();
    this.openConversationId = null;
    this.lockedBecause = reason;
    this.go('locked');
    const saved = this.store(this.keys, this.isRemembered).catch(() => undefined);
    // The keys were sealed by the store just begun (and every change before it); what is open goes now.
    this.keys = null;
    this.deviceLock = null;
    this.displayName = '';
    await saved;
  }

  /**
   * Unlocks with the passphrase: derives the device lock again and opens the sealed keys, on this device
   * with no network. A vault kept before the device lock is checked against the patient's own encrypted
   * backup instead (online), then sealed under a new lock.
   */
  async unlock(passphrase: string): Promise<boolean> {
    if (!this.sealedKeys && !this.legacyKeys) return false;
    await nextPaint();
    let keys: PatientKeys;
    try {
      keys = this.sealedKeys ? await this.openSealedKeys(passphrase, this.sealedKeys) : await this.checkLegacyKeys(passphrase, this.legacyKeys!);
    } catch (error) {
      const code = (error as { code?: string }).code ?? 'internal';
      if (code === 'wrong_passphrase') this.fail('wrong_passphrase');
      else if (code === 'unauthorized' && this.legacyKeys) this.legacySessionEnded(this.legacyKeys);
      else if (code === 'invalid_payload') await this.unreadableVault();
      else this.fail(code);
      return false;
    }
    // An earlier wrong passphrase's error must not follow the patient into the app.
    this.notice = null;
    this.lockedBecause = null;
    await this.store(keys, this.isRemembered).catch(() => undefined);
    await this.enter(keys);
    return true;
  }

  /**
   * Signs out of this device: ends the session and revokes this device on the server (signing in again enrols a
   * new one), and wipes keys, queued sends and everything else this app stored here. From the locked screen
   * there is no open session to end: the keys are wiped, and the device can be revoked from another.
   */
  async signOut(notice: Notice | null = { kind: 'info', text: 'You have signed out. Nothing of yours is left on this device.' }): Promise<void> {
    const token = this.keys?.signedIn.session.token;
    this.closeSession();
    if (token) await connection.signOut(token);
    await this.wipe();
    this.go('welcome', notice);
  }

  /** The patient's other devices that are still signed in (for "Your devices"); this one is `keys.signedIn.device`. */
  async otherDevices(): Promise<DeviceInfo[]> {
    const keys = this.keys;
    if (!keys) return [];
    const devices = await connection.listDevices(keys.signedIn.session.token);
    return devices.filter((device) => device.revokedAt === null && device.id !== keys.signedIn.device.deviceId);
  }

  /**
   * Signs out another of the patient's devices for good (a lost or stolen phone): revoked on the server, then a new
   * epoch in each of the patient's open conversations, sealed without it, so it opens nothing written from now on
   * (docs/patient-client.md, "A lost phone"). Answers whether it was revoked; a renewal that fails now happens before
   * the patient's next send anyway.
   */
  async signOutDevice(device: Pick<DeviceInfo, 'id' | 'label'>): Promise<boolean> {
    const keys = this.keys;
    const session = this.session;
    if (!keys) return false;
    try {
      await connection.revokeDevice(keys.signedIn.session.token, device.id);
    } catch (error) {
      this.fail((error as { code?: string }).code ?? 'internal');
      return false;
    }
    const open = session ? (await session.listConversations().catch(() => [])).filter((conversation) => conversation.status !== 'closed') : [];
    const renewal =
      session && open.length > 0
        ? await session.renewEpochs(
            open.map((conversation) => conversation.id),
            'device-revoked',
          )
        : null;
    this.notice = {
      kind: 'info',
      text:
        renewal && renewal.failed.length > 0
          ? `${device.label} is signed out. Your conversations get new keys when you next write.`
          : `${device.label} is signed out. It cannot read anything you or the practice write from now on.`,
    };
    return true;
  }

  /** Ends every session of the patient (a lost or shared phone), then wipes this device. */
  async signOutEverywhere(): Promise<void> {
    const token = this.keys?.signedIn.session.token;
    if (!token) return;
    try {
      await connection.signOutEverywhere(token);
    } catch (error) {
      this.fail((error as { code?: string }).code ?? 'internal');
      return;
    }
    this.closeSession();
    await this.wipe();
    this.go('welcome', { kind: 'info', text: 'You have been signed out on every device. Nothing of yours is left on this device.' });
  }

  /** Whether the live connection is down: it failed to start, or dropped and is being retried. */
  get isOffline(): boolean {
    return this.connectionState === 'offline' || (this.connectionState === 'connecting' && this.session !== null);
  }

  /** The practice the stored keys belong to, to prefill sign-in. */
  get knownPractice(): string {
    return this.keys?.practice ?? '';
  }

  /** The NHS number the patient last signed in with on this device, to prefill sign-in. */
  get knownLogin(): string {
    return this.keys?.login ?? '';
  }

  /** The keys sealed under the device lock, opened with the passphrase; the lock is kept while unlocked. @throws wrong_passphrase, invalid_payload */
  private async openSealedKeys(passphrase: string, sealed: LockedSecret): Promise<PatientKeys> {
    const lock = await connection.deviceLock(passphrase, sealed.kdf);
    const keys = await lock.open<PatientKeys>(sealed);
    if (!connection.isCurrentPatientKeys(keys)) throw Object.assign(new Error('the sealed keys are not a patient record'), { code: 'invalid_payload' });
    this.deviceLock = lock;
    return keys;
  }

  /** A vault kept before the device lock: the passphrase must open the patient's backup; then the keys get a new lock. @throws wrong_passphrase, unauthorized, network */
  private async checkLegacyKeys(passphrase: string, keys: PatientKeys): Promise<PatientKeys> {
    if (!(await connection.verifyPassphrase(keys, passphrase))) throw Object.assign(new Error('wrong passphrase'), { code: 'wrong_passphrase' });
    this.deviceLock = await connection.deviceLock(passphrase);
    this.legacyKeys = null;
    return keys;
  }

  /** A vault kept before the device lock whose session ended: sign in again, this device's keys kept (the sign-in seals them). */
  private legacySessionEnded(keys: PatientKeys): void {
    this.keys = keys;
    this.legacyKeys = null;
    this.lockedBecause = null;
    this.sessionEnded();
  }

  /** What the vault holds cannot be opened by this app (not a lock it wrote): wipe it, never crash; the passphrase restores the rest. */
  private async unreadableVault(): Promise<void> {
    await this.wipe();
    this.go('sign-in', { kind: 'info', text: 'Parley could not open what it kept on this device. Please sign in again with your passphrase.' });
  }

  private async enter(keys: PatientKeys): Promise<void> {
    this.keys = keys;
    this.displayName = keys.signedIn.session.user.displayName;
    this.startIdleTimer();
    if (new Date(keys.signedIn.session.expiresAt).getTime() <= Date.now()) return this.sessionEnded();
    if (!(await this.tabLock.tryAcquire())) {
      this.go('other-tab');
      // Takes over as soon as the other tab closes.
      void this.tabLock.acquire().then(async (isHeld) => {
        if (isHeld && this.keys === keys) await this.enter(keys);
      });
      return;
    }
    try {
      const terms = await connection.termsStatus(keys.signedIn.session.token);
      this.go(terms.needsConsent ? 'terms' : 'home', this.notice);
    } catch (error) {
      const code = (error as { code?: string }).code ?? 'internal';
      if (code === 'unauthorized') return this.sessionEnded();
      // Offline: show home (with the offline state); the session retries in the background.
      this.go('home', this.notice);
    }
    await this.connect(keys);
  }

  /** Starts the live session, retrying while the gateway cannot be reached. */
  private async connect(keys: PatientKeys): Promise<void> {
    if (this.session || this.keys !== keys) return;
    // A retry after a dropped session takes the tab lock again (closeSession let it go).
    if (!(await this.tabLock.tryAcquire())) {
      this.go('other-tab');
      return;
    }
    this.connectionState = 'connecting';
    try {
      const session = await connection.startSession(keys, this.db, {
        onRecordKeyFloor: (version) => void this.raiseRecordKeyFloor(keys, version),
        onRevocationFloor: (version) => void this.raiseRevocationFloor(keys, version),
        onEpochKey: (id, key) => void this.keepEpochKey(keys, id, key),
      });
      if (this.keys !== keys || this.screen === 'locked') {
        void session.close();
        return;
      }
      this.session = session;
      this.connectionState = session.client.connectionState;
      // Only the live session speaks for the connection: a session closed by a lock or sign-out going "offline" is not the phone's signal.
      session.client.on('state-changed', (state) => this.session === session && (this.connectionState = state));
      session.client.on('stopped', (error: ParleyConnectionError) => this.onStopped(error));
      session.client.on('queue:position', (fact) => (this.queuePositions = { ...this.queuePositions, [fact.conversationId]: fact }));
      this.sessionGeneration += 1;
    } catch (error) {
      const code = (error as { code?: string }).code ?? 'internal';
      if (code === 'unauthorized') return this.sessionEnded();
      this.connectionState = 'offline';
      this.retryTimer = setTimeout(() => void this.connect(keys), 3_000);
    }
  }

  private onStopped(error: ParleyConnectionError): void {
    const reason = error.sessionEndedReason;
    // A practice-assisted recovery replaced the account key (flow B): what this device holds belongs to the old keys.
    if (reason === 'keys_changed') {
      this.closeSession();
      void this.wipe().then(() =>
        this.go('sign-in', { kind: 'info', text: 'Your keys changed: your practice recovered your account. Sign in again with your new passphrase.' }),
      );
      return;
    }
    // Signed out everywhere or this device revoked: nothing of the patient stays here.
    if (reason === 'signed_out' || reason === 'revoked' || reason === 'device_revoked') {
      this.closeSession();
      void this.wipe().then(() => this.go('welcome', { kind: 'info', text: 'You were signed out of this device. Nothing of yours is left on it.' }));
      return;
    }
    if (error.code === 'unauthorized' || error.code === 'session_ended') return this.sessionEnded();
    this.closeSession();
    this.connectionState = 'offline';
    if (this.keys) {
      const keys = this.keys;
      this.retryTimer = setTimeout(() => void this.connect(keys), 3_000);
    }
  }

  /** Remembers a higher record key version seen as current, so a server can never roll this device back to an older one. */
  private async raiseRecordKeyFloor(keys: PatientKeys, version: number): Promise<void> {
    if (version <= keys.recordKeyFloor || this.keys !== keys) return;
    // Changed in place: the live session and its retries are tied to this object.
    keys.recordKeyFloor = version;
    await this.store(keys, this.isRemembered).catch(() => undefined);
  }

  /** Remembers a higher revocation list version verified, so a server can never serve this device an older list, even after a reload. */
  private async raiseRevocationFloor(keys: PatientKeys, version: number): Promise<void> {
    if (version <= (keys.revocationFloor ?? 0) || this.keys !== keys) return;
    keys.revocationFloor = version;
    await this.store(keys, this.isRemembered).catch(() => undefined);
  }

  /** Keeps an epoch key the session opened, so the first key this device saw for an epoch is the one it uses after a reload too. */
  private async keepEpochKey(keys: PatientKeys, id: string, key: Uint8Array): Promise<void> {
    if (keys.epochKeys[id] || this.keys !== keys) return;
    keys.epochKeys[id] = key;
    await this.store(keys, this.isRemembered).catch(() => undefined);
  }

  /**
   * Takes an invitation link's practice and code, or a notification's conversation, from the fragment (which never
   * reached a server) and removes them from the address bar and the history entry, so the code is not left on screen
   * or in a bookmark.
   */
  private readInvitationLink(): void {
    this.invitationLink = parseInvitationLink(window.location.hash);
    this.pendingConversationId = parseConversationLink(window.location.hash);
    if (window.location.hash) history.replaceState(history.state, '', window.location.pathname + window.location.search);
  }

  /** The session expired: keep this device's keys, ask for the passphrase again. */
  private sessionEnded(): void {
    this.closeSession();
    this.go('sign-in', { kind: 'error', text: describeError('session_expired') });
  }

  private startIdleTimer(): void {
    this.idleTimer?.stop();
    this.idleTimer = new IdleTimer({ timeoutMs: this.idleLockMinutes * 60_000, onIdle: () => void this.lock('idle') });
    this.idleTimer.start();
  }

  private closeSession(): void {
    if (this.retryTimer !== null) clearTimeout(this.retryTimer);
    this.retryTimer = null;
    const session = this.session;
    this.session = null;
    // No session and none wanted yet: not "offline" (a session that ended must not say the phone has no signal).
    // A caller that retries says 'offline' itself.
    this.connectionState = 'connecting';
    if (session) void session.close();
    this.tabLock.release();
  }

  /**
   * Seals the keys under the device lock (synchronously begun, so a lock right after still seals every change)
   * and keeps them with the patient's choices: in IndexedDB when remembered, else in memory only. Without an
   * open lock (locked) the last sealed keys are kept again, with the choices of now.
   */
  private store(keys: PatientKeys, remember: boolean): Promise<void> {
    const lock = this.deviceLock;
    const sealing = lock ? lock.seal(keys) : null;
    this.keys = keys;
    this.isRemembered = remember && this.vault !== null;
    const write = async (): Promise<void> => {
      if (sealing) this.sealedKeys = await sealing;
      const sealedKeys = this.sealedKeys;
      // Without IndexedDB the sealed keys live in `this.sealedKeys` only, as with "don't remember this device".
      if (!this.vault || !sealedKeys) return;
      const record: VaultRecord = {
        format: 2,
        sealedKeys,
        idleLockMinutes: this.idleLockMinutes,
        lockedBecause: this.lockedBecause,
        isSoundOn: this.isSoundOn,
        pushChoice: this.pushChoice,
      };
      await this.vault.save(record, { remember });
    };
    const saved = this.saving.then(write);
    this.saving = saved.catch(() => undefined);
    return saved;
  }

  private async wipe(): Promise<void> {
    this.idleTimer?.stop();
    this.idleTimer = null;
    this.keys = null;
    this.deviceLock = null;
    this.sealedKeys = null;
    this.legacyKeys = null;
    this.displayName = '';
    this.isRemembered = false;
    this.lockedBecause = null;
    this.isSoundOn = true;
    this.pushChoice = null;
    this.openConversationId = null;
    this.pendingConversationId = null;
    // Whoever uses this browser next gets no notice of this patient's messages (the gateway forgot the subscription
    // when this device was signed out or revoked; the push service forgets it now).
    await unsubscribePush();
    await this.vault?.forget().catch(() => undefined);
    await this.db?.clearAll().catch(() => undefined);
  }
}

export const [setPatientApp, getPatientApp] = contextPair<PatientApp>('patient-app');
