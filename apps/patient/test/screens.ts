import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { deriveDeviceLockKey } from '@parley/sdk';
import { accessibilityViolations } from '@parley/testing';
import { decodeSecret, SecretLock, type LockedSecret } from '@parley/web';

/** Where screenshots go: test artifacts, git-ignored. */
export const SCREENSHOTS = join(import.meta.dirname, '..', 'test-results', 'screenshots');

/**
 * Checks a screen the way every screen is checked: axe finds no WCAG 2.2 A/AA violation, nothing
 * scrolls sideways at the page's width, and a 375 px wide screenshot is saved as `<name>.png`.
 */
export async function checkScreen(page: Page, name: string): Promise<{ violations: string[]; overflow: number }> {
  await mkdir(SCREENSHOTS, { recursive: true });
  const violations = await accessibilityViolations(page);
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
  // From the top; a full-page capture still paints the sticky header where the page last scrolled to.
  await page.evaluate(() => window.scrollTo(0, 0));
  await page.screenshot({ path: join(SCREENSHOTS, `${name}.png`), fullPage: true });
  return { violations, overflow };
}

/** The width screenshots are taken at (a common phone). */
export const PHONE = { width: 375, height: 812 };

/** The patient's keys as the test reads them from the vault: byte arrays as base64 strings. */
export interface StoredPatientKeys {
  signedIn: { account: Record<string, string>; device: unknown; session: unknown };
  pinnedRoot: string;
  epochKeys: Record<string, string>;
  recordKeyFloor: number;
  revocationFloor?: number;
  practice: string;
  login: string | null;
}

/** The patient app's vault record (format 2) as the page's own wrapping key opens it: the keys are still sealed under the device lock. */
export interface StoredVaultRecord {
  format: number;
  sealedKeys: LockedSecret;
  idleLockMinutes: number;
  lockedBecause: string | null;
  isSoundOn: boolean;
  /** The patient's answer about notifications on this device (`on`, `declined`), null until asked. */
  pushChoice?: string | null;
}

/**
 * Decrypts the patient app's vault record in the page, as script in the app's origin could (the wrapping key
 * cannot be exported, but it can be used): to check what the device keeps, never to change it. What it gives is
 * the record with the keys still sealed under the device lock (see `openStoredKeys`).
 */
export async function readVaultRecord(page: Page): Promise<StoredVaultRecord> {
  const json = await page.evaluate(async () => {
    const db = await new Promise<IDBDatabase>((resolve, reject) => {
      const request = indexedDB.open('parley-patient');
      request.onsuccess = () => resolve(request.result);
      request.onerror = () => reject(request.error);
    });
    const get = <T>(store: string) =>
      new Promise<T>((resolve, reject) => {
        const request = db.transaction(store).objectStore(store).get('patient');
        request.onsuccess = () => resolve(request.result as T);
        request.onerror = () => reject(request.error);
      });
    const sealed = await get<{ iv: Uint8Array<ArrayBuffer>; ciphertext: ArrayBuffer }>('vault');
    const key = await get<CryptoKey>('wrapping-keys');
    db.close();
    const plain = await crypto.subtle.decrypt(
      { name: 'AES-GCM', iv: sealed.iv, additionalData: new TextEncoder().encode('parley/v1/web-vault/patient') },
      key,
      sealed.ciphertext,
    );
    return new TextDecoder().decode(plain);
  });
  return decodeSecret<StoredVaultRecord>(new TextEncoder().encode(json));
}

/** Opens the keys a vault record seals under the device lock, with the passphrase, as the app does (Argon2id in Node). @throws with code `wrong_passphrase` */
export async function openStoredKeys(record: StoredVaultRecord, passphrase: string): Promise<StoredPatientKeys> {
  const derived = await deriveDeviceLockKey(passphrase, record.sealedKeys.kdf);
  const lock = await SecretLock.fromKeyBytes(derived.key, derived.kdf, 'patient-keys');
  const keys = await lock.open<unknown>(record.sealedKeys);
  return JSON.parse(
    JSON.stringify(keys, (_key, value: unknown) => (value instanceof Uint8Array ? Buffer.from(value).toString('base64') : value)),
  ) as StoredPatientKeys;
}

/** The patient's keys from the vault, opened with the passphrase (the page's wrapping key alone no longer opens them). */
export async function readVault(page: Page, passphrase: string): Promise<StoredPatientKeys> {
  return openStoredKeys(await readVaultRecord(page), passphrase);
}

/** A practice with a test patient's invitation, as the sign-up screens ask for it. */
type Invitation = { odsCode: string; patientCode: string; credentials: { patient: { dateOfBirth: string } } };

/** A practice's test patient creates their account in the app: the invitation code, their date of birth, a passphrase. */
export async function createAccount(page: Page, practice: Invitation, passphrase: string): Promise<void> {
  await enterInvitation(page, practice);
  await choosePassphrase(page, passphrase);
}

/** The first step of signing up: the invitation code and date of birth, up to the passphrase screen. */
export async function enterInvitation(page: Page, practice: Invitation): Promise<void> {
  await page.getByRole('button', { name: 'I have an invitation code' }).click();
  await page.getByLabel('Practice code').fill(practice.odsCode);
  await page.getByLabel('Invitation code').fill(practice.patientCode);
  await page.getByLabel('Date of birth').fill(practice.credentials.patient.dateOfBirth);
  await page.getByRole('button', { name: 'Continue' }).click();
  await page.getByRole('heading', { name: 'Choose your passphrase' }).waitFor({ timeout: 30_000 });
}

/** The second step: the passphrase, written down, and the account created. */
export async function choosePassphrase(page: Page, passphrase: string): Promise<void> {
  await page.getByLabel('Passphrase', { exact: true }).fill(passphrase);
  await page.getByLabel('I have written my passphrase down').check();
  await page.getByRole('button', { name: 'Create my account' }).click();
}

/** A remembered device after a reload or a reopened site: waits for the locked screen and opens it with the passphrase. */
export async function unlock(page: Page, passphrase: string, timeout = 30_000): Promise<void> {
  await page.getByRole('heading', { name: 'Parley is locked' }).waitFor({ timeout });
  await page.getByLabel('Passphrase', { exact: true }).fill(passphrase);
  await page.getByRole('button', { name: 'Unlock' }).click();
}

/** The paths of every field named like a secret key (`…SecretKey`) in a stored record, sorted. */
export function secretKeyPaths(value: unknown, path = ''): string[] {
  if (typeof value !== 'object' || value === null) return [];
  return Object.entries(value)
    .flatMap(([key, item]) => {
      const here = path ? `${path}.${key}` : key;
      return /secretkey$/i.test(key) ? [here] : secretKeyPaths(item, here);
    })
    .sort();
}
