import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type Browser, type BrowserContext, type CDPSession, type Page } from 'playwright-core';
import { CHROMIUM_PATH, launchChromium, startLocalPushService, type LocalPushService, type PushServiceSubscription } from '@parley/testing';
import { eventually, follow, startPractice, type TestPractice } from './practice.js';
import { checkScreen, createAccount, PHONE, unlock } from './screens.js';

const PASSPHRASE = 'orbit copper meadow lantern harbour violin';
const FIRST_MESSAGE = 'The rash on my arm has spread since Monday';
const REPLY = 'Please send a photo of the rash this afternoon.';

/**
 * Chromium without a push service (headless contexts are incognito, and there is no GCM here) refuses
 * `PushManager.subscribe`. The test's local push service stands in for the browser's: `subscribe` answers a
 * subscription that service made (through `__parleyTestSubscribe`), so the gateway's pushes reach a real Web Push
 * service that decrypts them. Everything else (the service worker, its notifications, the gateway) is real.
 */
const PUSH_SERVICE_STAND_IN = `(() => {
  let current = null;
  window.__parleyTestUnsubscribes = 0;
  PushManager.prototype.subscribe = async function (options) {
    const json = await window.__parleyTestSubscribe();
    const key = new Uint8Array(options.applicationServerKey).slice().buffer;
    current = {
      endpoint: json.endpoint,
      options: { userVisibleOnly: true, applicationServerKey: key },
      toJSON: () => ({ endpoint: json.endpoint, expirationTime: null, keys: json.keys }),
      unsubscribe: async () => { current = null; window.__parleyTestUnsubscribes += 1; return true; },
    };
    return current;
  };
  PushManager.prototype.getSubscription = async function () { return current; };
})();`;

/** What a shown notification holds, read through the service worker registration. */
interface ShownNotification {
  title: string;
  body: string;
  tag: string;
  data: unknown;
}

/**
 * Issue #19, the patient's side: the app asks about notifications only once a conversation is open, subscribes and
 * tells the gateway; a reply to a patient with no live connection is pushed (decrypted by the local push service: no
 * content), the service worker shows it as "You have a new message" only, and tapping it opens the conversation
 * behind the lock. Sign-out drops the subscription. The app is installable. One gateway and browser, steps in order.
 */
