import type { SessionEnded } from '@parley/protocol';
import { passphraseAdvice, type PassphraseAdvice } from '@parley/sdk';
import { IdleTimer, TabLock } from '@parley/web';
import { contextPair } from '@parley/ui';
import { config } from '../config';
import {
  activateStaffAccount,
  connectStaff,
  dropKeptSession,
  isUnlockPassphrase,
  keepSession,
  knownLogin,
  loadKeptSession,
  resumeStaff,
  suggestPassphrase,
  updateKeptSession,
  signOutKept,
  type KeptSession,
  type StaffConnection,
} from '../connection';

/** Wrong passphrases on the lock screen before the session is ended. */
const MAX_WRONG_UNLOCKS = 5;

/** What making a key backup file gave: the file's text, or why not (with the passphrase's problems when it is weak). */
export type KeyBackupResult = { ok: true; text: string } | { ok: false; error: string; problems: string[] };

/** What the page shows: starting up, the sign-in form, the console open in another tab, the idle lock, or the console. */
export type SessionPhase = 'starting' | 'signed-out' | 'other-tab' | 'locked' | 'open';

/**
 * The signed-in member of staff (or nobody): sign-in, the session kept across a reload, the idle lock,
 * the one-tab lock, sign-out and the key backup file.
 */
export class SessionState {
  phase = $state<SessionPhase>('starting');
  connection = $state.raw<StaffConnection | null>(null);
  isBusy = $state(false);
  error = $state<string | null>(null);
  /** The practice code and e-mail address to prefill the sign-in and lock screens with (never secret). */
  knownPractice = $state('');
  knownLogin = $state('');
  /** The name on the lock screen. */
  lockedName = $state('');

  readonly user = $derived(this.connection?.signedIn.session.user ?? null);
  readonly isClinician = $derived(this.user?.roles.includes('clinician') ?? false);
  readonly isManager = $derived(this.user?.roles.includes('manager') ?? false);
  /** Record key versions this device holds (the connection's map is not reactive itself). */
  recordKeyCount = $state(0);
  /** A device with no record key grant cannot read conversations until a manager admits it. */
  readonly isDeviceAdmitted = $derived(this.recordKeyCount > 0);
  /** The grants to this device do not chain to the root it pinned: the practice key it was given is not the practice's. */
  hasUntrustedRoot = $state(false);

  private kept: KeptSession | null = null;
  /** The error code of the last failed sign-in or resume. */
  private failureCode: string | undefined;
  private readonly tabLock = new TabLock(config.connectionLockName);
  private readonly idleTimer = new IdleTimer({ timeoutMs: config.idleLockMinutes * 60_000, onIdle: () => void this.lock() });

  /**
   * Takes this browser's one console (another tab may hold it: then waits, saying so), and opens the session a
   * reload left, locked if it was, or shows the sign-in form prefilled with the login this browser keeps keys for.
   */
  async boot(): Promise<void> {
    if (!(await this.tabLock.tryAcquire())) {
      this.phase = 'other-tab';
      // Takes over once the other tab is closed.
      if (!(await this.tabLock.acquire())) return;
    }
    const known = await knownLogin();
    this.knownPractice = known?.practice ?? '';
    this.knownLogin = known?.login ?? '';
    this.kept = await loadKeptSession();
    if (!this.kept) {
      this.phase = 'signed-out';
      return;
    }
    this.knownPractice = this.kept.practice;
    this.knownLogin = this.kept.login;
    this.lockedName = this.kept.session.user.displayName;
    if (this.kept.isLocked) {
      this.phase = 'locked';
      return;
    }
    const kept = this.kept;
    if (!(await this.connect(() => resumeStaff(kept)))) await this.resumeFailed();
  }

  /** Signs in; on failure `error` says why in words a person can act on. */
  async signIn(input: { practice: string; login: string; passphrase: string; keyBackup?: string; remember: boolean }): Promise<boolean> {
    return this.connect(() => connectStaff(input), input);
  }

  /** Live advice on a passphrase being chosen (offline; nothing is derived from it). */
  passphraseAdvice(phrase: string): PassphraseAdvice {
    return passphraseAdvice(phrase);
  }

