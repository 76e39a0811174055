// Client-side passphrase rules of docs/crypto.md: offer a generated 6-word phrase, or accept a user
// phrase of at least 15 characters. Runs offline; checking against a breached-password list needs
// a list this package does not ship (see docs/crypto.md, deviations).
import { PASSPHRASE_WORDS } from './passphrase-words.js';
import { randomUniform } from './sodium.js';

/** How many words generatePassphrase draws. */
export const PASSPHRASE_WORD_COUNT = 6;
/** Shortest user-chosen passphrase accepted, in characters (Unicode code points after NFKC). */
export const MIN_PASSPHRASE_CHARS = 15;

/** Why a passphrase is refused. */
export type PassphraseWeakness = 'too_short' | 'too_few_distinct_characters' | 'common_password' | 'sequence';

/** The verdict of checkPassphraseStrength. */
export interface PassphraseStrength {
  isAcceptable: boolean;
  /** Six words from the shipped list separated by single spaces, as generatePassphrase makes them. */
  isGenerated: boolean;
  reasons: PassphraseWeakness[];
}

const WORDS = new Set(PASSPHRASE_WORDS);
const MIN_DISTINCT_CHARS = 6;
const SEQUENCE_RUN = 5;
const KEYBOARD_ROWS = ['qwertyuiop', 'asdfghjkl', 'zxcvbnm', '1234567890'];
// The commonest passwords and their stems; after removing them (and digits and symbols) a phrase
// must still have 8 letters of its own. A real breached-password check belongs on top of this.
const COMMON_PASSWORDS = [
  'password',
  'passw0rd',
  'qwerty',
  'letmein',
  'welcome',
  'iloveyou',
  'admin',
  'monkey',
  'dragon',
  'football',
  'baseball',
  'sunshine',
  'princess',
  'trustno',
  'master',
  'shadow',
  'superman',
  'batman',
  'starwars',
  'whatever',
  'login',
  'hello',
  'freedom',
  'secret',
  'changeme',
  'parley',
  'abc',
  'test',
  'guest',
  'default',
  'summer',
  'winter',
  'spring',
  'autumn',
  'london',
  'england',
];
const LEET: Record<string, string> = { '0': 'o', '1': 'i', '3': 'e', '4': 'a', '5': 's', '7': 't', '@': 'a', $: 's' };

/**
 * Generates a passphrase of six words drawn uniformly from a 1,203-word list (about 61 bits), separated by spaces.
 * @throws CryptoError `not_ready`
 */
export function generatePassphrase(): string {
  const words: string[] = [];
  for (let i = 0; i < PASSPHRASE_WORD_COUNT; i++) words.push(PASSPHRASE_WORDS[randomUniform(PASSPHRASE_WORDS.length)] as string);
  return words.join(' ');
}

/**
 * Checks a passphrase offline: a generated phrase passes; anything else needs 15+ characters and no obvious pattern.
 * Throws nothing.
 */
export function checkPassphraseStrength(phrase: string): PassphraseStrength {
  const normalized = typeof phrase === 'string' ? phrase.normalize('NFKC') : '';
  if (isGeneratedPhrase(normalized)) return { isAcceptable: true, isGenerated: true, reasons: [] };

  const reasons: PassphraseWeakness[] = [];
  const characters = Array.from(normalized);
  if (characters.length < MIN_PASSPHRASE_CHARS) reasons.push('too_short');
  if (new Set(characters.map((c) => c.toLowerCase())).size < MIN_DISTINCT_CHARS) reasons.push('too_few_distinct_characters');
  if (isMostlyCommonPassword(normalized)) reasons.push('common_password');
  if (hasSequence(normalized.toLowerCase())) reasons.push('sequence');
  return { isAcceptable: reasons.length === 0, isGenerated: false, reasons };
}

function isGeneratedPhrase(phrase: string): boolean {
  const words = phrase.split(' ');
  return words.length === PASSPHRASE_WORD_COUNT && words.every((word) => WORDS.has(word));
}

function isMostlyCommonPassword(phrase: string): boolean {
  let letters = Array.from(phrase.toLowerCase(), (c) => LEET[c] ?? c).join('');
  let hasCommon = false;
  for (const common of COMMON_PASSWORDS) {
    const unleeted = Array.from(common, (c) => LEET[c] ?? c).join('');
    if (letters.includes(unleeted)) {
      hasCommon = true;
      letters = letters.replaceAll(unleeted, '');
    }
  }
  return hasCommon && letters.replace(/[^\p{L}]/gu, '').length < 8;
}

function hasSequence(phrase: string): boolean {
  const codes = Array.from(phrase, (c) => c.codePointAt(0) ?? 0);
  let up = 1;
  let down = 1;
  for (let i = 1; i < codes.length; i++) {
    up = codes[i] === (codes[i - 1] ?? 0) + 1 ? up + 1 : 1;
    down = codes[i] === (codes[i - 1] ?? 0) - 1 ? down + 1 : 1;
    if (up >= SEQUENCE_RUN || down >= SEQUENCE_RUN) return true;
  }
  return KEYBOARD_ROWS.some((row) => {
    for (let start = 0; start + SEQUENCE_RUN <= row.length; start++) {
      if (phrase.includes(row.slice(start, start + SEQUENCE_RUN))) return true;
    }
    return false;
  });
}
