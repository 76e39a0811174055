import type { Browser, BrowserContext, Page } from 'playwright-core';
import { launchChromium } from '@parley/testing';
import type { HoursView } from '@parley/protocol';
import { startPractice, type TestPractice } from './practice.js';
import { checkScreen, createAccount, PHONE, unlock } from './screens.js';

const PASSPHRASE = 'harbour violin copper meadow orbit lantern';
const ZONE = 'Europe/London';

/** The UTC instant of `hh:mm` London time on the first Friday at least two days after today (in winter or summer time). */
function nextFridayAt(hours: number, minutes: number): Date {
  const day = new Date();
  day.setUTCDate(day.getUTCDate() + 2);
  while (day.getUTCDay() !== 5) day.setUTCDate(day.getUTCDate() + 1);
  for (const offsetHours of [0, 1]) {
    const candidate = new Date(Date.UTC(day.getUTCFullYear(), day.getUTCMonth(), day.getUTCDate(), hours - offsetHours, minutes));
    const local = new Intl.DateTimeFormat('en-GB', { timeZone: ZONE, hour: '2-digit', minute: '2-digit' }).format(candidate);
    if (local === `${String(hours).padStart(2, '0')}:${String(minutes).padStart(2, '0')}`) return candidate;
  }
  throw new Error('no such London time');
}

/** "on Monday 30 November at 08:00", as the app words an opening that is not today or tomorrow. */
function wordedOpening(iso: string): string {
  const date = new Date(iso);
  const time = new Intl.DateTimeFormat('en-GB', { hour: '2-digit', minute: '2-digit', timeZone: ZONE }).format(date);
  return `on ${new Intl.DateTimeFormat('en-GB', { weekday: 'long', day: 'numeric', month: 'long', timeZone: ZONE }).format(date)} at ${time}`;
}

/**
 * Opening hours with a moved clock: the gateway (PARLEY_TEST_CLOCK) and the browser (Playwright's
 * clock) both run from a Friday at 18:20 London time, with a Monday-to-Friday 08:00–18:30 schedule.
 * Sessions are issued on the real clock, so they last 30 days here: the app must not think the
 * session it was just given has expired on the browser's Friday.
 * The patient sees "closing soon", starts a conversation inside the cut-off, then, once the practice
 * has closed, the closing notice, a clear `outside_hours` refusal with nothing typed lost, and the
 * closed view with Monday's opening; then, a month on, the expired session.
 */
