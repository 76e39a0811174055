import type { Browser, BrowserContext, Page } from 'playwright-core';
import { launchChromium, startTcpProxy, type TcpProxy } from '@parley/testing';
import { generateInvitationCode, ready } from '@parley/crypto';
import { eventually, follow, startPractice, type TestPractice } from './practice.js';
import { checkScreen, PHONE, readVault, secretKeyPaths, unlock } from './screens.js';

const TERMS = 'Online messages are for non-urgent matters only.\n\nEvery message becomes part of your medical record.';
const PASSPHRASE = 'lantern orbit meadow copper violin harbour';
const NEUTRAL_URL = 'https://www.bbc.co.uk/weather';

/**
 * The patient's whole journey in Chromium against a real gateway and database, with the clinician
 * and manager driven through @parley/sdk: activation, terms, home, a conversation with the red-flag
 * panel, receipts and typing, offline sending, the closing notice and closed-hours view, history,
 * sign-in on a new device, the privacy lock, quick exit and signing out everywhere.
 * The steps share one gateway and browser, and run in order.
 */
describe('patient app: the whole journey (Chromium, real gateway, database and sdk clinician)', () => {
  let practice: TestPractice;
  let proxy: TcpProxy;
  let browser: Browser;
  let phone: BrowserContext;
  let page: Page;
  let conversationId = '';
  // Wrong passphrases and ended sessions are answered 401 on purpose, and offline requests fail: the browser logs those.
  // Anything else (a CSP refusal, an uncaught error) is a bug.
  const EXPECTED_ERRORS = /status of 401|net::ERR_INTERNET_DISCONNECTED|WebSocket connection to .* failed/;
  const consoleErrors: string[] = [];
  /** Takes the phone off the network (browser and TCP), then types and sends `text`: it waits in the outbox. */
  const sendWhileOffline = async (text: string) => {
    await phone.setOffline(true);
    proxy.cut();
    await page.getByText('You are offline.').waitFor();
    await page.getByLabel('Your message').fill(text);
    await page.getByRole('button', { name: 'Send', exact: true }).click();
    await page.getByRole('listitem').filter({ hasText: text }).getByText('· Waiting to send').waitFor();
  };
  const watch = (target: Page) => {
    target.on('console', (message) => message.type() === 'error' && !EXPECTED_ERRORS.test(message.text()) && consoleErrors.push(message.text()));
    target.on('pageerror', (error) => consoleErrors.push(`uncaught: ${error.message}`));
  };

  const anotherCode = () => generateInvitationCode();

  beforeAll(async () => {
    await ready();
    [practice, browser] = await Promise.all([startPractice({ terms: TERMS }), launchChromium()]);
    // The page is served through a TCP proxy, so the test can cut the phone's connection for real.
    proxy = await startTcpProxy({ target: { host: '127.0.0.1', port: practice.gateway.port } });
    phone = await browser.newContext({ viewport: PHONE });
    // Quick exit leaves for a neutral site; answer it locally (this machine has no internet).
    await phone.route(`${NEUTRAL_URL}**`, (route) =>
      route.fulfill({ body: '<!doctype html><title>Weather</title><h1>Weather</h1>', contentType: 'text/html' }),
    );
    page = await phone.newPage();
    watch(page);
    await page.goto(`${proxy.url}/`);
  });

  afterAll(async () => {
    await browser?.close();
    await proxy?.close();
    await practice?.close();
  });

  it('welcomes a new patient with the way in and the urgent advice', async () => {
    await page.getByRole('status').filter({ hasText: 'Connected to the practice.' }).waitFor();

    expect(await page.getByRole('heading', { level: 1 }).textContent()).toBe('Message your GP practice');
    expect(await page.title()).toBe('Parley');
    expect(await checkScreen(page, '01-welcome')).toEqual({ violations: [], overflow: 0 });
  });

  it('says clearly when an invitation code is malformed, or does not match the date of birth', async () => {
    await page.getByRole('button', { name: 'I have an invitation code' }).click();
    await page.getByLabel('Practice code').fill(practice.odsCode);
    await page.getByLabel('Invitation code').fill('WRONG-CODE-123');
    await page.getByLabel('Date of birth').fill(practice.credentials.patient.dateOfBirth);
    await page.getByRole('button', { name: 'Continue' }).click();
    await page.getByRole('alert').filter({ hasText: 'That is not a valid invitation code.' }).waitFor();

    // A well-formed code the practice never issued: derived on the phone (Argon2id, a busy moment), then unknown to the server.
    await page.getByLabel('Invitation code').fill(anotherCode());
    await page.getByRole('button', { name: 'Continue' }).click();
    await page.getByRole('button', { name: 'Checking…' }).waitFor();

    const alert = page.getByRole('alert').filter({ hasText: 'did not match' });
    await alert.waitFor({ timeout: 30_000 });
    expect(await alert.textContent()).toContain('invitation code and date of birth did not match');
    expect(await checkScreen(page, '02-activate-wrong-code')).toEqual({ violations: [], overflow: 0 });
  });

  it('opens from an invitation link with the practice and code filled in, and takes the code out of the address bar', async () => {
    const link = `${proxy.url}/#practice=${practice.odsCode}&code=${practice.patientCode}`;
    await page.goto('about:blank');
    await page.goto(link);

    await page.getByRole('heading', { name: 'Activate your account' }).waitFor();
    expect(await page.getByLabel('Practice code').inputValue()).toBe(practice.odsCode);
    expect(await page.getByLabel('Invitation code').inputValue()).toBe(practice.patientCode);
    expect(await page.getByLabel('Date of birth').inputValue()).toBe('');
    expect(page.url()).toBe(`${proxy.url}/`);
    expect(await page.evaluate(() => window.location.hash)).toBe('');
  });

  it('activates: the invitation verified on the phone, then a passphrase with strength feedback and the warning that nobody can recover it', async () => {
    await page.getByLabel('Date of birth').fill(practice.credentials.patient.dateOfBirth);
    await page.getByRole('button', { name: 'Continue' }).click();
    await page.getByRole('heading', { name: 'Choose your passphrase' }).waitFor({ timeout: 30_000 });
    // The security code is the fingerprint of the root the phone pins: the one the demo ceremony made, vouched for by the code.
    const securityCode = page.getByRole('note', { name: "Your practice's security code" }).locator('[data-security-code]');
    expect((await securityCode.textContent())!.trim()).toBe(practice.demo.rootFingerprint);
    // Who invited them comes from the root-signed certificate of the inviting device.
    await page.getByText(`invited by ${practice.demo.patientInvitation!.invitedBy}`).waitFor();

    await page.getByLabel('Passphrase', { exact: true }).fill('password1');
    await page.getByText('Not strong enough yet').waitFor();
    expect(await page.getByText('Your practice cannot see it and cannot recover it.').isVisible()).toBe(true);
    expect(await checkScreen(page, '03-activate-passphrase')).toEqual({ violations: [], overflow: 0 });
    await page.getByLabel('Passphrase', { exact: true }).fill(PASSPHRASE);
    await page.getByText('Strong enough.').waitFor();
    await page.getByLabel('I have written my passphrase down').check();
    await page.getByRole('button', { name: 'Create my account' }).click();

    await page.getByRole('heading', { name: "Your practice's terms" }).waitFor({ timeout: 30_000 });
    await page.getByText('Every message becomes part of your medical record.').waitFor();
    expect(await checkScreen(page, '04-terms')).toEqual({ violations: [], overflow: 0 });
  });

  it("keeps the account key's public halves only: no account secret key is stored on the phone", async () => {
    const stored = await readVault(page, PASSPHRASE);

    expect(Object.keys(stored.signedIn.account).sort()).toEqual(['boxPublicKey', 'signPublicKey']);
    expect(Object.keys(stored.signedIn)).not.toContain('accountKeys');
    // The only secret keys in the vault are this device's own.
    expect(secretKeyPaths(stored)).toEqual(['signedIn.device.keys.boxSecretKey', 'signedIn.device.keys.signSecretKey']);
    expect(stored.recordKeyFloor).toBe(0);
    expect(stored.pinnedRoot).toBe(Buffer.from(practice.demo.practice.root.signPublicKey).toString('base64'));
  });

  it('accepts the terms and shows home: open, the urgent advice with the practice phone, the topics', async () => {
    await page.getByLabel('I have read and accept these terms').check();
    await page.getByRole('button', { name: 'Accept and continue' }).click();
    await page.getByRole('heading', { name: /^Hello/ }).waitFor();
    await page.getByText('The practice is open.').waitFor();

    const urgent = page.getByRole('complementary', { name: 'If it is urgent' });
    expect(await urgent.getByRole('link', { name: '999' }).getAttribute('href')).toBe('tel:999');
    expect(await urgent.getByRole('link', { name: '111' }).getAttribute('href')).toBe('tel:111');
    expect(await urgent.getByRole('link').count()).toBe(3);
    await page.getByRole('group', { name: 'What is it about?' }).getByRole('radio').first().waitFor();
    expect(await page.title()).toBe('Home – Parley');
    expect(await checkScreen(page, '05-home-open')).toEqual({ violations: [], overflow: 0 });
  });

  it('starts a conversation on a topic: acknowledged, waiting, with the queue position', async () => {
    await page.getByRole('group', { name: 'What is it about?' }).getByRole('radio').first().check();
    await page.getByRole('button', { name: 'Start conversation' }).click();
    await page.getByText('Waiting for a clinician.').waitFor({ timeout: 30_000 });
    await page.getByText(/You are number 1 in the queue/).waitFor();
    const listed = await practice.manager.session.listConversations();
    conversationId = listed[0]!.id;

    expect(await page.getByRole('list', { name: 'Messages' }).getByText(/999/).count()).toBeGreaterThan(0);
    expect(await page.title()).toBe('Conversation – Parley');
    expect(await checkScreen(page, '06-chat-waiting')).toEqual({ violations: [], overflow: 0 });
  });

  it('shows that a clinician took the conversation (no manager ever vouched for this patient)', async () => {
    await practice.clinician.session.setAvailability('available');
    await practice.clinician.session
      .conversation(conversationId)
      .claim()
      .catch(() => undefined);
    await follow(practice.clinician, conversationId);

    // The clinician's name and role show from the assignment, before they write anything.
    await page.getByText(`You are talking with ${practice.clinician.displayName} (clinician).`).waitFor();
    await page.getByText(`${practice.clinician.displayName} is now looking after your conversation.`).waitFor();
    expect(await page.getByText(/You are number/).count()).toBe(0);
  });

  it('interrupts a red-flag message with 999/111 advice, and still sends it once the patient has read it', async () => {
    const text = 'I have had chest pain since this morning';
    await page.getByLabel('Your message').fill(text);
    await page.getByRole('button', { name: 'Send', exact: true }).click();

    const panel = page.getByRole('alertdialog', { name: 'This may need urgent help' });
    await panel.waitFor();
    expect(await panel.getByRole('link', { name: '999' }).getAttribute('href')).toBe('tel:999');
    expect(await panel.getByRole('link', { name: '111' }).getAttribute('href')).toBe('tel:111');
    expect(await checkScreen(page, '07-chat-red-flag')).toEqual({ violations: [], overflow: 0 });
    await panel.getByRole('button', { name: 'Go back to my message' }).click();
    expect(await page.getByLabel('Your message').inputValue()).toBe(text);
    await page.getByRole('button', { name: 'Send', exact: true }).click();
    await panel.getByRole('button', { name: /send my message/ }).click();

    // The patient's first message: the clinician's client trusts the new patient through the invitation chain alone.
    await eventually(() => practice.clinician.bodies().includes(text), 'the clinician has the message');
    expect(practice.clinician.entries.filter((entry) => !entry.ok)).toEqual([]);
    expect(await page.getByRole('list', { name: 'Messages' }).getByText(text).count()).toBe(1);
  });

  it('shows the clinician typing, their reply with their name and role, and delivered then read marks', async () => {
    const reply = 'Thanks for telling me. Is the pain there now?';
    await practice.clinician.session.conversation(conversationId).setTyping(true);
    await page.getByText(`${practice.clinician.displayName} is typing…`).waitFor();
    await practice.clinician.session.conversation(conversationId).send(reply);
    await page.getByRole('list', { name: 'Messages' }).getByText(reply).waitFor();
    await page.getByText(`You are talking with ${practice.clinician.displayName} (clinician).`).waitFor();
    await page.getByText('· Delivered').waitFor();
    const patientMessage = practice.clinician.entries.filter((entry) => entry.ok && entry.value.kind === 'message' && !entry.value.isMine).at(-1)!;
    await practice.clinician.session.conversation(conversationId).markRead(patientMessage.seq);

    await page.getByText('· Read').waitFor();
    expect(await page.getByText(`${practice.clinician.displayName} is now looking after your conversation.`).count()).toBe(1);
    expect(await page.getByText(/is typing/).count()).toBe(0);
    expect(await page.title()).toBe('Conversation – Parley');
    expect(await checkScreen(page, '08-chat-assigned')).toEqual({ violations: [], overflow: 0 });
  });

  it('keeps what is typed offline in the outbox and sends it exactly once on reconnection', async () => {
    const text = 'Sent while my phone had no signal';
    try {
      await sendWhileOffline(text);
      expect(await checkScreen(page, '09-chat-offline')).toEqual({ violations: [], overflow: 0 });
    } finally {
      await phone.setOffline(false);
    }

    await eventually(() => practice.clinician.bodies().includes(text), 'the queued message arrived', 40_000);
    await page.getByText('You are offline.').waitFor({ state: 'detached' });
    // The connection can drop again between the server storing it and the answer: the phone says "sent"
    // only once it has the answer (a retry is answered as a duplicate), which may come after the clinician has it.
    await page.getByRole('listitem').filter({ hasText: text }).locator('[data-mark="sent"], [data-mark="delivered"], [data-mark="read"]').waitFor();
    expect(practice.clinician.bodies().filter((body) => body === text)).toHaveLength(1);
    expect(await page.getByRole('list', { name: 'Messages' }).getByText(text).count()).toBe(1);
  });

  it('keeps a message queued offline across a closed tab, and sends it when the patient comes back', async () => {
    const text = 'Queued before I closed the tab';
    try {
      await sendWhileOffline(text);
      await page.close();
    } finally {
      await phone.setOffline(false);
    }

    page = await phone.newPage();
    watch(page);
    await page.goto(`${proxy.url}/`);
    await unlock(page, PASSPHRASE);
    await page.getByRole('heading', { name: /^Hello/ }).waitFor({ timeout: 30_000 });
    await eventually(() => practice.clinician.bodies().includes(text), 'the message queued in IndexedDB arrived', 40_000);
    await page.getByRole('button', { name: /with a clinician/ }).click();
    await page.getByRole('list', { name: 'Messages' }).getByText(text).waitFor();

    expect(practice.clinician.bodies().filter((body) => body === text)).toHaveLength(1);
  });

  it('posts the closing notice in the conversation and shows the closed-hours view with the next opening', async () => {
    const today = new Intl.DateTimeFormat('en-CA', { timeZone: 'Europe/London' }).format(new Date());
    await practice.asManager('PUT', `/api/hours/exceptions/${today}`, { label: 'Training afternoon', intervals: [] });

    await page.getByText('The practice has now closed for online messages.', { exact: false }).waitFor();
    await page.getByRole('button', { name: '← Back to home' }).click();
    await page.getByText('The practice is closed for online messages.').waitFor();
    expect(await page.getByText(/It opens again (today|tomorrow|on)/).isVisible()).toBe(true);
    expect(await page.getByRole('button', { name: 'Start conversation' }).count()).toBe(0);
    expect(await page.getByRole('complementary', { name: 'If it is urgent' }).isVisible()).toBe(true);
    expect(await checkScreen(page, '10-home-closed')).toEqual({ violations: [], overflow: 0 });

    await practice.asManager('PUT', `/api/hours/exceptions/${today}`, { label: 'Open after all', intervals: [{ start: '00:00', end: '24:00' }] });
    await page.getByText('The practice is open.').waitFor();
  });

  it('explains at_capacity when the practice paused new conversations', async () => {
    const limits = { maxQueue: null, maxNewPerDay: null, isIntakePaused: true };
    const paused = await practice.manager.session.client.request('capacity:set-practice', limits);
    expect(paused.ok).toBe(true);
    await page.getByRole('group', { name: 'What is it about?' }).getByRole('radio').first().check();
    await page.getByRole('button', { name: 'Start conversation' }).click();

    const alert = page.getByRole('alert').filter({ hasText: 'not taking new online conversations' });
    await alert.waitFor();
    expect(await checkScreen(page, '11-home-at-capacity')).toEqual({ violations: [], overflow: 0 });
    await practice.manager.session.client.request('capacity:set-practice', { ...limits, isIntakePaused: false });
  });

  it('lists a closed conversation under history and shows it read-only', async () => {
    const closed = await practice.clinician.session.client.request('conversation:close', { conversationId, outcome: 'resolved' });
    expect(closed.ok).toBe(true);
    await page.reload();
    await unlock(page, PASSPHRASE);
    await page.getByRole('heading', { name: /^Hello/ }).waitFor({ timeout: 30_000 });

    const history = page.getByRole('region', { name: 'Past conversations' });
    await history.getByRole('button').first().click();
    await page.getByText('This conversation was closed: resolved.').waitFor();
    expect(await page.getByRole('list', { name: 'Messages' }).getByText('I have had chest pain since this morning').count()).toBe(1);
    expect(await page.getByLabel('Your message').count()).toBe(0);
    expect(await checkScreen(page, '12-chat-history')).toEqual({ violations: [], overflow: 0 });
  });

  it('keeps the live connection in one tab: a second tab waits and says why', async () => {
    const second = await phone.newPage();
    watch(second);
    await second.goto(`${proxy.url}/`);
    await unlock(second, PASSPHRASE);

    await second.getByRole('heading', { name: 'Parley is open in another tab' }).waitFor({ timeout: 30_000 });
    expect(await checkScreen(second, '13-other-tab')).toEqual({ violations: [], overflow: 0 });
    await second.close();
  });

  describe('on a new device', () => {
    let laptop: BrowserContext;
    let other: Page;

    beforeAll(async () => {
      laptop = await browser.newContext({ viewport: PHONE });
      other = await laptop.newPage();
      watch(other);
      // A fake clock (that still runs) lets the test jump past the idle time.
      await other.clock.install();
      await other.goto(`${practice.url}/`);
      await other.getByRole('button', { name: 'Sign in' }).click();
    });

    afterAll(async () => {
      await laptop?.close();
    });

    it('refuses a wrong passphrase with a clear message', async () => {
      await other.getByLabel('Practice code').fill(practice.odsCode);
      await other.getByLabel('NHS number').fill(practice.credentials.patient.nhsNumber);
      await other.getByLabel('Passphrase').fill('not my passphrase at all');
      await other.getByRole('button', { name: 'Sign in' }).click();

      await other.getByRole('alert').filter({ hasText: 'passphrase is not right' }).waitFor({ timeout: 30_000 });
      expect(await checkScreen(other, '14-sign-in-wrong-passphrase')).toEqual({ violations: [], overflow: 0 });
    });

    it('signs in with the passphrase and restores the keys from the backup: past messages open', async () => {
      await other.getByLabel('Passphrase').fill(PASSPHRASE);
      await other.getByRole('button', { name: 'Sign in' }).click();
      await other.getByRole('heading', { name: /^Hello/ }).waitFor({ timeout: 30_000 });

      await other.getByRole('region', { name: 'Past conversations' }).getByRole('button').first().click();

      await other.getByRole('list', { name: 'Messages' }).getByText('Thanks for telling me. Is the pain there now?').waitFor();
      expect(await other.getByText('A message here could not be opened').count()).toBe(0);
    });

    it('locks after the idle time, hiding every message, and unlocks with the passphrase', async () => {
      await other.clock.runFor('06:00');

      await other.getByRole('heading', { name: 'Parley is locked' }).waitFor();
      expect(await other.getByText('Thanks for telling me').count()).toBe(0);
      expect(await other.title()).toBe('Locked – Parley');
      expect(await checkScreen(other, '15-locked')).toEqual({ violations: [], overflow: 0 });
      await other.getByLabel('Passphrase').fill('wrong passphrase here');
      await other.getByRole('button', { name: 'Unlock' }).click();
      await other.getByRole('alert').filter({ hasText: 'passphrase is not right' }).waitFor({ timeout: 30_000 });
      await other.getByLabel('Passphrase').fill(PASSPHRASE);
      await other.getByRole('button', { name: 'Unlock' }).click();
      await other.getByRole('heading', { name: /^Hello/ }).waitFor({ timeout: 30_000 });
    });

    it('signs the phone out from the laptop (a lost phone): the phone is wiped, and the open conversation gets keys it never held', async () => {
      const before = (await practice.clinician.session.listConversations()).find((conversation) => conversation.id === conversationId)!;
      const devices = other.getByRole('list', { name: 'Your other devices' });
      await devices.getByRole('button', { name: /^Sign out / }).click();
      expect(await checkScreen(other, '16-sign-out-a-device')).toEqual({ violations: [], overflow: 0 });
      await devices.getByRole('button', { name: 'Sign it out for good' }).click();

      await other.getByText(/is signed out\. It cannot read anything you or the practice write from now on\./).waitFor({ timeout: 30_000 });
      await page.getByText('You were signed out of this device.').waitFor();
      const after = (await practice.clinician.session.listConversations()).find((conversation) => conversation.id === conversationId)!;
      if (after.status !== 'closed') expect(after.currentEpoch).toBeGreaterThan(before.currentEpoch);
      expect(await devices.count()).toBe(0);
    });

    it('signs out everywhere: this device and the phone are wiped', async () => {
      await other.getByRole('button', { name: 'Sign out on every device…' }).click();
      expect(await checkScreen(other, '16-sign-out-everywhere')).toEqual({ violations: [], overflow: 0 });
      await other.getByRole('button', { name: 'Sign out everywhere' }).click();

      await other.getByText('You have been signed out on every device.').waitFor();
      await page.getByText('You were signed out of this device.').waitFor();
      const stored = await page.evaluate(async () => {
        const db = await new Promise<IDBDatabase>((resolve, reject) => {
          const request = indexedDB.open('parley-patient');
          request.onsuccess = () => resolve(request.result);
          request.onerror = () => reject(request.error);
        });
        const count = (store: string) =>
          new Promise<number>((resolve) => {
            const request = db.transaction(store).objectStore(store).count();
            request.onsuccess = () => resolve(request.result);
          });
        return [await count('vault'), await count('wrapping-keys'), await count('outbox')];
      });
      expect(stored).toEqual([0, 0, 0]);
    });
  });

  it('leaves for a neutral site at once with quick exit, replacing the page in the history', async () => {
    const fresh = await phone.newPage();
    await fresh.goto('about:blank');
    await fresh.goto(`${proxy.url}/`);
    await fresh.getByRole('button', { name: 'Leave this site' }).click();
    await fresh.waitForURL(`${NEUTRAL_URL}**`);
    await fresh.goBack();

    expect(fresh.url()).not.toContain(proxy.url);
  });

  it('never broke the content security policy or logged an error', () => {
    expect(consoleErrors).toEqual([]);
  });
});
