import { createRequire } from 'node:module';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { launchChromium, startTestGateway, type TestGateway } from '@parley/testing';

const GATEWAY_ENTRY = createRequire(import.meta.url).resolve('@parley/gateway');
/** Issue #22: at most this much on the wire before the patient does anything (slow 3G target: 60 KB). */
const LANDING_BUDGET_BYTES = 60 * 1024;

interface Fetched {
  path: string;
  status: number;
  headers: Record<string, string>;
  /** Bytes on the wire: headers and (compressed) body, as Chromium counted them. */
  wireBytes: number;
  isFromCache: boolean;
}

/** Everything a page fetches, as Chromium's network log reports it (the cache included). */
async function recordFetches(context: BrowserContext, page: Page): Promise<Fetched[]> {
  const fetched: Fetched[] = [];
  const byId = new Map<string, Fetched>();
  const cdp = await context.newCDPSession(page);
  await cdp.send('Network.enable');
  cdp.on('Network.responseReceived', ({ requestId, response }) => {
    const entry: Fetched = {
      path: new URL(response.url).pathname,
      status: response.status,
      headers: Object.fromEntries(Object.entries(response.headers).map(([name, value]) => [name.toLowerCase(), String(value)])),
      wireBytes: 0,
      isFromCache: Boolean(response.fromDiskCache || response.fromPrefetchCache || response.fromServiceWorker),
    };
    byId.set(requestId, entry);
    fetched.push(entry);
  });
  cdp.on('Network.requestServedFromCache', ({ requestId }) => {
    const entry = byId.get(requestId);
    if (entry) entry.isFromCache = true;
  });
  cdp.on('Network.loadingFinished', ({ requestId, encodedDataLength }) => {
    const entry = byId.get(requestId);
    if (entry) entry.wireBytes = encodedDataLength;
  });
  return fetched;
}

/** The files index.html itself names: its scripts, module preloads and style sheets (the first screen). */
async function firstScreenFiles(url: string): Promise<string[]> {
  const html = await (await fetch(url)).text();
  return [...html.matchAll(/<(?:script|link)\b[^>]*\b(?:src|href)="(\/assets\/[^"]+)"/g)].map((match) => match[1] ?? '');
}

describe('patient app: first load (Chromium, real gateway)', () => {
  let gateway: TestGateway;
  let browser: Browser;
  let context: BrowserContext;
  let page: Page;
  let firstVisit: Fetched[];
  let firstScreen: string[];

  beforeAll(async () => {
    [gateway, browser] = await Promise.all([startTestGateway(GATEWAY_ENTRY), launchChromium()]);
    context = await browser.newContext();
    page = await context.newPage();
    firstVisit = await recordFetches(context, page);
    firstScreen = await firstScreenFiles(`${gateway.url}/`);
    await page.goto(`${gateway.url}/`);
    await page.getByRole('status').filter({ hasText: 'Connected to the practice.' }).waitFor();
    await page.waitForLoadState('networkidle');
  });

  afterAll(async () => {
    await browser?.close();
    await gateway?.close();
  });

  it('fetches on the landing screen no script but those index.html names', () => {
    const scripts = firstVisit.filter((entry) => entry.path.endsWith('.js')).map((entry) => entry.path);

    expect(firstScreen.some((path) => path.endsWith('.js'))).toBe(true);
    expect(scripts.sort()).toEqual(firstScreen.filter((path) => path.endsWith('.js')).sort());
  });

  it('receives every file of the first screen brotli-compressed, within the landing budget', () => {
    const texts = firstVisit.filter((entry) => entry.path === '/' || firstScreen.includes(entry.path));
    const wireBytes = firstVisit.reduce((sum, entry) => sum + entry.wireBytes, 0);

    expect(texts.map((entry) => [entry.path, entry.headers['content-encoding'], entry.headers['vary']])).toEqual(
      texts.map((entry) => [entry.path, 'br', 'Accept-Encoding']),
    );
    expect(wireBytes).toBeGreaterThan(0);
    expect(wireBytes).toBeLessThanOrEqual(LANDING_BUDGET_BYTES);
  });

  it('lets hashed assets be cached for a year and has index.html revalidated, security headers unchanged', () => {
    const index = firstVisit.find((entry) => entry.path === '/');
    const assets = firstVisit.filter((entry) => entry.path.startsWith('/assets/'));

    expect(index?.headers['cache-control']).toBe('no-cache');
    expect(index?.headers['content-security-policy']).toContain("script-src 'self' 'wasm-unsafe-eval'");
    expect(assets.length).toBeGreaterThan(0);
    for (const asset of assets) {
      expect([asset.path, asset.headers['cache-control']]).toEqual([asset.path, 'public, max-age=31536000, immutable']);
      expect(asset.headers['x-content-type-options']).toBe('nosniff');
    }
  });

  it('fetches the activation screen when the patient starts activation', async () => {
    const before = firstVisit.length;

    await page.getByRole('button', { name: 'I have an invitation code' }).click();
    await page.getByRole('heading', { level: 1, name: 'Activate your account' }).waitFor();
    await page.waitForLoadState('networkidle');

    const fetchedNow = firstVisit.slice(before).map((entry) => entry.path);
    expect(fetchedNow.some((path) => /\/assets\/ActivatePage-[\w-]+\.js$/.test(path))).toBe(true);
    expect(await page.evaluate(() => document.activeElement?.tagName)).toBe('H1');
  });

  it('downloads no asset again on a second visit: index.html and the rest come from the verified service worker cache', async () => {
    await page.evaluate(() => navigator.serviceWorker.ready.then(() => undefined));
    await page.goto('about:blank');
    const before = firstVisit.length;

    await page.goto(`${gateway.url}/`);
    await page.getByRole('heading', { level: 1, name: 'Message your GP practice' }).waitFor();
    await page.waitForLoadState('networkidle');

    const index = firstVisit.slice(before).find((entry) => entry.path === '/');
    const again = firstVisit.slice(before).filter((entry) => entry.path.startsWith('/assets/'));
    // The service worker's verified copy: a deploy shows once its signed manifest verifies (docs/patient-client.md, "Verified code bundle").
    expect(index?.isFromCache).toBe(true);
    expect(again.length).toBeGreaterThan(0);
    expect(again.filter((entry) => !entry.isFromCache).map((entry) => [entry.path, entry.status])).toEqual([]);
  });
});
