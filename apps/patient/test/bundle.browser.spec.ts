import { generateKeyPairSync } from 'node:crypto';
import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { brotliCompressSync, gzipSync } from 'node:zlib';
import type { Browser, BrowserContext, CDPSession, Page } from 'playwright-core';
import { accessibilityViolations, launchChromium, startTestGateway, type TestGateway } from '@parley/testing';
import { releasePublicKey, writeReleaseManifest, type ReleaseKey } from '../../../scripts/release-signing.js';
import { fromBase64, parseReleaseManifest, verifyReleaseManifest } from '../src/sw/verify-manifest.js';

const GATEWAY_ENTRY = createRequire(import.meta.url).resolve('@parley/gateway');
const BUILD = fileURLToPath(new URL('../dist', import.meta.url));
const WARNING = 'This version of the app could not be verified';
const LANDING = 'Message your GP practice';

/**
 * Gives the build in `folder` a release key of the test's own: its public key written into `sw.js` in place of the one
 * the build put there (the one string there that verifies the build's manifest), and the manifest signed again with
 * it. The test then does not depend on which key the build was signed with (the demo key, PARLEY_RELEASE_KEY_FILE's, a
 * build restored from turbo's cache).
 */
async function useTestReleaseKey(folder: string): Promise<ReleaseKey> {
  const built = parseReleaseManifest(await readFile(join(folder, 'release-manifest.json'), 'utf8'));
  const worker = await readFile(join(folder, 'sw.js'), 'utf8');
  let embedded: string | null = null;
  for (const [, candidate] of worker.matchAll(/["'`]([A-Za-z0-9+/]{43}=)["'`]/g)) {
    if (built && candidate && (await verifyReleaseManifest(built, fromBase64(candidate)))) embedded = candidate;
  }
  if (!embedded) throw new Error('sw.js holds no public key that verifies the manifest of the build');
  const { privateKey } = generateKeyPairSync('ed25519');
  const key: ReleaseKey = { privateKey, publicKey: releasePublicKey(privateKey), isDemo: false };
  await writeFile(join(folder, 'sw.js'), worker.split(embedded).join(key.publicKey));
  await writeReleaseManifest(folder, key);
  return key;
}

/**
 * The verified code bundle (docs/patient-client.md, "Verified code bundle"), as an attacker who controls the server
 * would try it: the test's gateway serves a copy of the build, which the test rewrites between page loads.
 */
describe('patient app: verified code bundle (Chromium, real gateway serving a copy of the build)', () => {
  let served: string;
  let gateway: TestGateway;
  let browser: Browser;
  let context: BrowserContext;
  let page: Page;
  let cdp: CDPSession;
  /** The release key of the served copy (the test's own, whatever key the build was signed with). */
  let releaseKey: ReleaseKey;
  let entryScript: string;
  const originals = new Map<string, Buffer>();
  const consoleErrors: string[] = [];

  /** Replaces a file of the served build, with the compressed copies the gateway prefers. */
  const rewrite = async (path: string, content: Buffer) => {
    for (const suffix of ['', '.br', '.gz']) {
      if (!originals.has(path + suffix)) originals.set(path + suffix, await readFile(join(served, path + suffix)));
    }
    await writeFile(join(served, path), content);
    await writeFile(join(served, `${path}.br`), brotliCompressSync(content));
    await writeFile(join(served, `${path}.gz`), gzipSync(content));
  };
  const restore = async () => {
    for (const [path, content] of originals) await writeFile(join(served, path), content);
    originals.clear();
  };
  /** Loads the app and waits for the landing screen, served through the (now controlling) service worker. */
  const load = async () => {
    await page.reload();
    await page.getByRole('heading', { level: 1, name: LANDING }).waitFor();
  };
  const warning = () => page.getByRole('alert').filter({ hasText: WARNING });

  beforeAll(async () => {
    served = await mkdtemp(join(tmpdir(), 'parley-bundle-'));
    await cp(BUILD, served, { recursive: true });
    releaseKey = await useTestReleaseKey(served);
    const index = await readFile(join(served, 'index.html'), 'utf8');
    entryScript = index.match(/<script[^>]+src="\/(assets\/index-[\w-]+\.js)"/)?.[1] ?? '';
    [gateway, browser] = await Promise.all([startTestGateway(GATEWAY_ENTRY, { PATIENT_DIST: served }), launchChromium()]);
    context = await browser.newContext();
    page = await context.newPage();
    page.on('console', (message) => message.type() === 'error' && consoleErrors.push(message.text()));
    page.on('pageerror', (error) => consoleErrors.push(`uncaught: ${error.message}`));
    cdp = await context.newCDPSession(page);
    await page.goto(`${gateway.url}/`);
    await page.getByRole('status').filter({ hasText: 'Connected to the practice.' }).waitFor();
    await page.evaluate(() => navigator.serviceWorker.ready.then(() => undefined));
    await page.waitForFunction(() => navigator.serviceWorker.controller !== null);
  });

  afterAll(async () => {
    await browser?.close();
    await gateway?.close();
    if (served) await rm(served, { recursive: true, force: true });
  });

  afterEach(restore);

  it('installs a service worker that caches every file the signed manifest lists', async () => {
    const manifest = parseReleaseManifest(await readFile(join(served, 'release-manifest.json'), 'utf8'));
    const cached = await page.evaluate(async () => {
      const names = (await caches.keys()).filter((name) => name.startsWith('parley-release-'));
      const paths = await Promise.all(names.map(async (name) => (await (await caches.open(name)).keys()).map((request) => new URL(request.url).pathname)));
      return { names, paths: paths.flat().sort() };
    });

    expect(entryScript).not.toBe('');
    expect(manifest?.files[`/${entryScript}`]).toBeDefined();
    expect(cached.names).toEqual([`parley-release-${manifest?.release}`]);
    expect(cached.paths).toEqual(Object.keys(manifest?.files ?? {}).sort());
    expect(await page.evaluate(() => navigator.serviceWorker.controller?.scriptURL)).toBe(`${gateway.url}/sw.js`);
    expect(await warning().count()).toBe(0);
  });

  it('registers the service worker under the strict content security policy without a violation', () => {
    expect(consoleErrors).toEqual([]);
  });

  it('serves the app offline from the verified cache', async () => {
    await cdp.send('Network.enable');
    await cdp.send('Network.emulateNetworkConditions', { offline: true, latency: 0, downloadThroughput: -1, uploadThroughput: -1 });
    try {
      await load();

      expect(await page.getByRole('button', { name: 'I have an invitation code' }).count()).toBe(1);
    } finally {
      await cdp.send('Network.emulateNetworkConditions', { offline: false, latency: 0, downloadThroughput: -1, uploadThroughput: -1 });
    }
  });

  it('refuses a script changed on the server without a new signed manifest, warns, and keeps running the verified one', async () => {
    const script = await readFile(join(served, entryScript));
    await rewrite(entryScript, Buffer.concat([Buffer.from('window.__tampered = true;\n'), script]));

    await load();
    await warning().waitFor();

    expect(await warning().getByRole('heading').textContent()).toBe(WARNING);
    expect(await page.evaluate(() => (window as { __tampered?: boolean }).__tampered)).toBeUndefined();
    expect(await page.getByRole('button', { name: 'I have an invitation code' }).count()).toBe(1);
    expect(await accessibilityViolations(page)).toEqual([]);
  });

  it('refuses a manifest signed with another key', async () => {
    const attacker = generateKeyPairSync('ed25519').privateKey;
    originals.set('release-manifest.json', await readFile(join(served, 'release-manifest.json')));
    await writeReleaseManifest(served, { privateKey: attacker, publicKey: releasePublicKey(attacker), isDemo: false });

    await load();
    await warning().waitFor();

    expect(await page.evaluate(() => (window as { __tampered?: boolean }).__tampered)).toBeUndefined();
  });

  it('takes a new release signed with the release key, from the next page load', async () => {
    const index = await readFile(join(served, 'index.html'), 'utf8');
    await rewrite('index.html', Buffer.from(index.replace('<title>', '<meta name="parley-test-release" content="next" />\n    <title>')));
    originals.set('release-manifest.json', await readFile(join(served, 'release-manifest.json')));
    const next = await writeReleaseManifest(served, releaseKey);

    await load();
    await page.getByRole('status').filter({ hasText: 'A checked update of the app is ready' }).waitFor();
    expect(await page.locator('meta[name="parley-test-release"]').count()).toBe(0);
    await load();

    expect(await page.locator('meta[name="parley-test-release"]').count()).toBe(1);
    expect(await page.evaluate(() => caches.keys())).toContain(`parley-release-${next.release}`);
    expect(await warning().count()).toBe(0);
  });
});
