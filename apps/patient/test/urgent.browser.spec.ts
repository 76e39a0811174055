import type { Browser, BrowserContext, Page } from 'playwright-core';
import { launchChromium } from '@parley/testing';
import { eventually, follow, startPractice, type TestPractice } from './practice.js';
import { checkScreen, createAccount, PHONE } from './screens.js';

const PASSPHRASE = 'violin meadow orbit copper harbour lantern';

/**
 * The patient's side of the practice's safety rules (issue #14 points 1, 4, 5 and 6), in Chromium against a
 * real gateway: an honest wait, a red-flag message sent after the 999/111 advice that reaches staff marked
 * and raises the conversation's priority, per-patient limits that say where to go instead, and closing time
 * that refuses a waiting conversation's message with when a reply will come.
 */
describe('patient app: urgent messages, limits and closing time (Chromium, real gateway, database and sdk clinician)', () => {
  let practice: TestPractice;
  let browser: Browser;
  let phone: BrowserContext;
  let page: Page;
  let urgentId = '';
  const consoleErrors: string[] = [];
  const topics = () => page.getByRole('group', { name: 'What is it about?' }).getByRole('radio');
  const backHome = async () => {
    await page.getByRole('button', { name: '← Back to home' }).click();
    await page.getByRole('heading', { name: /^Hello/ }).waitFor();
  };
  const setLimits = (limits: { maxOpenPerPatient: number | null; maxNewPerPatientPerDay: number | null }) =>
    practice.asManager('PUT', '/api/practice/patient-limits', limits);

  beforeAll(async () => {
    [practice, browser] = await Promise.all([startPractice(), launchChromium()]);
    phone = await browser.newContext({ viewport: PHONE });
    page = await phone.newPage();
    page.on('console', (message) => message.type() === 'error' && consoleErrors.push(message.text()));
    page.on('pageerror', (error) => consoleErrors.push(`uncaught: ${error.message}`));
    await setLimits({ maxOpenPerPatient: null, maxNewPerPatientPerDay: null });
    await page.goto(`${practice.url}/`);
    await createAccount(page, practice, PASSPHRASE);
    await page.getByRole('heading', { name: /^Hello/ }).waitFor({ timeout: 30_000 });
  });

  afterAll(async () => {
    await browser?.close();
    await practice?.close();
  });

  it('says plainly that it cannot say how long the wait is while no clinician is available', async () => {
    await topics().first().check();
    await page.getByRole('button', { name: 'Start conversation' }).click();
    await page.getByText('Waiting for a clinician.').waitFor({ timeout: 30_000 });

    await page.getByText('You are number 1 in the queue. No clinician is free right now, so we cannot say how long it will be.').waitFor();
    expect(await page.getByText(/next working session|Expected wait: about 10 minutes/).count()).toBe(0);
    urgentId = (await practice.manager.session.listConversations())[0]!.id;
  });

  it('sends a red-flag message after the 999/111 advice with the groups it matched, and tells the practice it may be urgent', async () => {
    const text = 'I have crushing chest pain and feel sick';
    await page.getByLabel('Your message').fill(text);
    await page.getByRole('button', { name: 'Send', exact: true }).click();
    await page
      .getByRole('alertdialog', { name: 'This may need urgent help' })
      .getByRole('button', { name: /send my message/ })
      .click();

    const told = page.getByRole('status').filter({ hasText: 'The practice has been told this may be urgent' });
    await told.waitFor({ timeout: 30_000 });
    expect(await told.getByRole('link', { name: '999' }).getAttribute('href')).toBe('tel:999');
    expect(await told.getByRole('link', { name: '111' }).getAttribute('href')).toBe('tel:111');
    expect(await page.getByRole('complementary', { name: 'If it is urgent' }).isVisible()).toBe(true);
    expect(await checkScreen(page, 'urgent-01-told')).toEqual({ violations: [], overflow: 0 });

    // Staff read the screening from inside the encrypted message; the server saw only the urgent mark.
    await follow(practice.clinician, urgentId);
    await eventually(() => practice.clinician.bodies().includes(text), 'the clinician has the message');
    const message = practice.clinician.entries.find((entry) => entry.ok && entry.value.kind === 'message' && entry.value.body === text);
    expect(message?.ok && message.value.kind === 'message' ? message.value.redFlags : null).toEqual(['chest_pain']);
    const listed = await practice.manager.session.listConversations();
    expect(listed.find((conversation) => conversation.id === urgentId)?.urgentAt).toEqual(expect.any(String));
  });

  it("refuses a second open conversation beyond the practice's limit, pointing to the open one, the phone, 111 and 999", async () => {
    await setLimits({ maxOpenPerPatient: 1, maxNewPerPatientPerDay: null });
    await backHome();
    await topics().nth(1).check();
    await page.getByRole('button', { name: 'Start conversation' }).click();

    const alert = page.getByRole('alert').filter({ hasText: 'You already have a conversation open with the practice.' });
    await alert.waitFor({ timeout: 30_000 });
    expect(await alert.textContent()).toMatch(/(carry on|continue) in that one|continue there/);
    expect(await alert.textContent()).toMatch(/phone the practice.*111.*999/);
    expect(await checkScreen(page, 'urgent-02-open-limit')).toEqual({ violations: [], overflow: 0 });
  });

  it('refuses a new conversation beyond the daily limit, pointing to the phone, 111 and 999', async () => {
    await setLimits({ maxOpenPerPatient: null, maxNewPerPatientPerDay: 1 });
    await page.getByRole('button', { name: 'Start conversation' }).click();

    const alert = page.getByRole('alert').filter({ hasText: 'today' });
    await alert.waitFor({ timeout: 30_000 });
    expect(await alert.textContent()).toMatch(/today.*phone the practice.*111.*999/);
  });

  it('after closing, refuses a message in a waiting conversation saying when a reply will come, keeping the text', async () => {
    await setLimits({ maxOpenPerPatient: null, maxNewPerPatientPerDay: null });
    await page.getByRole('button', { name: 'Start conversation' }).click();
    await page.getByText('Waiting for a clinician.').waitFor({ timeout: 30_000 });
    const today = new Intl.DateTimeFormat('en-CA', { timeZone: 'Europe/London' }).format(new Date());
    await practice.asManager('PUT', `/api/hours/exceptions/${today}`, { label: 'Closed early', intervals: [] });
    await page.getByText('The practice has now closed for online messages.', { exact: false }).waitFor();

    const waiting = 'Is my blood test back?';
    await page.getByLabel('Your message').fill(waiting);
    await page.getByRole('button', { name: 'Send', exact: true }).click();
    const refusal = page.getByRole('alert').filter({ hasText: 'Your message was not sent' });
    await refusal.waitFor();
    // When a reply will come: in the app's words from details.nextOpening, or the gateway's own when the details do not reach it.
    expect(await refusal.textContent()).toMatch(/(opens again|next opens) (today|tomorrow|on) /);
    expect(await refusal.textContent()).toMatch(/clinician (should|will) reply after/);
    expect(await page.getByLabel('Your message').inputValue()).toBe(waiting);
    expect(await checkScreen(page, 'urgent-03-waiting-after-closing')).toEqual({ violations: [], overflow: 0 });
  });

  it('never broke the content security policy or logged an error', () => {
    expect(consoleErrors).toEqual([]);
  });
});
