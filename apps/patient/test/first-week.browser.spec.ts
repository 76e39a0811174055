import type { Browser, BrowserContext, Page } from 'playwright-core';
import { launchChromium } from '@parley/testing';
import { eventually, follow, startPractice, type TestPractice } from './practice.js';
import { checkScreen, PHONE, unlock } from './screens.js';

const PASSPHRASE = 'copper lantern harbour meadow violin orbit';
const NEUTRAL_URL = 'https://www.bbc.co.uk/weather';

/** Counts the tones the app starts (the chime makes two per new message), by wrapping WebAudio before the app loads. */
function countTones(): void {
  const counted = globalThis as unknown as { __tones: number };
  counted.__tones = 0;
  const original = AudioContext.prototype.createOscillator;
  AudioContext.prototype.createOscillator = function (this: AudioContext) {
    counted.__tones += 1;
    return original.call(this);
  };
}
const tones = (page: Page) => page.evaluate(() => (globalThis as unknown as { __tones: number }).__tones);

/**
 * What a patient met in a practice's first week (issue #14 points 7 to 11), in Chromium against a real gateway:
 * activation that says how to sign in again with true step counts, terms that keep the chosen topic, unread
 * counts with a tab title and a sound that can be turned off, a lock and quick exit that hide the patient,
 * and, on a second device, the patient's own earlier messages as "You", the idle lock's words and a prefilled sign-in.
 */
