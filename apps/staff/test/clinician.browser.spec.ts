import { readFile } from 'node:fs/promises';
import type { ConversationAssigned } from '@parley/protocol';
import type { Browser, BrowserContext, Download, Page } from 'playwright-core';
import { accessibilityViolations, launchChromium } from '@parley/testing';
import { validateFhirR4 } from './fhir-validator.js';
import { openConversation, signInThroughPage, startStaffWorld, waitUntil, type StaffLogin, type StaffWorld, type TestPatient } from './world.js';

/** The parts of a FHIR Bundle the assertions read (the validator checks the rest). */
interface Bundle {
  resourceType: string;
  type: string;
  entry?: { fullUrl?: string; resource?: { resourceType: string; [field: string]: unknown } }[];
}
interface Communication {
  status?: string;
  sent?: string;
  payload?: { contentString?: string }[];
}

const messageBodies = (patient: TestPatient) => patient.entries.flatMap((entry) => (entry.ok && entry.value.kind === 'message' ? [entry.value.body] : []));
const systemEvents = (patient: TestPatient) => patient.entries.flatMap((entry) => (entry.ok && entry.value.kind === 'system' ? [entry.value.event] : []));

async function downloadedText(page: Page, linkName: string): Promise<string> {
  const [download] = (await Promise.all([page.waitForEvent('download'), page.getByRole('link', { name: linkName }).click()])) as [Download, unknown];
  return readFile((await download.path())!, 'utf8');
}

