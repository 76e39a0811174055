import type { PassphraseAdvice, VerifiedRecovery } from '@parley/sdk';
import { config } from '../config';

// The sdk (and libsodium with it) loads only when the patient starts a recovery, as for activation and sign-in.
const loadSdk = () => import('@parley/sdk');

/** Lets the browser paint a busy state before a key derivation holds the main thread for a second. */
function nextPaint(): Promise<void> {
  return new Promise((resolve) => {
    requestAnimationFrame(() => setTimeout(resolve, 0));
    setTimeout(resolve, 100);
  });
}

/**
 * A forgotten passphrase (flow B, docs/crypto.md): the recovery code the practice gave after checking who the patient is,
 * verified on this device (it pins the practice root from the code), then a new passphrase and a new account key. The
 * patient signs in with the new passphrase once two members of staff approved.
 */
export class RecoveryState {
  step = $state<'code' | 'passphrase' | 'waiting'>('code');
  isBusy = $state(false);
  error = $state<string | null>(null);
  /** "Stop: this is not your practice" rather than a typing mistake. */
  isAlarming = $state(false);
  strength = $state<PassphraseAdvice | null>(null);
  /** The new account key's fingerprint, for staff to compare when they approve. */
  fingerprint = $state<string | null>(null);
  /** The verified recovery, in memory only: it holds the recovery key until the new account key is signed. */
  private recovery: VerifiedRecovery | null = null;
  private dateOfBirth: string | null = null;

  get patientName(): string | null {
    return this.recovery?.displayName ?? null;
  }

  get practiceName(): string | null {
    return this.recovery?.practiceName ?? null;
  }

  async checkCode(input: { practice: string; code: string; dateOfBirth: string }): Promise<void> {
    await this.run(async () => {
      const sdk = await loadSdk();
      this.recovery = await sdk.openRecovery({
        baseUrl: config.gatewayUrl,
        practice: input.practice.trim().toUpperCase(),
        code: input.code.trim(),
        dateOfBirth: input.dateOfBirth,
      });
      this.dateOfBirth = input.dateOfBirth;
      this.step = 'passphrase';
    });
  }

  async check(phrase: string): Promise<void> {
    this.strength = phrase === '' ? null : (await loadSdk()).passphraseAdvice(phrase);
  }

  async suggest(): Promise<string> {
    const crypto = await import('@parley/crypto');
    await crypto.ready();
    return crypto.generatePassphrase();
  }

  async submit(passphrase: string): Promise<void> {
    const { recovery, dateOfBirth } = this;
    if (!recovery || !dateOfBirth) return;
    await this.run(async () => {
      const sdk = await loadSdk();
      if (!sdk.passphraseAdvice(passphrase).isAcceptable) {
        this.error = 'Please choose a stronger passphrase (see the advice under the field).';
        return;
      }
      const sent = await sdk.submitRecovery({ baseUrl: config.gatewayUrl, recovery, dateOfBirth, passphrase });
      this.fingerprint = sent.accountFingerprint;
      this.recovery = null;
      this.step = 'waiting';
    });
  }

  private async run(work: () => Promise<void>): Promise<void> {
    this.error = null;
    this.isAlarming = false;
    this.isBusy = true;
    try {
      await nextPaint();
      await work();
    } catch (error) {
      const code = (error as { code?: string }).code ?? 'internal';
      this.isAlarming = code === 'untrusted_recovery';
      this.error = describe(code);
    } finally {
      this.isBusy = false;
    }
  }
}

function describe(code: string): string {
  switch (code) {
    case 'unauthorized':
      return 'That recovery code and date of birth do not match, or the code has expired or been used. Check them, or ask the practice for a new code.';
    case 'forbidden':
      return 'This recovery code can no longer be used. Ask your practice to start again.';
    case 'invalid_payload':
      return 'That is not a recovery code: it has 13 letters and numbers, like ABCD-EFGH-JKMNP.';
    case 'expired':
      return 'This recovery code has expired. Ask your practice for a new one.';
    case 'untrusted_recovery':
      return 'This recovery does not match its code. Do not continue: phone the practice.';
    case 'rate_limited':
      return 'Too many tries. Wait a few minutes and try again.';
    case 'network':
      return 'The practice server cannot be reached. Check your connection and try again.';
    default:
      return 'Something went wrong. Try again, or phone the practice.';
  }
}
