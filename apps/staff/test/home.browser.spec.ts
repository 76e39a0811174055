import { createRequire } from 'node:module';
import type { Browser, Page } from 'playwright-core';
import { accessibilityViolations, launchChromium, startTestGateway, type TestGateway } from '@parley/testing';

const GATEWAY_ENTRY = createRequire(import.meta.url).resolve('@parley/gateway');

describe('staff app: home (Chromium, real gateway and database)', () => {
  let gateway: TestGateway;
  let browser: Browser;
  let page: Page;
  const consoleErrors: string[] = [];

  beforeAll(async () => {
    [gateway, browser] = await Promise.all([startTestGateway(GATEWAY_ENTRY), launchChromium()]);
    page = await browser.newPage();
    page.on('console', (message) => message.type() === 'error' && consoleErrors.push(message.text()));
  });

  afterAll(async () => {
    await browser?.close();
    await gateway?.close();
  });

  it('is served under /staff/ (and /staff redirects there) and reaches the gateway', async () => {
    await page.goto(`${gateway.url}/staff`);
    await page.getByRole('status').filter({ hasText: 'Connected to the practice.' }).waitFor();

    expect(new URL(page.url()).pathname).toBe('/staff/');
    expect(await page.getByRole('heading', { level: 1 }).textContent()).toBe('Practice console');
  });

  it('meets WCAG 2.2 AA as far as axe can tell', async () => {
    expect(await accessibilityViolations(page)).toEqual([]);
  });

  it('runs under the strict content security policy without a violation', () => {
    expect(consoleErrors).toEqual([]);
  });
});