describe('staff app: a clinician works the live queue; a manager raises the cap (Chromium, real gateway and database)', () => {
  let world: StaffWorld;
  let browser: Browser;
  let clinicianContext: BrowserContext;
  let managerContext: BrowserContext;
  let page: Page;
  let managerPage: Page;
  let doctor: StaffLogin;
  let nurse: StaffLogin;
  const patients: TestPatient[] = [];
  const consoleErrors: string[] = [];
  const nurseAssigned: ConversationAssigned[] = [];

  beforeAll(async () => {
    [world, browser] = await Promise.all([startStaffWorld(), launchChromium()]);
    doctor = world.clinicians.find((c) => c.email.startsWith('dr.'))!;
    nurse = world.clinicians.find((c) => c !== doctor)!;
    nurse.session.client.on('conversation:assigned', (fact) => nurseAssigned.push(fact));
    // The doctor starts with room for two; the nurse stays away until the transfer test needs her.
    const caps = await world.manager.session.client.request('capacity:set-clinician', { clinicianId: doctor.userId, maxConcurrent: 2, dailyMax: null });
    expect(caps.ok).toBe(true);
    const nurseCaps = await world.manager.session.client.request('capacity:set-clinician', { clinicianId: nurse.userId, maxConcurrent: 1, dailyMax: null });
    expect(nurseCaps.ok).toBe(true);
    clinicianContext = await browser.newContext({ permissions: ['notifications'] });
    // Records every desktop notification the page shows, to check none carries a name or a message.
    await clinicianContext.addInitScript(() => {
      const Original = window.Notification;
      const shown: { title: string; body: string }[] = [];
      (window as unknown as { shownNotifications: typeof shown }).shownNotifications = shown;
      window.Notification = class extends Original {
        constructor(title: string, options?: NotificationOptions) {
          shown.push({ title, body: options?.body ?? '' });
          super(title, options);
        }
      } as typeof Notification;
    });
    managerContext = await browser.newContext();
    page = await clinicianContext.newPage();
    managerPage = await managerContext.newPage();
    for (const p of [page, managerPage]) p.on('console', (message) => message.type() === 'error' && consoleErrors.push(message.text()));
  }, 120_000);

  afterAll(async () => {
    await browser?.close();
    await world?.close();
  });

  it('signs in with the passphrase and a key backup file, and meets WCAG 2.2 AA on the sign-in screen', async () => {
    await page.goto(`${world.url}/staff/`);
    await page.getByRole('status').filter({ hasText: 'Connected to the practice.' }).waitFor();
    expect(await accessibilityViolations(page)).toEqual([]);

    await signInThroughPage(page, world.url, world.odsCode, doctor);

    await page.getByRole('heading', { name: 'Queue and conversations' }).waitFor();
    expect(await page.getByRole('heading', { name: 'This computer is not admitted yet' }).count()).toBe(0);
  });

  it('shows the availability the server holds: a refused change puts the choice back and says why', async () => {
    // The nurse's console, whose socket answers her first change of availability with the refusal a busy node gives.
    const context = await browser.newContext();
    let refused = 0;
    await context.routeWebSocket(/\/socket\.io\//, (ws) => {
      const server = ws.connectToServer();
      ws.onMessage((message) => {
        const ack = typeof message === 'string' && refused === 0 ? /^42(\d+)\["staff:availability"/.exec(message) : null;
        if (!ack) return server.send(message);
        refused += 1;
        ws.send(`43${ack[1]}[${JSON.stringify({ ok: false, error: { code: 'rate_limited', message: 'Too many requests; try again shortly.' } })}]`);
      });
    });
    const nursePage = await context.newPage();
    await signInThroughPage(nursePage, world.url, world.odsCode, nurse);
    const available = nursePage.getByRole('radio', { name: 'Available' });
    await available.click();
    await nursePage.getByRole('status').filter({ hasText: 'The practice system is busy; try again in a moment.' }).waitFor();
    await waitUntil(async () => !(await available.isChecked()), 'the choice to be put back');
    const awayChecked = await nursePage.getByRole('radio', { name: 'Away' }).isChecked();
    const snapshot = await world.manager.session.client.request('queue:list', {});
    await context.close();

    expect(refused).toBe(1);
    expect(awayChecked).toBe(true);
    expect(snapshot.ok && snapshot.data.clinicians.find((c) => c.clinicianId === nurse.userId)?.availability).not.toBe('available');
  });

  it('goes available and shows the "n of cap" meter', async () => {
    await page.getByRole('radio', { name: 'Available' }).check();

    await page.getByText('0 of 2').waitFor();
    expect(await page.getByRole('radio', { name: 'Available' }).isChecked()).toBe(true);
  });

  it('handles two patients at once while a third waits because the cap is 2; assignments arrive live with a cue and no message text', async () => {
    for (const name of ['Ada Lovelace', 'Brian Cox', 'Cleo Jones']) patients.push(await world.patient(name));
    await openConversation(patients[0]!, 'admin');
    await page.getByRole('tab', { name: /Ada Lovelace/ }).waitFor();
    await page.getByRole('alert').filter({ hasText: 'New conversation assigned to you' }).waitFor();
    await openConversation(patients[1]!, 'test-results');
    await page.getByRole('tab', { name: /Brian Cox/ }).waitFor();
    await openConversation(patients[2]!, 'admin');

    await page.getByRole('heading', { name: 'Waiting (1)' }).waitFor();
    await page.getByText('2 of 2').waitFor();
    expect(await page.getByRole('tab').count()).toBe(2);
    expect(await page.getByRole('button', { name: 'Claim Admin' }).isDisabled()).toBe(true);
    expect(await page.title()).toMatch(/^\(\d\) Parley$/);
    expect(await page.getByRole('alert').first().textContent()).not.toContain('Cleo');
    const notifications = await page.evaluate(() => (window as unknown as { shownNotifications: { title: string; body: string }[] }).shownNotifications);
    expect(notifications).toEqual([
      { title: 'Parley', body: 'A conversation was assigned to you.' },
      { title: 'Parley', body: 'A conversation was assigned to you.' },
    ]);
  });

  it('decrypts the patient’s message, shows typing, sends an encrypted reply and shows the read receipt', async () => {
    const ada = patients[0]!;
    await page.getByRole('tab', { name: /Ada Lovelace/ }).click();
    await ada.chat.conversation(ada.conversationId!).setTyping(true);
    await page.getByText('Ada Lovelace is typing…').waitFor();
    await ada.chat.conversation(ada.conversationId!).send('Could I have my repeat prescription, please?');
    const log = page.getByRole('log', { name: 'Messages with Ada Lovelace' });
    await log.getByText('Could I have my repeat prescription, please?').waitFor();

    const typingSeen: boolean[] = [];
    ada.chat.client.on('conversation:typing', (fact) => fact.role !== 'patient' && typingSeen.push(fact.isTyping));
    await page.getByLabel('Reply to Ada Lovelace').pressSequentially('Yes, it will be ready on Thursday.');
    await waitUntil(() => typingSeen.includes(true), 'the patient to see the clinician typing');
    await page.getByRole('button', { name: 'Send' }).click();
    await waitUntil(() => messageBodies(ada).includes('Yes, it will be ready on Thursday.'), 'the patient to decrypt the reply');
    const replySeq = ada.entries.at(-1)!.seq;
    await ada.chat.conversation(ada.conversationId!).markRead(replySeq);

    await page.getByText('Read by the patient').waitFor();
    await log.getByText('Yes, it will be ready on Thursday.').waitFor();
  });

  it('meets WCAG 2.2 AA with conversations open, and fits a 320 px wide screen', async () => {
    expect(await accessibilityViolations(page)).toEqual([]);

    await page.setViewportSize({ width: 320, height: 640 });
    // Names what sticks out, so a failure says where to look.
    const tooWide = await page.evaluate(() =>
      [...document.querySelectorAll('body *')]
        .filter((element) => element.getBoundingClientRect().right > document.documentElement.clientWidth + 1)
        .map((element) => `${element.tagName.toLowerCase()}${element.className ? `.${element.className}` : ''}`),
    );
    await page.setViewportSize({ width: 1280, height: 800 });
    expect(tooWide).toEqual([]);
  });

  it('lets a manager in another browser raise the cap: the waiting third patient is assigned and appears live', async () => {
    await signInThroughPage(managerPage, world.url, world.odsCode, world.manager);
    await managerPage.getByRole('heading', { name: 'Load and capacity' }).waitFor();
    await managerPage
      .getByRole('row', { name: /Dr Alex Morgan/ })
      .getByText('2 of 2')
      .waitFor();
    expect(await accessibilityViolations(managerPage)).toEqual([]);

    await managerPage.getByLabel('Cap for Dr Alex Morgan').fill('3');
    await managerPage.getByRole('button', { name: 'Save caps for Dr Alex Morgan' }).click();

    await page.getByRole('tab', { name: /Cleo Jones/ }).waitFor();
    await page.getByText('3 of 3').waitFor();
    await page.getByRole('heading', { name: 'Waiting (0)' }).waitFor();
    await managerPage
      .getByRole('row', { name: /Dr Alex Morgan/ })
      .getByText('3 of 3')
      .waitFor();
    await waitUntil(() => systemEvents(patients[2]!).includes('assigned'), 'the third patient to be assigned');
  });

  it('pauses intake live from the manager console', async () => {
    await managerPage.getByLabel(/Pause intake/).check();
    await managerPage.getByRole('button', { name: 'Save practice limits' }).click();
    await managerPage.getByRole('definition').filter({ hasText: 'Paused' }).waitFor();

    const late = await world.patient('Dan Late');
    await expect(late.chat.openConversation('admin')).rejects.toMatchObject({ code: 'at_capacity' });

    await managerPage.getByLabel(/Pause intake/).uncheck();
    await managerPage.getByRole('button', { name: 'Save practice limits' }).click();
    await managerPage.getByRole('definition').filter({ hasText: 'Open' }).waitFor();
  });

  it('puts a conversation on hold and resumes it, and the patient sees both', async () => {
    await page.getByRole('tab', { name: /Cleo Jones/ }).click();
    await page.getByRole('button', { name: 'Put on hold' }).click();
    await page.getByRole('tab', { name: /Cleo Jones.*\(on hold\)/ }).waitFor();
    expect(await page.getByLabel('Reply to Cleo Jones').count()).toBe(0);

    await page.getByRole('button', { name: 'Resume' }).click();
    await page.getByLabel('Reply to Cleo Jones').waitFor();
    await waitUntil(() => systemEvents(patients[2]!).includes('held') && systemEvents(patients[2]!).includes('resumed'), 'the patient to see hold and resume');
  });

  it('transfers a conversation to an available colleague, who is told at once', async () => {
    await nurse.session.setAvailability('available');
    await page.getByRole('tab', { name: /Brian Cox/ }).click();
    await page.getByRole('combobox', { name: 'Transfer to' }).selectOption(nurse.userId);
    await page.getByRole('button', { name: 'Transfer' }).click();

    await waitUntil(() => nurseAssigned.some((fact) => fact.conversationId === patients[1]!.conversationId && fact.how === 'transfer'), 'the nurse to be told');
    await waitUntil(() => systemEvents(patients[1]!).includes('transferred'), 'the patient to see the transfer');
    await page.getByText('2 of 3').waitFor();
    expect(await page.getByLabel('Reply to Brian Cox').count()).toBe(0);
  });

  it('closes with a follow-up, which the follow-ups list shows until it is done', async () => {
    await page.getByRole('tab', { name: /Ada Lovelace/ }).click();
    await page.getByRole('combobox', { name: 'Outcome' }).selectOption('follow_up');
    await page.getByLabel('Follow-up due').fill('2030-01-15');
    await page.getByRole('combobox', { name: 'Follow-up owner' }).selectOption({ label: 'Dr Alex Morgan' });
    await page.getByRole('button', { name: 'Close conversation' }).click();

    await page.getByRole('tab', { name: /Ada Lovelace.*\(closed\)/ }).waitFor();
    await waitUntil(() => systemEvents(patients[0]!).includes('closed'), 'the patient to see the close');
    await page.getByRole('button', { name: 'Follow-ups' }).click();
    const row = page.getByRole('row', { name: /2030-01-15/ });
    await row.waitFor();
    expect(await row.textContent()).toContain('Dr Alex Morgan');
    // The patient by name (issue #14), never their id.
    await row.getByRole('cell', { name: 'Ada Lovelace', exact: true }).waitFor();
    expect(await row.textContent()).not.toContain(patients[0]!.userId);
    expect(await accessibilityViolations(page)).toEqual([]);
  });

  it('exports the closed conversation, decrypted in the browser, as a FHIR R4 Bundle that validates, and as a transcript', async () => {
    await page.getByRole('button', { name: 'Queue and conversations' }).click();
    await page.getByRole('tab', { name: /Ada Lovelace/ }).click();
    await page.getByRole('button', { name: 'Export to the record' }).click();
    const bundle = JSON.parse(await downloadedText(page, 'Download FHIR bundle')) as Bundle;
    const transcript = await downloadedText(page, 'Download transcript');

    await expect(validateFhirR4(bundle)).resolves.toBeUndefined();
    for (const entry of bundle.entry ?? []) await expect(validateFhirR4(entry.resource)).resolves.toBeUndefined();
    // The validator has teeth: a Communication without its required status is refused.
    const broken = structuredClone(bundle);
    delete (broken.entry!.find((e) => e.resource?.resourceType === 'Communication')!.resource as { status?: string }).status;
    await expect(validateFhirR4(broken)).rejects.toThrow(/status/i);

    const communications = bundle.entry!.flatMap((e) => (e.resource?.resourceType === 'Communication' ? [e.resource as Communication] : []));
    expect(bundle).toMatchObject({ resourceType: 'Bundle', type: 'collection' });
    expect(communications.map((c) => c.payload?.[0]?.contentString)).toEqual([
      'Could I have my repeat prescription, please?',
      'Yes, it will be ready on Thursday.',
    ]);
    expect(communications[0]).toMatchObject({
      status: 'completed',
      subject: { reference: `urn:uuid:${patients[0]!.userId}`, display: 'Ada Lovelace' },
      sender: { reference: `urn:uuid:${patients[0]!.userId}` },
      topic: { text: 'admin' },
    });
    expect(communications[1]).toMatchObject({ sender: { reference: `urn:uuid:${doctor.userId}`, display: 'Dr Alex Morgan' } });
    expect(Date.parse(communications[0]!.sent!)).not.toBeNaN();
    expect(transcript).toContain('Patient: Ada Lovelace');
    expect(transcript).toMatch(/Ada Lovelace: Could I have my repeat prescription, please\?/);
    expect(transcript).toMatch(/Dr Alex Morgan: Yes, it will be ready on Thursday\./);
  });

  it('marks a follow-up done, and shows the key backup screen accessibly', async () => {
    await page.getByRole('button', { name: 'Follow-ups' }).click();
    await page.getByRole('button', { name: /Mark done/ }).click();
    await page.getByText('No follow-up is open.').waitFor();

    await page.getByRole('button', { name: 'Key backup' }).click();
    await page.getByRole('heading', { name: 'Key backup' }).waitFor();
    expect(await accessibilityViolations(page)).toEqual([]);
  });

  it('after a reload, is still signed in on the device whose keys this browser kept (encrypted in IndexedDB); after signing out, the passphrase alone signs in again', async () => {
    await page.reload();
    await page.getByRole('tab', { name: /Cleo Jones/ }).waitFor({ timeout: 60_000 });
    await page.getByRole('button', { name: 'Sign out' }).click();
    // The practice code and e-mail address are filled in from the keys this browser keeps.
    await page.getByLabel('Passphrase').fill(doctor.passphrase);
    await page.getByRole('button', { name: 'Sign in' }).click();

    await page.getByRole('tab', { name: /Cleo Jones/ }).waitFor({ timeout: 60_000 });
    expect(await page.getByRole('heading', { name: 'This computer is not admitted yet' }).count()).toBe(0);
    await page.getByRole('log', { name: 'Messages with Cleo Jones' }).waitFor();
  });

  it('runs under the strict content security policy without a violation', () => {
    expect(consoleErrors).toEqual([]);
  });
});
