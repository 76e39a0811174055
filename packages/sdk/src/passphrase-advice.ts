import { checkPassphraseStrength, type PassphraseWeakness } from '@parley/crypto';

/** Whether a passphrase being chosen is strong enough and, if not, why in plain words: one policy for patients and staff. */
export interface PassphraseAdvice {
  isAcceptable: boolean;
  /** What to change, in words (empty when acceptable). */
  problems: string[];
}

const WEAKNESS_WORDS: Record<PassphraseWeakness, string> = {
  too_short: 'Use at least 15 characters — a few unrelated words work well.',
  too_few_distinct_characters: 'Use more different letters.',
  common_password: 'Avoid common passwords and their variations.',
  sequence: 'Avoid runs like “12345” or “qwerty”.',
};

/** The passphrase policy's verdict on a phrase (a generated one, or 15+ characters with no common password or run), for the live advice under the field. Offline. */
export function passphraseAdvice(phrase: string): PassphraseAdvice {
  const verdict = checkPassphraseStrength(phrase);
  return { isAcceptable: verdict.isAcceptable, problems: verdict.reasons.map((reason) => WEAKNESS_WORDS[reason]) };
}
