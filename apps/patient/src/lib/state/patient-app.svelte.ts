import type { ChatSession } from '@parley/sdk';
import type { ParleyConnectionError, ConnectionState } from '@parley/client';
import type { QueuePosition } from '@parley/protocol';
import { DeviceVault, IdleTimer, TabLock, WebDatabase } from '@parley/web';
import { Chime } from '../chime';
import { config } from '../config';
import * as connection from '../connection';
import type { PatientKeys } from '../connection';
import { parseInvitationLink, type InvitationLink } from '../invitation-link';
import { contextPair } from '@parley/ui';
import { describeError } from './notices';

export type Screen = 'starting' | 'welcome' | 'activate' | 'sign-in' | 'terms' | 'home' | 'chat' | 'locked' | 'other-tab';

/** A message shown above the current screen: `error` is announced assertively. */
export interface Notice {
  kind: 'info' | 'error';
  text: string;
}

/** Why Parley is locked: the patient pressed "Lock now", nobody used it for a while, or the patient left with quick exit. */
export type LockReason = 'patient' | 'idle' | 'quick-exit';

/** What the vault keeps: the keys and session, and the patient's choices on this device. */
interface VaultRecord {
  keys: PatientKeys;
  idleLockMinutes: number;
  /** Whether Parley is locked (a reload or a reopened site must show the lock, not the patient's name); absent in older records. */
  lockedBecause?: LockReason | null;
  /** Whether a new message plays a sound; absent in older records (on). */
  isSoundOn?: boolean;
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
  /** Whether this tab is in front: a message that arrives while it is hidden has not been shown. */
  isPageVisible = $state(document.visibilityState === 'visible');
  /** Bumped whenever a new live session starts, so screens reload what they show. */
  sessionGeneration = $state(0);
  /** The latest `queue:position` of each waiting conversation (facts can arrive before its chat screen shows). */
  queuePositions = $state.raw<Record<string, QueuePosition>>({});
  /** The conversation the chat screen shows. */
  openConversationId = $state<string | null>(null);

  keys = $state.raw<PatientKeys | null>(null);
  session = $state.raw<ChatSession | null>(null);
  private db: WebDatabase | null = null;
  private vault: DeviceVault<VaultRecord> | null = null;
  private readonly tabLock = new TabLock(config.connectionLockName);
  private idleTimer: IdleTimer | null = null;
  private retryTimer: ReturnType<typeof setTimeout> | null = null;
  private invitationLink: InvitationLink | null = null;
  private readonly chime = new Chime();

  /**
   * Opens the browser database and resumes a remembered device, or shows the welcome screen, or (opened
   * from an invitation link) the invitation step with the practice and code filled in.
   */
  async boot(): Promise<void> {
    this.readInvitationLink();
    document.addEventListener('visibilitychange', () => (this.isPageVisible = document.visibilityState === 'visible'));
    // Browsers let a page make sound only after the person has touched it: the first tap or key press allows the chime.
    for (const gesture of ['pointerdown', 'keydown'] as const) document.addEventListener(gesture, () => this.chime.unlock(), { capture: true });
    try {
      this.db = await WebDatabase.open(config.databaseName);
      this.vault = new DeviceVault<VaultRecord>(this.db, 'patient');
    } catch {
      // Some private modes have no IndexedDB: the app still works, keeping keys in memory only.
      this.db = null;
    }
    const stored = await this.vault?.load().catch(() => null);
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
    this.isRemembered = true;
    this.idleLockMinutes = stored.idleLockMinutes;
    this.isSoundOn = stored.isSoundOn ?? true;
    if (stored.lockedBecause) {
      // Locked before the page was closed (quick exit, "Lock now", idle): nothing of the patient shows until the passphrase.
      this.keys = stored.keys;
      this.lockedBecause = stored.lockedBecause;
      this.go('locked');
      return;
    }
    await this.enter(stored.keys);
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

  /** Keeps new keys (remembered or memory only) and enters the app. Called after activation or sign-in. */
  async signedIn(keys: PatientKeys, remember: boolean): Promise<void> {
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
   * Privacy lock: closes the session, drops every decrypted message and keeps the lock in the vault (a
   * reload still asks for the passphrase). `reason` says on the locked screen what happened.
   */
  async lock(reason: LockReason): Promise<void> {
    if (!this.keys || this.screen === 'locked') return;
    this.closeSession();
    this.idleTimer?.stop();
    this.openConversationId = null;
    this.lockedBecause = reason;
    this.go('locked');
    await this.store(this.keys, this.isRemembered).catch(() => undefined);
  }

  /** Unlocks with the passphrase (checked against the patient's own encrypted backup). */
  async unlock(passphrase: string): Promise<boolean> {
    const keys = this.keys;
    if (!keys) return false;
    try {
      if (!(await connection.verifyPassphrase(keys, passphrase))) {
        this.fail('wrong_passphrase');
        return false;
      }
    } catch (error) {
      const code = (error as { code?: string }).code ?? 'internal';
      if (code === 'unauthorized') this.sessionEnded();
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

  /** Signs out of this device: ends the session and wipes keys, queued sends and everything else this app stored here. */
  async signOut(notice: Notice | null = { kind: 'info', text: 'You have signed out. Nothing of yours is left on this device.' }): Promise<void> {
    const token = this.keys?.signedIn.session.token;
    this.closeSession();
    if (token) await connection.signOut(token);
    await this.wipe();
    this.go('welcome', notice);
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

  /** Keeps an epoch key the session opened, so the first key this device saw for an epoch is the one it uses after a reload too. */
  private async keepEpochKey(keys: PatientKeys, id: string, key: Uint8Array): Promise<void> {
    if (keys.epochKeys[id] || this.keys !== keys) return;
    keys.epochKeys[id] = key;
    await this.store(keys, this.isRemembered).catch(() => undefined);
  }

  /**
   * Takes an invitation link's practice and code from the fragment (which never reached a server) and
   * removes them from the address bar and the history entry, so the code is not left on screen or in a bookmark.
   */
  private readInvitationLink(): void {
    this.invitationLink = parseInvitationLink(window.location.hash);
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

  private async store(keys: PatientKeys, remember: boolean): Promise<void> {
    const record: VaultRecord = { keys, idleLockMinutes: this.idleLockMinutes, lockedBecause: this.lockedBecause, isSoundOn: this.isSoundOn };
    this.keys = keys;
    this.isRemembered = remember && this.vault !== null;
    // Without IndexedDB the keys live in `this.keys` only, as with "don't remember this device".
    if (this.vault) await this.vault.save(record, { remember });
  }

  private async wipe(): Promise<void> {
    this.idleTimer?.stop();
    this.idleTimer = null;
    this.keys = null;
    this.displayName = '';
    this.isRemembered = false;
    this.lockedBecause = null;
    this.isSoundOn = true;
    this.openConversationId = null;
    await this.vault?.forget().catch(() => undefined);
    await this.db?.clearAll().catch(() => undefined);
  }
}

export const [setPatientApp, getPatientApp] = contextPair<PatientApp>('patient-app');
