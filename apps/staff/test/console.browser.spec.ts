import type { Browser, BrowserContext, Page } from 'playwright-core';
import { accessibilityViolations, launchChromium } from '@parley/testing';
import { openConversation, signInThroughPage, startStaffWorld, waitUntil, type StaffWorld } from './world.js';

/** Issue #14, staff points 12, 13 and 15: a reload keeps the session, the idle and one-tab locks, every clinician in the capacity table, the day chart, 320 px. */
describe('staff app: staying signed in, the capacity table and the day chart (Chromium, real gateway and database)', () => {
  let world: StaffWorld;
  let browser: Browser;
  let context: BrowserContext;
  let page: Page;
  const consoleErrors: string[] = [];
  const nurseName = 'Nurse Sam Shiftlater';

  const go = (target: Page, screen: string) => target.getByRole('navigation', { name: 'Console' }).getByRole('button', { name: screen }).click();
  const consoleShown = (target: Page) => target.getByRole('navigation', { name: 'Console' }).waitFor({ timeout: 60_000 });

  beforeAll(async () => {
    [world, browser] = await Promise.all([startStaffWorld(), launchChromium()]);
    context = await browser.newContext();
    page = await context.newPage();
    page.on('console', (message) => message.type() === 'error' && consoleErrors.push(message.text()));
    // A fake clock that keeps running: the idle lock is tested by moving it on.
    await page.clock.install();
    await signInThroughPage(page, world.url, world.odsCode, world.manager);
  }, 120_000);

  afterAll(async () => {
    await browser?.close();
    await world?.close();
  });

  it('keeps the session across a reload, with the keys and session under non-extractable WebCrypto keys', async () => {
    await page.reload();

    await consoleShown(page);
    await page.getByRole('heading', { name: 'Load and capacity' }).waitFor();
    expect(await page.getByLabel('Passphrase').count()).toBe(0);
    const stored = await page.evaluate(
      () =>
        new Promise<{ slot: string; extractable: boolean; type: string }[]>((resolve, reject) => {
          const request = indexedDB.open('parley-staff');
          request.onerror = () => reject(request.error);
          request.onsuccess = () => {
            const all = request.result.transaction('wrapping-keys').objectStore('wrapping-keys');
            const keys = all.getAllKeys();
            const values = all.getAll();
            values.onsuccess = () =>
              resolve(
                (values.result as CryptoKey[]).map((key, i) => ({ slot: String(keys.result[i]), extractable: key.extractable, type: key.algorithm.name })),
              );
          };
        }),
    );
    // The manager's root key is inside the 'staff' slot: only this origin's script can use its wrapping key, and nothing can export it.
    expect(stored.sort((a, b) => a.slot.localeCompare(b.slot))).toEqual([
      { slot: 'staff', extractable: false, type: 'AES-GCM' },
      { slot: 'staff-session', extractable: false, type: 'AES-GCM' },
    ]);
  });

  it('says the console is open in another tab of the same browser, and shows no console there', async () => {
    const second = await context.newPage();
    await second.goto(`${world.url}/staff/`);

    await second.getByRole('heading', { name: 'The console is open in another tab' }).waitFor();
    expect(await second.getByRole('navigation', { name: 'Console' }).count()).toBe(0);
    expect(await accessibilityViolations(second)).toEqual([]);
    await second.close();
  });

  it('locks itself after three idle minutes; a wrong passphrase is refused, a reload stays locked, the passphrase unlocks', async () => {
    await page.clock.fastForward('02:50');
    expect(await page.getByRole('heading', { name: 'The console is locked' }).count()).toBe(0);
    await page.clock.fastForward('00:15');

    const lock = page.getByRole('form', { name: 'The console is locked' });
    await lock.waitFor();
    expect(await page.getByRole('navigation', { name: 'Console' }).count()).toBe(0);
    await lock.getByText(world.manager.displayName).waitFor();
    expect(await accessibilityViolations(page)).toEqual([]);
    await lock.getByLabel('Passphrase').fill('not the passphrase at all');
    await lock.getByRole('button', { name: 'Unlock' }).click();
    await lock.getByRole('alert').filter({ hasText: 'That passphrase is not right.' }).waitFor({ timeout: 60_000 });

    await page.reload();
    await lock.waitFor();
    await lock.getByLabel('Passphrase').fill(world.manager.passphrase);
    await lock.getByRole('button', { name: 'Unlock' }).click();
    await consoleShown(page);
    expect(await page.getByRole('alert').filter({ hasText: 'That passphrase is not right.' }).count()).toBe(0);
  });

  it('lists every clinician of the practice, signed in or not, with their state, and takes a cap before their shift', async () => {
    await go(page, 'Staff');
    await page.getByLabel('Full name', { exact: true }).fill(nurseName);
    await page.getByLabel('Work e-mail address').fill('sam.shiftlater@demo.parley.test');
    await page.getByRole('button', { name: 'Create account and set-up code' }).click();
    await page
      .getByRole('status')
      .filter({ hasText: `One-time code for ${nurseName}` })
      .waitFor();

    await go(page, 'Load and capacity');
    const table = page.getByRole('table', { name: /Every clinician of the practice/ });
    const row = table.getByRole('row').filter({ hasText: nurseName });
    await row.getByRole('cell', { name: 'Offline, not connected' }).waitFor();
    for (const clinician of world.clinicians) await table.getByRole('row').filter({ hasText: clinician.displayName }).waitFor();
    await row.getByLabel(`Cap for ${nurseName}`).fill('3');
    await row.getByRole('button', { name: `Save caps for ${nurseName}` }).click();
    await page.getByRole('status').filter({ hasText: 'Saved.' }).waitFor();
    await row.getByText('0 of 3').waitFor();
  });

  it('highlights an urgent waiting conversation on the dashboard', async () => {
    for (const clinician of world.clinicians) await clinician.session.client.request('staff:availability', { availability: 'away' });
    const patient = await world.patient('Una Urgent');
    const conversationId = await openConversation(patient, 'admin');
    const marked = await patient.chat.client.request('conversation:urgent', { conversationId });
    expect(marked.ok).toBe(true);

    const alarm = page.getByRole('alert').filter({ hasText: 'An urgent conversation is waiting' });
    await alarm.waitFor();
    await alarm.getByText(/^Admin, waiting/).waitFor();
    expect(await page.getByRole('region', { name: 'Now' }).getByRole('definition').nth(1).textContent()).toBe('1');
  });

  it("draws the day's chart over hours 0–23 in the practice's time zone, with a legend a manager reads and a true caption", async () => {
    const chart = page.getByRole('figure');
    // The figures follow the queue: the urgent conversation above is counted within a second or two.
    await chart
      .locator('figcaption')
      .filter({ hasText: /^Conversations opened in each hour/ })
      .waitFor();
    const caption = (await chart.locator('figcaption').textContent())!;

    expect(caption).toMatch(/^Conversations opened in each hour of today, 0:00 to 23:00 [A-Za-z_/]+ time: \d+ in all, most at \d{1,2}:00 \(\d+\)\./);
    expect(await chart.getByRole('list', { name: 'Chart legend' }).getByRole('listitem').allTextContents()).toEqual([
      ' Blue bars: conversations opened in the hour (left scale)',
      ' Red line: median wait before a clinician took them, in minutes (right scale)',
    ]);
    // uPlot's own legend (raw series values) is not drawn.
    expect(await chart.locator('.u-legend').count()).toBe(0);
    // The x axis is fixed to the day: nothing drawn past 23:00 however few hours have data.
    await page.evaluate(() => {
      const drawn: string[] = ((window as unknown as { drawn: string[] }).drawn = []);
      const original = CanvasRenderingContext2D.prototype.fillText;
      CanvasRenderingContext2D.prototype.fillText = function (text, ...rest) {
        drawn.push(String(text));
        return original.call(this, text, ...rest);
      };
    });
    // A new width redraws the chart.
    await page.setViewportSize({ width: 1000, height: 800 });
    await waitUntil(async () => (await page.evaluate(() => (window as unknown as { drawn: string[] }).drawn.length)) > 0, 'the chart to be drawn again');
    const hourLabels = (await page.evaluate(() => (window as unknown as { drawn: string[] }).drawn)).filter((label) => /^\d+:00$/.test(label));
    expect([...new Set(hourLabels)]).toEqual(['0:00', '3:00', '6:00', '9:00', '12:00', '15:00', '18:00', '21:00']);
  });

  it("shows the audit log in words: people's names, readable details, and filters by a person's name", async () => {
    await go(page, 'Audit log');
    const log = page.getByRole('table', { name: /Audit events/ });
    await page.getByLabel('Done by (name or part of it)').fill(world.manager.displayName.split(' ').at(-1)!.toUpperCase());
    await page.getByRole('combobox', { name: 'Action' }).selectOption({ label: 'Admitted a device' });
    await page.getByRole('button', { name: 'Show events' }).click();

    for (const clinician of world.clinicians) {
      const row = log.getByRole('row').filter({ hasText: `of ${clinician.displayName} as ${clinician.roles.join(', ')}` });
      await row.getByRole('cell', { name: 'Admitted a staff device' }).waitFor();
      await row.getByRole('cell', { name: world.manager.displayName, exact: true }).waitFor();
    }
    await page.getByLabel('Done by (name or part of it)').fill('');
    await page.getByLabel('Patient (name or part of it)').fill('una urg');
    await page.getByRole('combobox', { name: 'Action' }).selectOption('');
    await page.getByRole('button', { name: 'Show events' }).click();
    const urgent = log.getByRole('row').filter({ hasText: 'Conversation marked urgent' });
    await urgent.getByRole('cell', { name: 'Una Urgent', exact: true }).first().waitFor();
    await log.getByRole('row').filter({ hasText: 'Opened a conversation' }).getByRole('cell', { name: 'Topic: Admin' }).waitFor();
    // Details are words: no raw JSON, and no user id where a name belongs.
    const text = (await log.textContent())!;
    expect(text).not.toMatch(/[{}"]/);
    for (const person of [world.manager, ...world.clinicians]) expect(text).not.toContain(person.userId);
    expect(await accessibilityViolations(page)).toEqual([]);
  });

  it('shows every manager screen at 320 px without horizontal scrolling and with no accessibility violation', async () => {
    await page.setViewportSize({ width: 320, height: 800 });
    for (const screen of [
      'Load and capacity',
      'Conversations',
      'Follow-ups',
      'Find or invite a patient',
      'Staff',
      'Practice settings',
      'Audit log',
      'Key backup',
    ]) {
      await go(page, screen);
      await page.getByRole('heading', { level: 1 }).first().waitFor();
      await waitUntil(
        async () => page.evaluate(() => document.documentElement.scrollWidth <= document.documentElement.clientWidth),
        `no horizontal scroll on "${screen}" (too wide: ${await page.evaluate(() =>
          [...document.querySelectorAll('main *')]
            .filter((element) => element.getBoundingClientRect().right > document.documentElement.clientWidth + 1)
            .slice(-5)
            .map((element) => `${element.tagName} "${element.textContent?.slice(0, 40)}"`)
            .join('; '),
        )})`,
        5_000,
      );
      expect([screen, await accessibilityViolations(page)]).toEqual([screen, []]);
    }
    // Stacked rows keep their table semantics for a screen reader.
    await go(page, 'Load and capacity');
    expect(
      await page
        .getByRole('table', { name: /Every clinician of the practice/ })
        .getByRole('cell')
        .count(),
    ).toBeGreaterThan(0);
  });

  it('signs out: the session is gone after a reload, the practice code and e-mail address are filled in', async () => {
    // The app forgets the kept session, then closes its socket and tells the server: reload once the server was told, not
    // while the forgetting may still be under way (a reload then can find the session still kept, and resume it).
    const signedOut = page.waitForResponse((response) => response.url().endsWith('/api/auth/sign-out'));
    await page.getByRole('button', { name: 'Sign out' }).click();
    expect((await signedOut).status()).toBe(204);
    await page.reload();

    await page.getByRole('button', { name: 'Sign in' }).waitFor();
    expect(await page.getByLabel('Practice code').inputValue()).toBe(world.odsCode);
    expect(await page.getByLabel('E-mail address').inputValue()).toBe(world.manager.email);
    expect(await page.getByLabel('Passphrase').inputValue()).toBe('');
  });

  it('signs out after five wrong passphrases on the lock screen, counting across a reload', async () => {
    await signInThroughPage(page, world.url, world.odsCode, world.manager);
    await page.clock.fastForward('03:05');
    const lock = page.getByRole('form', { name: 'The console is locked' });
    const attempt = async (left: number) => {
      await lock.getByLabel('Passphrase').fill(`a wrong passphrase, ${left} left`);
      await lock.getByRole('button', { name: 'Unlock' }).click();
    };

    for (const left of [4, 3]) {
      await attempt(left);
      await lock
        .getByRole('alert')
        .filter({ hasText: `${left} tries left before you are signed out.` })
        .waitFor({ timeout: 60_000 });
    }
    await page.reload();
    await attempt(2);
    await lock.getByRole('alert').filter({ hasText: '2 tries left' }).waitFor({ timeout: 60_000 });
    await attempt(1);
    await lock.getByRole('alert').filter({ hasText: '1 try left' }).waitFor({ timeout: 60_000 });
    await attempt(0);

    await page.getByRole('alert').filter({ hasText: 'Too many wrong passphrases: you were signed out.' }).waitFor({ timeout: 60_000 });
    await page.reload();
    await page.getByRole('button', { name: 'Sign in' }).waitFor();
  });

  it('runs under the strict content security policy without a violation', () => {
    expect(consoleErrors).toEqual([]);
  });

  // After the policy check: the refused sign-ins below log failed requests to the console.
  it('says how long to wait when sign-in failures have made the account wait (rate_limited, retryAfterSeconds)', async () => {
    // Signed out above, with this browser's device keys kept: no key file is needed to try the passphrase.
    await page.getByLabel('Practice code').fill(world.odsCode);
    await page.getByLabel('E-mail address').fill(world.manager.email);
    let status = 0;
    for (let attempt = 1; attempt <= 8 && status !== 429; attempt += 1) {
      await page.getByLabel('Passphrase').fill(`not the passphrase ${attempt}`);
      const answer = page.waitForResponse((response) => response.url().endsWith('/api/auth/sign-in'), { timeout: 60_000 });
      await page.getByRole('button', { name: 'Sign in' }).click();
      status = (await answer).status();
    }

    expect(status).toBe(429);
    await page
      .getByRole('alert')
      .filter({ hasText: /^Too many attempts\. Try again in \d+ (second|seconds|minute|minutes)\.$/ })
      .waitFor();
  });
});