describe('patient app: notifications and installing (Chromium, real gateway, local push service)', () => {
  let practice: TestPractice;
  let pushService: LocalPushService;
  let browser: Browser;
  let context: BrowserContext;
  let page: Page;
  let cdp: CDPSession;
  let conversationId = '';
  const subscriptions: PushServiceSubscription[] = [];
  const pushRequests: string[] = [];
  const contactRequests: string[] = [];
  const consoleErrors: string[] = [];
  const home = () => page.getByRole('heading', { name: /^Hello/ });
  /** How many times the app gave the gateway its subscription. */
  const puts = () => pushRequests.filter((request) => request === 'PUT 204').length;
  const offer = () => page.getByRole('heading', { name: 'Get a notice when the practice replies?' });

  const shownNotifications = (): Promise<ShownNotification[]> =>
    page.evaluate(async () => {
      const registration = await navigator.serviceWorker.ready;
      const shown = await registration.getNotifications();
      return shown.map(({ title, body, tag, data }) => ({ title, body, tag, data: data as unknown }));
    });

  /** A page of the app, watched for errors and for the app's calls to the push subscription route. */
  const openPage = async (path: string): Promise<Page> => {
    const opened = await context.newPage();
    opened.on('console', (message) => message.type() === 'error' && consoleErrors.push(message.text()));
    opened.on('pageerror', (error) => consoleErrors.push(`uncaught: ${error.message}`));
    opened.on('response', (response) => {
      const path = new URL(response.url()).pathname;
      if (path === '/api/push/subscription') pushRequests.push(`${response.request().method()} ${response.status()}`);
      if (path === '/api/notifications/contact') contactRequests.push(`${response.request().method()} ${response.status()}`);
    });
    await opened.goto(`${practice.url}${path}`);
    return opened;
  };

  beforeAll(async () => {
    [practice, pushService, browser] = await Promise.all([
      startPractice({
        terms: 'Online messages are for non-urgent matters only.',
        // Text and e-mail notices set up (the app only offers the form: nothing here sends to Notify).
        env: {
          PUSH_ALLOW_INSECURE_ENDPOINTS: 'true',
          NOTIFY_API_KEY: `test-${randomUUID()}-${randomUUID()}`,
          NOTIFY_BASE_URL: 'http://127.0.0.1:9',
          NOTIFY_SMS_TEMPLATE_ID: randomUUID(),
          NOTIFY_EMAIL_TEMPLATE_ID: randomUUID(),
        },
      }),
      startLocalPushService(),
      launchChromium(),
    ]);
    context = await browser.newContext({ viewport: PHONE });
    await context.exposeFunction('__parleyTestSubscribe', () => {
      const subscription = pushService.subscribe();
      subscriptions.push(subscription);
      return subscription;
    });
    await context.addInitScript(PUSH_SERVICE_STAND_IN);
    page = await openPage('/');
    cdp = await context.newCDPSession(page);
  });

  afterAll(async () => {
    await browser?.close();
    await pushService?.close();
    await practice?.close();
  });

  it('is installable: the manifest and its icons are served, and Chromium finds nothing that stops installing', async () => {
    await page.getByRole('button', { name: 'I have an invitation code' }).waitFor();
    const manifest = (await (await fetch(`${practice.url}/manifest.webmanifest`)).json()) as {
      name: string;
      start_url: string;
      scope: string;
      display: string;
      icons: { src: string; sizes: string; purpose: string }[];
    };
    const icons = await Promise.all(manifest.icons.map(async (icon) => (await fetch(`${practice.url}${icon.src}`)).headers.get('content-type')));

    expect(manifest).toMatchObject({ name: 'Parley', start_url: '/', scope: '/', display: 'standalone' });
    expect(manifest.icons.map((icon) => `${icon.sizes} ${icon.purpose}`)).toEqual(['192x192 any', '512x512 any', '512x512 maskable']);
    expect(icons).toEqual(['image/png', 'image/png', 'image/png']);
    // A profile of its own, as an installed browser has: Chromium installs no app from an incognito window (the other steps' context).
    const profileDir = await mkdtemp(join(tmpdir(), 'parley-install-profile-'));
    const profile = await chromium.launchPersistentContext(profileDir, {
      executablePath: CHROMIUM_PATH,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking', '--disable-component-update'],
    });
    try {
      const installing = profile.pages()[0] ?? (await profile.newPage());
      await installing.goto(`${practice.url}/`);
      await eventually(async () => installing.evaluate(() => navigator.serviceWorker.controller !== null), 'the service worker controls the page');
      const devTools = await profile.newCDPSession(installing);
      const { installabilityErrors } = (await devTools.send('Page.getInstallabilityErrors')) as { installabilityErrors: { errorId: string }[] };
      expect(installabilityErrors.map((error) => error.errorId)).toEqual([]);
    } finally {
      await profile.close();
      await rm(profileDir, { recursive: true, force: true });
    }
  });

  it('does not ask about notifications on a first visit, nor before a conversation is open', async () => {
    expect(await offer().count()).toBe(0);

    await createAccount(page, practice, PASSPHRASE);
    await page.getByLabel('I have read and accept these terms').check({ timeout: 30_000 });
    await page.getByRole('button', { name: 'Accept and continue' }).click();
    await home().waitFor({ timeout: 30_000 });

    expect(await offer().count()).toBe(0);
    expect(await page.getByLabel('Tell me on this device when there is a new message').isChecked()).toBe(false);
    expect(await checkScreen(page, 'notifications-01-home')).toEqual({ violations: [], overflow: 0 });
  });

  it('offers installing on the home screen only when the browser offers it, and opens the browser’s dialog', async () => {
    const hint = page.getByRole('heading', { name: 'Install the app' });
    expect(await hint.count()).toBe(0);

    // Headless Chromium never judges a site worth offering: the test fires the event its engagement check would.
    await page.evaluate(() => {
      const offer = Object.assign(new Event('beforeinstallprompt', { cancelable: true }), {
        prompt: async () => void document.documentElement.setAttribute('data-test-prompted', 'yes'),
        userChoice: Promise.resolve({ outcome: 'dismissed' }),
      });
      window.dispatchEvent(offer);
    });
    await hint.waitFor();
    expect(await checkScreen(page, 'notifications-00-install-hint')).toEqual({ violations: [], overflow: 0 });
    await page.getByRole('button', { name: 'Install the app' }).click();

    await hint.waitFor({ state: 'detached' });
    expect(await page.evaluate(() => document.documentElement.getAttribute('data-test-prompted'))).toBe('yes');
  });

  it('asks, in plain words, once the first conversation is open', async () => {
    await page.getByRole('group', { name: 'What is it about?' }).getByRole('radio').first().check();
    await page.getByRole('button', { name: 'Start conversation' }).click();
    await page.getByText('Waiting for a clinician.').waitFor({ timeout: 30_000 });

    await offer().waitFor();
    expect(await page.getByText('The notice says only “You have a new message”: never what it says or who wrote it.').count()).toBe(1);
    expect(await checkScreen(page, 'notifications-02-offer')).toEqual({ violations: [], overflow: 0 });
  });

  it('subscribes on "Yes" once the browser allows notifications, and gives the gateway the subscription', async () => {
    await context.grantPermissions(['notifications'], { origin: practice.url });
    await page.getByLabel('Your message').fill(FIRST_MESSAGE);
    await page.getByRole('button', { name: 'Send', exact: true }).click();

    await page.getByRole('button', { name: 'Yes, tell me' }).click();

    await page.getByRole('status').filter({ hasText: 'This device will tell you when there is a new message.' }).waitFor();
    expect(await offer().count()).toBe(0);
    expect(subscriptions).toHaveLength(1);
    expect(pushRequests).toEqual(['PUT 204']);
  });

  it('gets a push without content when the practice replies while the patient is away', async () => {
    conversationId = (await practice.manager.session.listConversations())[0]!.id;
    await page.getByRole('button', { name: '← Back to home' }).click();
    await page.getByRole('button', { name: 'Lock now' }).click();
    await page.getByRole('heading', { name: 'Parley is locked' }).waitFor();
    await practice.clinician.session.setAvailability('available');
    await practice.clinician.session
      .conversation(conversationId)
      .claim()
      .catch(() => undefined);
    await follow(practice.clinician, conversationId);

    await practice.clinician.session.conversation(conversationId).send(REPLY);

    const [delivery] = await pushService.waitForDeliveries(1, 30_000);
    expect(delivery?.endpoint).toBe(subscriptions[0]?.endpoint);
    expect(JSON.parse(delivery!.payload)).toEqual({ v: 1, kind: 'new-message', conversationId, title: null });
    expect(delivery!.payload).not.toContain('rash');
    expect(delivery!.payload).not.toContain(practice.clinician.displayName);
    expect(delivery!.payload).not.toContain(practice.credentials.practice.name);
  });

  it('shows that push as "You have a new message" only (delivered to the service worker by DevTools)', async () => {
    const delivered = pushService.deliveries[0]!;
    const registrations: { registrationId: string; scopeURL: string }[] = [];
    cdp.on('ServiceWorker.workerRegistrationUpdated', (event: { registrations: { registrationId: string; scopeURL: string }[] }) =>
      registrations.push(...event.registrations),
    );
    await cdp.send('ServiceWorker.enable');
    await eventually(() => registrations.length > 0, 'DevTools lists the service worker registration');

    await cdp.send('ServiceWorker.deliverPushMessage', { origin: practice.url, registrationId: registrations[0]!.registrationId, data: delivered.payload });

    await eventually(async () => (await shownNotifications()).length === 1, 'the service worker shows a notification');
    const [shown] = await shownNotifications();
    expect(shown).toEqual({ title: 'Parley', body: 'You have a new message', tag: conversationId, data: { conversationId } });
    expect(JSON.stringify(shown)).not.toMatch(/rash|photo/i);
    expect(JSON.stringify(shown)).not.toContain(practice.clinician.displayName);
  });

  it('opens the conversation from a tapped notification only after the passphrase', async () => {
    const [worker] = context.serviceWorkers();
    // DevTools cannot click a notification: the worker gets the notificationclick event its own notification would give.
    await worker!.evaluate(async () => {
      // The worker's own globals (the test compiles with the page's DOM types, which have no worker scope).
      const scope = self as unknown as {
        registration: ServiceWorkerRegistration;
        NotificationEvent: new (type: string, init: { notification: Notification }) => Event;
        dispatchEvent(event: Event): boolean;
      };
      const [notification] = await scope.registration.getNotifications();
      scope.dispatchEvent(new scope.NotificationEvent('notificationclick', { notification: notification! }));
    });

    // The page has had time to take the worker's message; it must still ask for the passphrase first.
    await page.waitForTimeout(500);
    expect(await page.getByRole('heading', { name: 'Parley is locked' }).count()).toBe(1);
    expect(await page.getByText(REPLY).count()).toBe(0);
    await unlock(page, PASSPHRASE);
    await page.getByRole('list', { name: 'Messages' }).getByText(REPLY).waitFor({ timeout: 30_000 });
    expect(await page.title()).toBe('Conversation – Parley');
  });

  it('opens the conversation of a notification link in a new window after unlocking, and clears the link', async () => {
    // The app's window was closed: the service worker opens the notification's link in a new one.
    const putsBefore = puts();
    await page.close();
    page = await openPage(`/#conversation=${conversationId}`);

    await unlock(page, PASSPHRASE);

    await page.getByRole('list', { name: 'Messages' }).getByText(REPLY).waitFor({ timeout: 30_000 });
    expect(new URL(page.url()).hash).toBe('');
    // A reload lost the page's subscription object: the session gave the gateway one again, as after any sign-in.
    await eventually(() => puts() > putsBefore, 'the gateway is told the subscription again');
  });

  it('turns notifications off and on in Privacy and security', async () => {
    await page.getByRole('button', { name: '← Back to home' }).click();
    const toggle = page.getByLabel('Tell me on this device when there is a new message');
    await eventually(() => toggle.isChecked(), 'the switch shows notifications are on');

    const putsBefore = puts();
    await toggle.uncheck();

    await eventually(() => pushRequests.includes('DELETE 204'), 'the gateway is told to forget the subscription');
    expect(await page.evaluate(() => (window as unknown as { __parleyTestUnsubscribes: number }).__parleyTestUnsubscribes)).toBe(1);
    await toggle.check();
    await eventually(() => puts() === putsBefore + 1, 'the gateway has the new subscription');
    expect(await checkScreen(page, 'notifications-03-privacy')).toEqual({ violations: [], overflow: 0 });
  });

  it('keeps a mobile number for text notices when the practice offers them, and removes it', async () => {
    const form = page.getByRole('form', { name: 'By text or e-mail' });
    expect(await form.getByLabel('Send it by').locator('option').allTextContents()).toEqual(['Text message', 'E-mail']);

    await form.getByLabel('Mobile number').fill('12345');
    await form.getByRole('button', { name: 'Save' }).click();
    await form.getByRole('alert').filter({ hasText: 'That is not a mobile number we can text.' }).waitFor();
    await form.getByLabel('Mobile number').fill('07700 900123');
    await form.getByRole('button', { name: 'Save' }).click();
    await form.getByRole('status').filter({ hasText: 'Saved. A text will say only “You have a new message”.' }).waitFor();
    await form.getByRole('button', { name: 'Remove my number or address' }).click();
    await form.getByRole('status').filter({ hasText: 'Removed.' }).waitFor();

    expect(contactRequests).toEqual(['PUT 400', 'PUT 204', 'DELETE 204']);
  });

  it('drops the subscription at sign-out', async () => {
    const deletesBefore = pushRequests.filter((request) => request === 'DELETE 204').length;

    await page.getByRole('button', { name: 'Sign out', exact: true }).click();

    await page.getByText('You have signed out.').waitFor({ timeout: 30_000 });
    expect(pushRequests.filter((request) => request === 'DELETE 204')).toHaveLength(deletesBefore + 1);
    expect(await page.evaluate(() => (window as unknown as { __parleyTestUnsubscribes: number }).__parleyTestUnsubscribes)).toBe(2);
  });

  // The refused phone number (400), the ended sessions (401) and a missing subscription (404) are answers, not page errors.
  it('runs under the strict content security policy without a violation', () => {
    expect(consoleErrors.filter((error) => !/status of 40[014]/.test(error))).toEqual([]);
  });
});
