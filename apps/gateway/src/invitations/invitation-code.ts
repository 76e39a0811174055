import { createHash, randomInt } from 'node:crypto';

// Unambiguous characters only (no 0/O, 1/I/L), so a code read over the phone survives.
const CODE_ALPHABET = 'ABCDEFGHJKMNPQRSTUVWXYZ23456789';

/** SHA-256 of a normalised invitation or set-up code: all that the database keeps of it. */
export function hashInvitationCode(code: string): Buffer {
  return createHash('sha256').update(normaliseCode(code)).digest();
}

/** A fresh one-time code such as `K7QM-2XWD-9HTR` (12 characters of 31: about 59 bits). */
export function newInvitationCode(): string {
  // randomInt draws without modulo bias, so every character is equally likely.
  const chars = Array.from({ length: 12 }, () => CODE_ALPHABET[randomInt(CODE_ALPHABET.length)]).join('');
  return `${chars.slice(0, 4)}-${chars.slice(4, 8)}-${chars.slice(8, 12)}`;
}

/** A code as the patient may type it (any case, dashes or spaces) reduced to its characters. */
export function normaliseCode(code: string): string {
  return code.replace(/[^A-Za-z0-9]/g, '').toUpperCase();
}
