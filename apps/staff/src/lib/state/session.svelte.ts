import type { SessionEnded } from '@parley/protocol';
import { getContext, setContext } from 'svelte';
import { activateStaffAccount, connectStaff, type StaffConnection } from '../connection';

/** The signed-in member of staff (or nobody): sign-in, sign-out and the key backup file. */
export class SessionState {
  connection = $state.raw<StaffConnection | null>(null);
  isBusy = $state(false);
  error = $state<string | null>(null);

  readonly user = $derived(this.connection?.signedIn.session.user ?? null);
  readonly isClinician = $derived(this.user?.roles.includes('clinician') ?? false);
  readonly isManager = $derived(this.user?.roles.includes('manager') ?? false);
  /** Record key versions this device holds (the connection's map is not reactive itself). */
  recordKeyCount = $state(0);
  /** A device with no record key grant cannot read conversations until a manager admits it. */
  readonly isDeviceAdmitted = $derived(this.recordKeyCount > 0);
  /** The grants to this device do not chain to the root it pinned: the practice key it was given is not the practice's. */
  hasUntrustedRoot = $state(false);

  /** Signs in; on failure `error` says why in words a person can act on. */
  async signIn(input: { practice: string; login: string; passphrase: string; keyBackup?: string; remember: boolean }): Promise<boolean> {
    return this.connect(() => connectStaff(input));
  }

  /** First sign-in with a set-up code: this browser becomes a new device, to be admitted by a manager. */
  async activate(input: { practice: string; login: string; code: string; passphrase: string; remember: boolean }): Promise<boolean> {
    return this.connect(() => activateStaffAccount(input));
  }

  /** Looks for record key grants made since sign-in (a manager admitted this device). */
  async checkAdmission(): Promise<void> {
    if (!this.connection) return;
    const held = await this.connection.refreshRecordKeys();
    this.hasUntrustedRoot = held === 'untrusted_root';
    if (held !== 'untrusted_root') this.recordKeyCount = held;
  }

  private async connect(how: () => Promise<StaffConnection>): Promise<boolean> {
    this.isBusy = true;
    this.error = null;
    try {
      const connection = await how();
      // The server ends sessions too (signed out elsewhere, revoked device, offboarded): back to the sign-in screen, saying why.
      connection.chat.client.on('session:ended', (fact) => void this.ended(connection, fact.reason));
      this.connection = connection;
      this.recordKeyCount = connection.recordKeys.size;
      this.hasUntrustedRoot = false;
      // The first refresh ran while connecting; a second one tells an untrusted root from "not admitted yet".
      if (connection.recordKeys.size === 0) await this.checkAdmission();
      return true;
    } catch (error) {
      this.error = describeSignInError((error as { code?: string }).code);
      return false;
    } finally {
      this.isBusy = false;
    }
  }

  private async ended(connection: StaffConnection, reason: SessionEnded['reason']): Promise<void> {
    if (this.connection !== connection) return;
    this.connection = null;
    if (reason === 'device_revoked') await connection.forgetKeys();
    await connection.chat.close();
    this.error = {
      signed_out: 'You were signed out.',
      revoked: 'Your access was ended by the practice.',
      expired: 'Your session expired. Sign in again.',
      device_revoked: 'This computer’s access was revoked by the practice. Ask your manager to admit it again.',
    }[reason];
  }

  async signOut(): Promise<void> {
    const connection = this.connection;
    this.connection = null;
    await connection?.close();
  }

  /** The key backup file's text, sealed under the passphrase the person types again. */
  async keyBackup(passphrase: string): Promise<string | null> {
    if (!this.connection) return null;
    try {
      return await this.connection.exportKeyBackup(passphrase);
    } catch {
      this.error = 'The key backup could not be made.';
      return null;
    }
  }
}

function describeSignInError(code: string | undefined): string {
  switch (code) {
    case 'unauthorized':
      return 'Those sign-in details are not right. Check the practice code, e-mail address and passphrase.';
    case 'wrong_passphrase':
      return 'The key backup file does not open with this passphrase.';
    case 'invalid_payload':
      return 'That key backup file cannot be used for this sign-in.';
    case 'rate_limited':
      return 'Too many attempts. Wait a minute, then try again.';
    case 'timeout':
    case 'disconnected':
      return 'Cannot reach the practice right now. Try again shortly.';
    default:
      return 'Signing in did not work. Try again, or ask your practice manager.';
  }
}

const KEY = Symbol('session');
export const setSessionState = (state: SessionState): SessionState => setContext(KEY, state);
export const getSessionState = (): SessionState => getContext<SessionState>(KEY);
