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
