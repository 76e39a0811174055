import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { accessibilityViolations } from '@parley/testing';

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

/** The patient's vault record as the test reads it: byte arrays as base64 strings. */
export interface StoredPatientKeys {
  signedIn: { account: Record<string, string>; device: unknown; session: unknown };
  pinnedRoot: string;
  epochKeys: Record<string, string>;
  recordKeyFloor: number;
  practice: string;
  login: string | null;
}

/**
 * Decrypts the patient app's vault in the page, as script in the app's origin could (the wrapping key
 * cannot be exported, but it can be used): to check what the device keeps, never to change it.
 */
export async function readVault(page: Page): Promise<StoredPatientKeys> {
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
  const record = JSON.parse(json, (_key, value: unknown) =>
    typeof value === 'object' && value !== null && '$bytes' in value && Object.keys(value).length === 1 ? (value as { $bytes: string }).$bytes : value,
  ) as { keys: StoredPatientKeys };
  return record.keys;
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
