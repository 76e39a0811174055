import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { launchChromium } from '@parley/testing';
import type { Browser, BrowserContext, Page } from 'playwright-core';

// http://localhost is a secure context (WebCrypto, Web Locks) and the route below answers it without any server.
export const ORIGIN = 'http://localhost:4173';
const DIST = join(import.meta.dirname, '..', 'dist');

/** Serves an empty page and the package's built modules under /web/, with the production CSP's script rules. */
export async function servePackage(context: BrowserContext): Promise<void> {
  await context.route(`${ORIGIN}/**`, async (route) => {
    const { pathname } = new URL(route.request().url());
    if (pathname.startsWith('/web/')) {
      const body = await readFile(join(DIST, pathname.slice('/web/'.length)), 'utf8').catch(() => null);
      return body === null ? route.fulfill({ status: 404 }) : route.fulfill({ body, contentType: 'text/javascript' });
    }
    return route.fulfill({
      body: '<!doctype html><title>web package test</title>',
      contentType: 'text/html',
      headers: { 'content-security-policy': "default-src 'self'; script-src 'self'" },
    });
  });
}

/** Runs `body` in the page with the package imported as `web` and `arg` as `input` (a string evaluated by the debugger protocol, which the page's CSP does not govern). */
export function inPage<R>(page: Page, body: string, arg?: unknown): Promise<R> {
  return page.evaluate(`(async () => { const web = await import('/web/index.js'); const input = ${JSON.stringify(arg ?? null)}; ${body} })()`) as Promise<R>;
}

/** The current test's page (`packagePages`), and another page in the same context, opened at ORIGIN. */
export interface PackagePages {
  page: Page;
  another(): Promise<Page>;
}

/**
 * Registers the calling describe's hooks: one Chromium for the describe and, for each test, a fresh context serving the
 * package with a page open at ORIGIN (`pages.page`), closed after the test.
 */
export function packagePages(): PackagePages {
  let browser: Browser | undefined;
  let context: BrowserContext;
  const open = async () => {
    const page = await context.newPage();
    await page.goto(`${ORIGIN}/`);
    return page;
  };
  const pages: PackagePages = { page: undefined as unknown as Page, another: open };
  beforeAll(async () => {
    browser = await launchChromium();
  });
  afterAll(async () => {
    await browser?.close();
  });
  beforeEach(async () => {
    context = await browser!.newContext();
    await servePackage(context);
    pages.page = await open();
  });
  afterEach(async () => {
    await context.close();
  });
  return pages;
}
