import type { PassphraseAdvice, VerifiedInvitation } from '@parley/sdk';
import { contextPair } from '@parley/ui';
import * as connection from '../connection';
import type { InvitationLink } from '../invitation-link';
import { describeError } from './notices';
import type { PatientApp } from './patient-app.svelte';

/** How strong a passphrase is, for the live feedback under the field (the sdk's one policy for patients and staff). */
export type StrengthFeedback = PassphraseAdvice;

function codeOf(error: unknown): string {
  const { code, details } = error as { code?: string; details?: Record<string, unknown> };
  // The gateway's INVITATION_VOIDED reason (a literal here: the protocol's runtime stays out of this chunk).
  if (code === 'forbidden' && details?.['reason'] === 'invitation_voided') return 'invitation_voided';
  return code ?? 'internal';
}

/** How long the gateway asked to wait before trying again (rate_limited), when it said. */
function retryAfterOf(error: unknown): number | undefined {
  const wait = (error as { details?: Record<string, unknown> }).details?.['retryAfterSeconds'];
  return typeof wait === 'number' ? wait : undefined;
}

/** Lets the browser paint a busy state before a key derivation holds the main thread for a second. */
function nextPaint(): Promise<void> {
  return new Promise((resolve) => {
    requestAnimationFrame(() => setTimeout(resolve, 0));
    setTimeout(resolve, 100);
  });
}

/** The invitation-step failures in words the patient can act on. */
function invitationError(code: string, retryAfterSeconds?: number): string {
  if (code === 'unauthorized' || code === 'not_found') return describeError('invitation_unknown');
  if (code === 'invalid_payload') return describeError('invalid_invitation_code');
  if (code === 'expired') return describeError('invitation_expired');
  return describeError(code, undefined, retryAfterSeconds);
}

/** The activation journey: invitation → passphrase → (terms, shown by the app). */
export class ActivationState {
  step = $state<'invitation' | 'passphrase'>('invitation');
  isBusy = $state(false);
  error = $state<string | null>(null);
  /** Whether the error means "stop: this is not your practice" (shown as a warning, not a typo). */
  isAlarming = $state(false);
  /**
   * The invitation verified against its code, in memory only (never stored): it holds the invitation
   * key until activation signs the account key with it, and the root this device will pin.
   */
  invitation = $state.raw<VerifiedInvitation | null>(null);
  /** The fingerprint of exactly the root key this device will pin. */
  securityCode = $state<string | null>(null);
  strength = $state<StrengthFeedback | null>(null);
  /** Practice and code from an invitation link, to prefill the form. */
  readonly prefill: InvitationLink | null;
  private dateOfBirth: string | null = null;

  constructor(private readonly app: PatientApp) {
    this.prefill = app.takeInvitationLink();
    // The invitation step derives keys from the code: fetch the crypto library while the patient types.
    connection.preloadCrypto();
  }

  /** Checks the invitation code and date of birth, and verifies the invitation against the code on this device. */
  async checkInvitation(input: { practice: string; code: string; dateOfBirth: string }): Promise<void> {
    this.error = null;
    this.isAlarming = false;
    this.isBusy = true;
    const details = { practice: input.practice.trim().toUpperCase(), code: input.code.trim(), dateOfBirth: input.dateOfBirth };
    try {
      await nextPaint();
      const invitation = await connection.openInvitation(details);
      this.securityCode = await connection.practiceSecurityCode(invitation.pinnedRoot);
      this.invitation = invitation;
      this.dateOfBirth = details.dateOfBirth;
      this.step = 'passphrase';
    } catch (error) {
      const code = codeOf(error);
      this.isAlarming = code === 'untrusted_invitation';
      this.error = invitationError(code, retryAfterOf(error));
    } finally {
      this.isBusy = false;
    }
  }

  /** Live strength feedback for the passphrase field. */
  async check(phrase: string): Promise<void> {
    if (phrase === '') {
      this.strength = null;
      return;
    }
    this.strength = await connection.passphraseAdvice(phrase);
  }

  /** A generated six-word passphrase to offer. */
  suggest(): Promise<string> {
    return connection.suggestPassphrase();
  }

  /** Creates the account with the chosen passphrase and enters the app; the invitation is not looked up again. */
  async activate(passphrase: string, remember: boolean): Promise<void> {
    const { invitation, dateOfBirth } = this;
    if (!invitation || !dateOfBirth) return;
    this.error = null;
    this.isBusy = true;
    try {
      if (!(await connection.passphraseAdvice(passphrase)).isAcceptable) {
        this.error = 'Please choose a stronger passphrase (see the advice under the field).';
        return;
      }
      await nextPaint();
      const keys = await connection.activate({ invitation, dateOfBirth, passphrase });
      this.forget();
      await this.app.signedIn(keys, remember, passphrase);
    } catch (error) {
      const code = codeOf(error);
      this.error = code === 'unauthorized' ? describeError('invitation_unknown') : describeError(code, undefined, retryAfterOf(error));
    } finally {
      this.isBusy = false;
    }
  }

  /** Back to the invitation step; the verified invitation is dropped. */
  back(): void {
    this.forget();
    this.step = 'invitation';
    this.error = null;
  }

  private forget(): void {
    this.invitation = null;
    this.securityCode = null;
    this.dateOfBirth = null;
  }
}

/** Signing in with the NHS number and passphrase (a new device restores the keys from the backup). */
export class SignInState {
  isBusy = $state(false);
  error = $state<string | null>(null);
  /** Whether the error means "stop: something is wrong with the keys" (shown as a warning, not a typo). */
  isAlarming = $state(false);

  constructor(private readonly app: PatientApp) {}

  async signIn(input: { practice: string; login: string; passphrase: string; remember: boolean }): Promise<void> {
    this.error = null;
    this.isAlarming = false;
    this.isBusy = true;
    try {
      await nextPaint();
      const keys = await connection.signIn({
        practice: input.practice.trim().toUpperCase(),
        login: input.login.replace(/\s+/g, ''),
        passphrase: input.passphrase,
        known: this.app.keys,
      });
      this.app.notice = null;
      await this.app.signedIn(keys, input.remember, input.passphrase);
    } catch (error) {
      const code = codeOf(error);
      this.isAlarming = code === 'untrusted_account';
      this.error =
        code === 'unauthorized' || code === 'invalid_payload' || code === 'wrong_passphrase' || code === 'decrypt_failed'
          ? 'The practice code, NHS number or passphrase is not right. Check them and try again. The practice cannot see or reset your passphrase.'
          : describeError(code, undefined, retryAfterOf(error));
    } finally {
      this.isBusy = false;
    }
  }
}

export const [setActivationState, getActivationState] = contextPair<ActivationState>('activation');
export const [setSignInState, getSignInState] = contextPair<SignInState>('sign-in');