  /** A generated six-word passphrase to offer. */
  suggestPassphrase(): Promise<string> {
    return suggestPassphrase();
  }

  /**
   * First sign-in with a set-up code: this browser becomes a new device, to be admitted by a manager. A weak
   * passphrase is refused here, in the browser, before anything is derived from it or sent.
   */
  async activate(input: { practice: string; login: string; code: string; passphrase: string; remember: boolean }): Promise<boolean> {
    return this.connect(() => activateStaffAccount(input), input);
  }

  /**
   * The idle lock: closes the live connection (a locked console takes no new patients; conversations the
   * clinician has stay theirs for the server's grace period) and drops everything decrypted with the console.
   */
  async lock(): Promise<void> {
    const connection = this.connection;
    if (!connection || !this.kept) return;
    this.idleTimer.stop();
    this.connection = null;
    this.lockedName = connection.signedIn.session.user.displayName;
    this.phase = 'locked';
    this.error = null;
    // Kept locked first, so a reload at any moment after this shows the lock screen.
    this.kept = await updateKeptSession(this.kept, { isLocked: true }).catch(() => this.kept);
    await connection.chat.close();
  }

  /** Unlocks with the passphrase (checked in this browser), reopening the same session. */
  async unlock(passphrase: string): Promise<boolean> {
    const kept = this.kept;
    if (!kept) return false;
    this.isBusy = true;
    const isRight = await isUnlockPassphrase(kept, passphrase);
    this.isBusy = false;
    if (!isRight) {
      // The check runs in this browser, out of the server's rate limit: a few wrong tries end the session instead.
      const failedUnlocks = kept.failedUnlocks + 1;
      this.kept = await updateKeptSession(kept, { failedUnlocks }).catch(() => ({ ...kept, failedUnlocks }));
      if (failedUnlocks >= MAX_WRONG_UNLOCKS) {
        await this.signOut();
        this.error = 'Too many wrong passphrases: you were signed out. Sign in again.';
        return false;
      }
      const left = MAX_WRONG_UNLOCKS - failedUnlocks;
      this.error = `That passphrase is not right. ${left} ${left === 1 ? 'try' : 'tries'} left before you are signed out.`;
      return false;
    }
    this.kept = await updateKeptSession(kept, { isLocked: false, failedUnlocks: 0 }).catch(() => kept);
    const isOpen = await this.connect(() => resumeStaff(kept));
    if (!isOpen) await this.resumeFailed();
    return isOpen;
  }

  /** Looks for record key grants made since sign-in (a manager admitted this device). */
  async checkAdmission(): Promise<void> {
    if (!this.connection) return;
    const held = await this.connection.refreshRecordKeys();
    this.hasUntrustedRoot = held === 'untrusted_root';
    if (held !== 'untrusted_root') this.recordKeyCount = held;
  }

  private async connect(how: () => Promise<StaffConnection>, keep?: { passphrase: string; remember: boolean }): Promise<boolean> {
    this.isBusy = true;
    this.error = null;
    try {
      const connection = await how();
      if (keep) {
        // A session that cannot be kept (no IndexedDB, no WebCrypto) could not be locked either: refuse it, signed out.
        this.kept = await keepSession(connection, keep.passphrase, keep.remember).catch(async (error: unknown) => {
          await connection.close();
          throw error;
        });
      }
      // The server ends sessions too (signed out elsewhere, revoked device, offboarded): back to the sign-in screen, saying why.
      connection.chat.client.on('session:ended', (fact) => void this.ended(connection, fact.reason));
      this.connection = connection;
      this.phase = 'open';
      this.idleTimer.start();
      this.recordKeyCount = connection.recordKeys.size;
      this.hasUntrustedRoot = false;
      // The first refresh ran while connecting; a second one tells an untrusted root from "not admitted yet".
      if (connection.recordKeys.size === 0) await this.checkAdmission();
      return true;
    } catch (error) {
      this.failureCode = (error as { code?: string }).code;
      const wait = (error as { details?: Record<string, unknown> }).details?.['retryAfterSeconds'];
      this.error = describeSignInError(this.failureCode, typeof wait === 'number' ? wait : undefined);
      return false;
    } finally {
      this.isBusy = false;
    }
  }

