import { createHash } from 'node:crypto';

/** A login as stored: e-mail addresses compare case-insensitively, NHS numbers are digits. */
export function normaliseLogin(login: string): string {
  return login.trim().toLowerCase();
}

/**
 * What a per-account limit counts against: a hash of practice and login, whether or not the account
 * exists (so a limit that only known accounts hit would not reveal them), and never the login itself.
 */
export function accountSubject(practiceOdsCode: string, login: string): string {
  return createHash('sha256')
    .update(`${practiceOdsCode}\n${normaliseLogin(login)}`)
    .digest('hex');
}