describe('patient app: the first week (Chromium, real gateway, database and sdk clinician)', () => {
  let practice: TestPractice;
  let browser: Browser;
  let phone: BrowserContext;
  let page: Page;
  let conversationId = '';
  const firstMessage = 'My repeat prescription ran out yesterday';
  const consoleErrors: string[] = [];
  const watch = (target: Page) => {
    target.on('console', (message) => message.type() === 'error' && !/status of 401/.test(message.text()) && consoleErrors.push(message.text()));
    target.on('pageerror', (error) => consoleErrors.push(`uncaught: ${error.message}`));
  };
  const home = () => page.getByRole('heading', { name: /^Hello/ });
  const openConversation = () => page.getByRole('region', { name: 'Your open conversations' }).getByRole('button');

  beforeAll(async () => {
    [practice, browser] = await Promise.all([startPractice({ terms: 'Online messages are for non-urgent matters only.' }), launchChromium()]);
    phone = await browser.newContext({ viewport: PHONE });
    await phone.addInitScript(countTones);
    await phone.route(`${NEUTRAL_URL}**`, (route) =>
      route.fulfill({ body: '<!doctype html><title>Weather</title><h1>Weather</h1>', contentType: 'text/html' }),
    );
    page = await phone.newPage();
    watch(page);
    await page.goto(`${practice.url}/`);
  });

  afterAll(async () => {
    await browser?.close();
    await practice?.close();
  });

  it('activates in two numbered steps, with a practice-code hint that fits real codes, and says exactly what signing in again needs', async () => {
    await page.getByRole('button', { name: 'I have an invitation code' }).click();
    await page.getByText('Step 1 of 2').waitFor();
    expect(await page.getByText(/for example A81001 or Y02345/).count()).toBe(1);
    await page.getByLabel('Practice code').fill(practice.odsCode);
    await page.getByLabel('Invitation code').fill(practice.patientCode);
    await page.getByLabel('Date of birth').fill(practice.credentials.patient.dateOfBirth);
    await page.getByRole('button', { name: 'Continue' }).click();
    await page.getByRole('heading', { name: 'Choose your passphrase' }).waitFor({ timeout: 30_000 });

    expect(await page.getByText('Step 2 of 2').count()).toBe(1);
    const help = page.getByRole('region', { name: 'How to sign in again' });
    expect(await help.textContent()).toContain(`your practice code: ${practice.odsCode}`);
    expect(await help.textContent()).toContain('your NHS number');
    expect(await help.textContent()).toContain('the passphrase you choose here');
    expect(await checkScreen(page, 'week-01-activate-sign-in-help')).toEqual({ violations: [], overflow: 0 });

    await page.getByLabel('Passphrase', { exact: true }).fill(PASSPHRASE);
    await page.getByLabel('I have written my passphrase down').check();
    await page.getByRole('button', { name: 'Create my account' }).click();
    await page.getByRole('heading', { name: "Your practice's terms" }).waitFor({ timeout: 30_000 });
    expect(await page.getByText(/Step \d of \d/).count()).toBe(0);
    await page.getByLabel('I have read and accept these terms').check();
    await page.getByRole('button', { name: 'Accept and continue' }).click();
    await home().waitFor();
    expect(await page.getByRole('region', { name: 'How to sign in again' }).textContent()).toContain(practice.odsCode);
  });

  it('keeps the topic the patient chose while they accept terms the practice published meanwhile', async () => {
    await practice.asManager('POST', '/api/practice/terms', { text: 'New terms: online messages are read within one working day.' });
    const topics = page.getByRole('group', { name: 'What is it about?' }).getByRole('radio');
    await topics.nth(1).check();
    const chosen = await topics.nth(1).getAttribute('value');
    await page.getByRole('button', { name: 'Start conversation' }).click();
    await page.getByText('New terms: online messages are read within one working day.').waitFor({ timeout: 30_000 });
    await page.getByLabel('I have read and accept these terms').check();
    await page.getByRole('button', { name: 'Accept and continue' }).click();

    await home().waitFor();
    const checked = page.getByRole('group', { name: 'What is it about?' }).getByRole('radio', { checked: true });
    expect(await checked.getAttribute('value')).toBe(chosen);
    await page.getByRole('button', { name: 'Start conversation' }).click();
    await page.getByText('Waiting for a clinician.').waitFor({ timeout: 30_000 });
    conversationId = (await practice.manager.session.listConversations())[0]!.id;
  });

  it('counts replies that arrive on the home screen: per conversation, in the tab title (a number only), with a gentle sound', async () => {
    await page.getByLabel('Your message').fill(firstMessage);
    await page.getByRole('button', { name: 'Send', exact: true }).click();
    await page.getByRole('listitem').filter({ hasText: firstMessage }).locator('[data-mark="sent"], [data-mark="delivered"]').waitFor();
    await practice.clinician.session.setAvailability('available');
    await practice.clinician.session
      .conversation(conversationId)
      .claim()
      .catch(() => undefined);
    await follow(practice.clinician, conversationId);
    await page.getByText(`You are talking with ${practice.clinician.displayName}`).waitFor();
    await page.getByRole('button', { name: '← Back to home' }).click();
    await home().waitFor();
    const tonesBefore = await tones(page);

    await practice.clinician.session.conversation(conversationId).send('Which medicine is it?');
    await openConversation().filter({ hasText: '1 new message' }).waitFor();
    await practice.clinician.session.conversation(conversationId).send('And which pharmacy do you use?');
    await openConversation().filter({ hasText: '2 new messages' }).waitFor();

    expect(await page.title()).toBe('(2) Home – Parley');
    await eventually(async () => (await tones(page)) > tonesBefore, 'the chime played');
    expect(await checkScreen(page, 'week-02-home-unread')).toEqual({ violations: [], overflow: 0 });
    await openConversation().click();
    await page.getByRole('list', { name: 'Messages' }).getByText('And which pharmacy do you use?').waitFor();
    expect(await page.title()).toBe('Conversation – Parley');
    await page.getByRole('button', { name: '← Back to home' }).click();
    await home().waitFor();
    expect(await openConversation().textContent()).not.toContain('new message');
    expect(await page.title()).toBe('Home – Parley');
  });

  it('remembers on the device that the patient turned the sound off', async () => {
    await page.getByLabel('Play a sound when a new message arrives').uncheck();
    await page.reload();
    await unlock(page, PASSPHRASE);
    await home().waitFor({ timeout: 30_000 });
    expect(await page.getByLabel('Play a sound when a new message arrives').isChecked()).toBe(false);
    // A tap on the page would let the chime play: it must stay quiet by choice, not because the browser blocked it.
    await home().click();
    await openConversation().waitFor();

    await practice.clinician.session.conversation(conversationId).send('I have sent it to your pharmacy.');
    await openConversation().filter({ hasText: '1 new message' }).waitFor();
    expect(await tones(page)).toBe(0);
    expect(await page.title()).toBe('(1) Home – Parley');
  });

  it('"Lock now" says the patient locked it (not offline), stays locked after a reload, and a wrong passphrase\'s error goes once unlocked', async () => {
    await page.getByRole('button', { name: 'Lock now' }).click();
    await page.getByRole('heading', { name: 'Parley is locked' }).waitFor();
    await page.getByText('You locked Parley. Enter your passphrase to carry on.').waitFor();
    expect(await page.getByText('You are offline').count()).toBe(0);
    expect(await page.getByText('locked itself').count()).toBe(0);
    expect(await page.title()).toBe('Locked – Parley');

    await page.reload();
    await page.getByRole('heading', { name: 'Parley is locked' }).waitFor();
    expect(await page.getByText(practice.credentials.patient.displayName).count()).toBe(0);
    expect(await checkScreen(page, 'week-03-locked-by-patient')).toEqual({ violations: [], overflow: 0 });
    await page.getByLabel('Passphrase').fill('not the right passphrase');
    await page.getByRole('button', { name: 'Unlock' }).click();
    await page.getByRole('alert').filter({ hasText: 'passphrase is not right' }).waitFor({ timeout: 30_000 });
    await page.getByLabel('Passphrase').fill(PASSPHRASE);
    await page.getByRole('button', { name: 'Unlock' }).click();

    await home().waitFor({ timeout: 30_000 });
    expect(await page.getByText('passphrase is not right').count()).toBe(0);
  });

  it('locks on "Leave this site": reopening the site shows neither the patient\'s name nor their conversations', async () => {
    await openConversation().waitFor();
    await page.getByRole('button', { name: 'Leave this site' }).click();
    await page.waitForURL(`${NEUTRAL_URL}**`);
    await page.close();

    page = await phone.newPage();
    watch(page);
    await page.goto(`${practice.url}/`);
    await page.getByRole('heading', { name: 'Parley is locked' }).waitFor({ timeout: 30_000 });
    await page.getByText('Parley was locked when you left the site.').waitFor();
    expect(await page.getByText(practice.credentials.patient.displayName).count()).toBe(0);
    expect(await page.getByText('Your open conversations').count()).toBe(0);
    expect(await page.getByText('You are offline').count()).toBe(0);

    await page.getByLabel('Passphrase').fill(PASSPHRASE);
    await page.getByRole('button', { name: 'Unlock' }).click();
    await home().waitFor({ timeout: 30_000 });
  });

  describe('on a second device', () => {
    let laptop: BrowserContext;
    let other: Page;

    beforeAll(async () => {
      laptop = await browser.newContext({ viewport: PHONE });
      other = await laptop.newPage();
      watch(other);
      // A fake clock (that still runs) lets the test move past the idle time and the session's end.
      await other.clock.install();
      await other.goto(`${practice.url}/`);
    });

    afterAll(async () => {
      await laptop?.close();
    });

    it('shows the patient\'s messages from the other device on the right as "You", with receipts, and counts none of them unread', async () => {
      await other.getByRole('button', { name: 'Sign in' }).click();
      await other.getByLabel('Practice code').fill(practice.odsCode);
      await other.getByLabel('NHS number').fill(practice.credentials.patient.nhsNumber);
      await other.getByLabel('Passphrase').fill(PASSPHRASE);
      await other.getByRole('button', { name: 'Sign in' }).click();
      await other.getByRole('heading', { name: /^Hello/ }).waitFor({ timeout: 30_000 });
      const listed = other.getByRole('region', { name: 'Your open conversations' }).getByRole('button');
      // The reply the phone never showed is unread here too; the two it showed, and the patient's own message, are not.
      await listed.filter({ hasText: '1 new message' }).waitFor({ timeout: 30_000 });
      await listed.click();

      const mine = other.getByRole('list', { name: 'Messages' }).getByRole('listitem').filter({ hasText: firstMessage });
      await mine.waitFor({ timeout: 30_000 });
      expect(await mine.getByText('You', { exact: true }).count()).toBe(1);
      expect(await mine.getByText(practice.credentials.patient.displayName).count()).toBe(0);
      expect(await mine.getAttribute('class')).toContain('mine');
      await mine.locator('[data-mark="delivered"], [data-mark="read"]').waitFor();
      expect(await checkScreen(other, 'week-04-own-messages-other-device')).toEqual({ violations: [], overflow: 0 });
    });

    it('says the idle lock locked Parley after the chosen minutes without use', async () => {
      await other.clock.runFor('06:00');

      await other.getByRole('heading', { name: 'Parley is locked' }).waitFor();
      expect(await other.getByText('For your privacy, Parley locked itself after 5 minutes without use.').count()).toBe(1);
      await other.getByLabel('Passphrase').fill(PASSPHRASE);
      await other.getByRole('button', { name: 'Unlock' }).click();
      await other.getByRole('heading', { name: /^Hello/ }).waitFor({ timeout: 30_000 });
    });

    it('fills in the practice code and NHS number when the remembered device must sign in again', async () => {
      await other.clock.setSystemTime(new Date(Date.now() + 31 * 24 * 3_600_000));
      await other.reload();
      // The device lock opens on the device, without the server: only then does the app learn the session ended.
      await unlock(other, PASSPHRASE);

      await other.getByText('Your session has ended. Please sign in again.').waitFor({ timeout: 30_000 });
      expect(await other.getByLabel('Practice code').inputValue()).toBe(practice.odsCode);
      expect(await other.getByLabel('NHS number').inputValue()).toBe(practice.credentials.patient.nhsNumber);
    });
  });

  it('never broke the content security policy or logged an error', () => {
    expect(consoleErrors).toEqual([]);
  });
});