  /** A kept session that could not be opened again: an ended one is wiped (sign in again); otherwise the form says why. */
  private async resumeFailed(): Promise<void> {
    if (this.failureCode === 'unauthorized' || this.failureCode === 'session_ended') {
      this.error = 'Your session has ended. Sign in again.';
      this.kept = null;
      await dropKeptSession().catch(() => undefined);
    }
    this.phase = 'signed-out';
  }

  private async ended(connection: StaffConnection, reason: SessionEnded['reason']): Promise<void> {
    if (this.connection !== connection) return;
    this.connection = null;
    this.idleTimer.stop();
    this.kept = null;
    this.phase = 'signed-out';
    await dropKeptSession().catch(() => undefined);
    if (reason === 'device_revoked') await connection.forgetKeys();
    await connection.chat.close();
    this.error = {
      signed_out: 'You were signed out.',
      revoked: 'Your access was ended by the practice.',
      expired: 'Your session expired. Sign in again.',
      device_revoked: 'This computer’s access was revoked by the practice. Ask your manager to admit it again.',
      keys_changed: 'Your keys changed. Sign in again.',
    }[reason];
  }

  /** Signs out: ends the session on the server and wipes the kept session; this computer's keys stay as the person chose. */
  async signOut(): Promise<void> {
    const connection = this.connection;
    const kept = this.kept;
    this.connection = null;
    this.kept = null;
    this.idleTimer.stop();
    this.error = null;
    this.phase = 'signed-out';
    await dropKeptSession().catch(() => undefined);
    if (connection) await connection.close();
    else if (kept) await signOutKept(kept);
  }

  /**
   * The key backup file's text, sealed under the passphrase the person types again. It must be the one they
   * sign in with (a file under another passphrase could never restore) and strong enough: the file can hold
   * the practice root key.
   */
  async keyBackup(passphrase: string): Promise<KeyBackupResult> {
    const connection = this.connection;
    if (!connection) return { ok: false, error: 'Sign in first.', problems: [] };
    this.isBusy = true;
    try {
      if (this.kept && !(await isUnlockPassphrase(this.kept, passphrase))) {
        return { ok: false, error: 'That is not the passphrase you sign in with. The file must use it, or it could never restore your keys.', problems: [] };
      }
      const advice = this.passphraseAdvice(passphrase);
      if (!advice.isAcceptable) {
        return {
          ok: false,
          error: 'Your passphrase was chosen before Parley checked passphrases and is too weak to lock a key backup file:',
          problems: advice.problems,
        };
      }
      return { ok: true, text: await connection.exportKeyBackup(passphrase) };
    } catch {
      return { ok: false, error: 'The key backup could not be made.', problems: [] };
    } finally {
      this.isBusy = false;
    }
  }
}

function describeSignInError(code: string | undefined, retryAfterSeconds?: number): string {
  switch (code) {
    case 'unauthorized':
      return 'Those sign-in details are not right. Check the practice code, e-mail address and passphrase.';
    case 'wrong_passphrase':
      return 'The key backup file does not open with this passphrase.';
    case 'invalid_payload':
      return 'That key backup file cannot be used for this sign-in.';
    case 'weak_passphrase':
      return 'Choose a stronger passphrase (see the advice under the field), or let Parley suggest six words.';
    case 'rate_limited':
      if (retryAfterSeconds === undefined) return 'Too many attempts. Wait a minute, then try again.';
      return `Too many attempts. Try again in ${waitText(retryAfterSeconds)}.`;
    case 'timeout':
    case 'disconnected':
      return 'Cannot reach the practice right now. Try again shortly.';
    default:
      return 'Signing in did not work. Try again, or ask your practice manager.';
  }
}

/** A wait the gateway asked for, in words: seconds under a minute, else whole minutes rounded up. */
function waitText(seconds: number): string {
  const [count, unit] = seconds < 60 ? [Math.max(1, Math.ceil(seconds)), 'second'] : [Math.ceil(seconds / 60), 'minute'];
  return `${count} ${unit}${count === 1 ? '' : 's'}`;
}

export const [setSessionState, getSessionState] = contextPair<SessionState>('session');
