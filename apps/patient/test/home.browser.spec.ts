import { createRequire } from 'node:module';
import type { Browser, Page } from 'playwright-core';
import { accessibilityViolations, launchChromium, startTestGateway, type TestGateway } from '@parley/testing';

const GATEWAY_ENTRY = createRequire(import.meta.url).resolve('@parley/gateway');

describe('patient app: home (Chromium, real gateway and database)', () => {
  let gateway: TestGateway;
  let browser: Browser;
  let page: Page;
  const consoleErrors: string[] = [];
  const scripts: string[] = [];

  beforeAll(async () => {
    [gateway, browser] = await Promise.all([startTestGateway(GATEWAY_ENTRY), launchChromium()]);
    page = await browser.newPage();
    page.on('console', (message) => message.type() === 'error' && consoleErrors.push(message.text()));
    page.on('request', (request) => request.resourceType() === 'script' && scripts.push(new URL(request.url()).pathname));
    await page.goto(`${gateway.url}/`);
  });

  afterAll(async () => {
    await browser?.close();
    await gateway?.close();
  });

  it('reaches the practice server and says so', async () => {
    await page.getByRole('status').filter({ hasText: 'Connected to the practice.' }).waitFor();

    expect(await page.getByRole('heading', { level: 1 }).textContent()).toBe('Message your GP practice');
  });

  it('keeps the urgent-care advice in view, with 999 and 111 as phone links', async () => {
    const urgent = page.getByRole('complementary', { name: 'If it is urgent' });

    expect(await urgent.getByRole('link', { name: '999' }).getAttribute('href')).toBe('tel:999');
    expect(await urgent.getByRole('link', { name: '111' }).getAttribute('href')).toBe('tel:111');
  });

  it('meets WCAG 2.2 AA as far as axe can tell', async () => {
    expect(await accessibilityViolations(page)).toEqual([]);
  });

  it('fits a 320 px wide phone screen without sideways scrolling', async () => {
    await page.setViewportSize({ width: 320, height: 640 });

    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);

    expect(overflow).toBe(0);
  });

  it('does not load the crypto library (libsodium) until a crypto flow starts', async () => {
    await page.getByRole('button', { name: 'I have an invitation code' }).waitFor();

    expect(scripts.length).toBeGreaterThan(0);
    expect(scripts.filter((path) => path.includes('libsodium'))).toEqual([]);
  });

  it('runs under the strict content security policy without a violation', () => {
    expect(consoleErrors).toEqual([]);
  });
});