describe('patient app: opening hours on a moved clock (Chromium, real gateway and database)', () => {
  const friday = nextFridayAt(18, 20);
  let practice: TestPractice;
  let browser: Browser;
  let phone: BrowserContext;
  let page: Page;

  beforeAll(async () => {
    [practice, browser] = await Promise.all([
      startPractice({
        terms: 'Online messages are for non-urgent matters only.',
        env: { NODE_ENV: 'test', PARLEY_TEST_CLOCK: friday.toISOString(), SESSION_TTL_HOURS: '720' },
      }),
      launchChromium(),
    ]);
    const weekdays = [1, 2, 3, 4, 5].map((weekday) => ({ weekday, start: '08:00', end: '18:30' }));
    await practice.asManager('PUT', '/api/hours/settings', { timeZone: ZONE, closingSoonMinutes: 15, cutoffMinutes: 5 });
    await practice.asManager('PUT', '/api/hours/weekly', { intervals: weekdays });
    phone = await browser.newContext({ viewport: PHONE });
    await phone.clock.install({ time: friday });
    page = await phone.newPage();
    await page.goto(`${practice.url}/`);
  });

  afterAll(async () => {
    await browser?.close();
    await practice?.close();
  });

  it('shows "closing soon" with the closing time on a Friday at 18:20, and still takes a new conversation', async () => {
    await createAccount(page, practice, PASSPHRASE);
    await page.getByLabel('I have read and accept these terms').check({ timeout: 30_000 });
    await page.getByRole('button', { name: 'Accept and continue' }).click();

    await page.getByText('The practice is open, but closing soon.').waitFor();
    await page.getByText('It closes today at 18:30.').waitFor();
    expect(await checkScreen(page, 'hours-01-closing-soon')).toEqual({ violations: [], overflow: 0 });

    await page.getByRole('group', { name: 'What is it about?' }).getByRole('radio').first().check();
    await page.getByRole('button', { name: 'Start conversation' }).click();
    await page.getByText('Waiting for a clinician.').waitFor({ timeout: 30_000 });
  });

  it("posts the closing notice with Monday's opening when the practice closes, and refuses a message with outside_hours, keeping its text", async () => {
    // The practice closes early today: Friday's hours end at 18:00 now, so it is closed at once.
    const weekdays = [1, 2, 3, 4].map((weekday) => ({ weekday, start: '08:00', end: '18:30' }));
    await practice.asManager('PUT', '/api/hours/weekly', { intervals: [...weekdays, { weekday: 5, start: '08:00', end: '18:00' }] });
    const { status } = (await practice.asManager('GET', '/api/hours')) as HoursView;
    expect(status.state).toBe('closed');
    expect(new Intl.DateTimeFormat('en-GB', { weekday: 'long', timeZone: ZONE }).format(new Date(status.nextOpening!))).toMatch(/^(Monday|Tuesday)$/);
    const opening = wordedOpening(status.nextOpening!);

    await page.getByText(`The practice has now closed for online messages. It opens again ${opening}.`).waitFor();
    const text = 'Can I still ask about my prescription?';
    await page.getByLabel('Your message').fill(text);
    await page.getByRole('button', { name: 'Send', exact: true }).click();

    const alert = page.getByRole('alert').filter({ hasText: 'Your message was not sent' });
    await alert.waitFor();
    // In the app's words, from the refusal's details.nextOpening.
    expect(await alert.textContent()).toMatch(/^Your message was not sent: the practice is closed for online messages\. .*111.*999/);
    expect(await alert.textContent()).toContain(`It opens again ${opening}.`);
    expect(await page.getByLabel('Your message').inputValue()).toBe(text);
    expect(await page.getByRole('list', { name: 'Messages' }).getByText(text).count()).toBe(0);
    expect(await checkScreen(page, 'hours-02-outside-hours')).toEqual({ violations: [], overflow: 0 });
  });

  it('shows the closed view on home with the next opening, and offers no new conversation', async () => {
    const { status } = (await practice.asManager('GET', '/api/hours')) as HoursView;
    await page.getByRole('button', { name: 'Back to home' }).click();

    await page.getByText('The practice is closed for online messages.').waitFor();
    await page.getByText(`It opens again ${wordedOpening(status.nextOpening!)}.`).waitFor();
    await page.getByText('You can start a conversation while the practice is open.').waitFor();
    expect(await page.getByRole('button', { name: 'Start conversation' }).count()).toBe(0);
    expect(await checkScreen(page, 'hours-03-closed')).toEqual({ violations: [], overflow: 0 });
  });

  it("says the session has ended once it expired, and the passphrase brings the patient back with this device's keys", async () => {
    // 31 days on, the 30-day session has expired: the app says so instead of failing on every request.
    await phone.clock.setSystemTime(new Date(friday.getTime() + 31 * 24 * 3_600_000));
    await page.reload();
    await unlock(page, PASSPHRASE);
    await page.getByText('Your session has ended. Please sign in again.').waitFor();
    expect(await page.getByText('You are offline.').count()).toBe(0);
    expect(await page.getByLabel('Practice code').inputValue()).toBe(practice.odsCode);
    expect(await checkScreen(page, 'hours-04-session-ended')).toEqual({ violations: [], overflow: 0 });

    // Back on the Friday (the new session is issued on the real clock again), the passphrase is enough.
    await phone.clock.setSystemTime(new Date(friday.getTime() + 60_000));
    await page.getByLabel('NHS number').fill(practice.credentials.patient.nhsNumber);
    await page.getByLabel('Passphrase', { exact: true }).fill(PASSPHRASE);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('heading', { name: /^Hello/ }).waitFor({ timeout: 30_000 });
    await page.getByText('The practice is closed for online messages.').waitFor();
  });
});
