import type { InvitationDetails } from '@parley/protocol';
import * as connection from '../connection';
import { contextPair } from './context';
import { describeError } from './notices';
import type { PatientApp } from './patient-app.svelte';

/** How strong a passphrase is, for the live feedback under the field. */
export interface StrengthFeedback {
  isAcceptable: boolean;
  /** Plain-words reasons it is not (empty when acceptable). */
  problems: string[];
}

const WEAKNESS_TEXT: Record<string, string> = {
  too_short: 'Use at least 15 characters — a few unrelated words work well.',
  too_few_distinct_characters: 'Use more different letters.',
  common_password: 'Avoid common passwords and their variations.',
  sequence: 'Avoid runs like “12345” or “qwerty”.',
};

function codeOf(error: unknown): string {
  return (error as { code?: string }).code ?? 'internal';
}

/** The activation journey: invitation → passphrase → (terms, shown by the app). */
export class ActivationState {
  step = $state<'invitation' | 'passphrase'>('invitation');
  isBusy = $state(false);
  error = $state<string | null>(null);
  invitation = $state.raw<InvitationDetails | null>(null);
  /** The practice security code of the root key the invitation names, for the patient to compare with their letter. */
  securityCode = $state<string | null>(null);
  strength = $state<StrengthFeedback | null>(null);
  private details: { practice: string; code: string; dateOfBirth: string } | null = null;

  constructor(private readonly app: PatientApp) {}

  /** Checks the invitation code and date of birth with the practice. */
  async checkInvitation(input: { practice: string; code: string; dateOfBirth: string }): Promise<void> {
    this.error = null;
    this.isBusy = true;
    const details = { practice: input.practice.trim().toUpperCase(), code: input.code.trim(), dateOfBirth: input.dateOfBirth };
    try {
      this.invitation = await connection.lookUpInvitation(details);
      this.details = details;
      const root = this.invitation.practice.rootSignPublicKey;
      this.securityCode = null;
      if (root) void connection.practiceSecurityCode(root).then((code) => (this.securityCode = code));
      this.step = 'passphrase';
      // The next step derives keys: fetch the crypto library while the patient reads.
      connection.preloadCrypto();
    } catch (error) {
      const code = codeOf(error);
      this.error = describeError(code === 'unauthorized' || code === 'invalid_payload' || code === 'not_found' ? 'invitation_unknown' : code);
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
    const verdict = await connection.passphraseStrength(phrase);
    this.strength = { isAcceptable: verdict.isAcceptable, problems: verdict.reasons.map((reason) => WEAKNESS_TEXT[reason] ?? reason) };
  }

  /** A generated six-word passphrase to offer. */
  suggest(): Promise<string> {
    return connection.suggestPassphrase();
  }

  /** Creates the account with the chosen passphrase and enters the app. */
  async activate(passphrase: string, remember: boolean): Promise<void> {
    if (!this.details) return;
    this.error = null;
    this.isBusy = true;
    try {
      const verdict = await connection.passphraseStrength(passphrase);
      if (!verdict.isAcceptable) {
        this.error = 'Please choose a stronger passphrase (see the advice under the field).';
        return;
      }
      const keys = await connection.activate({ ...this.details, passphrase });
      await this.app.signedIn(keys, remember);
    } catch (error) {
      const code = codeOf(error);
      this.error = describeError(code === 'unauthorized' ? 'invitation_unknown' : code);
    } finally {
      this.isBusy = false;
    }
  }

  /** Back to the invitation step. */
  back(): void {
    this.step = 'invitation';
    this.error = null;
  }
}

/** Signing in with the NHS number and passphrase (a new device restores the keys from the backup). */
export class SignInState {
  isBusy = $state(false);
  error = $state<string | null>(null);

  constructor(private readonly app: PatientApp) {}

  async signIn(input: { practice: string; login: string; passphrase: string; remember: boolean }): Promise<void> {
    this.error = null;
    this.isBusy = true;
    try {
      const keys = await connection.signIn({
        practice: input.practice.trim().toUpperCase(),
        login: input.login.replace(/\s+/g, ''),
        passphrase: input.passphrase,
        known: this.app.keys,
      });
      this.app.notice = null;
      await this.app.signedIn(keys, input.remember);
    } catch (error) {
      const code = codeOf(error);
      this.error =
        code === 'unauthorized' || code === 'invalid_payload' || code === 'wrong_passphrase' || code === 'decrypt_failed'
          ? 'The practice code, NHS number or passphrase is not right. Check them and try again. The practice cannot see or reset your passphrase.'
          : describeError(code);
    } finally {
      this.isBusy = false;
    }
  }
}

export const [setActivationState, getActivationState] = contextPair<ActivationState>('activation');
export const [setSignInState, getSignInState] = contextPair<SignInState>('sign-in');
