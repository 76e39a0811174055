import { HttpApi } from '@parley/client';
import { fromBase64 } from '@parley/crypto';
import { RevocationState } from '@parley/sdk';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { accessibilityViolations, launchChromium } from '@parley/testing';
import { openConversation, signInThroughPage, startStaffWorld, waitUntil, type StaffWorld, type TestPatient } from './world.js';

const messageBodies = (patient: TestPatient) => patient.entries.flatMap((entry) => (entry.ok && entry.value.kind === 'message' ? [entry.value.body] : []));

describe("staff app: the manager's console (Chromium, real gateway and database)", () => {
  let world: StaffWorld;
  let browser: Browser;
  let managerContext: BrowserContext;
  let newcomerContext: BrowserContext;
  let page: Page;
  let newcomer: Page;
  let managerApi: HttpApi;
  let waiting: TestPatient;
  const consoleErrors: string[] = [];
  const newcomerEmail = 'dr.new@demo.parley.test';

  const go = (target: Page, screen: string) => target.getByRole('navigation', { name: 'Console' }).getByRole('button', { name: screen }).click();

  beforeAll(async () => {
    [world, browser] = await Promise.all([startStaffWorld(), launchChromium()]);
    managerApi = new HttpApi({ baseUrl: world.url, token: world.manager.token });
    managerContext = await browser.newContext();
    newcomerContext = await browser.newContext();
    page = await managerContext.newPage();
    newcomer = await newcomerContext.newPage();
    for (const p of [page, newcomer]) p.on('console', (message) => message.type() === 'error' && consoleErrors.push(message.text()));
    await signInThroughPage(page, world.url, world.odsCode, world.manager);
  }, 120_000);

  afterAll(async () => {
    await browser?.close();
    await world?.close();
  });

  it("shows the live dashboard: today's figures, a chart over the day and the figures as a table", async () => {
    waiting = await world.patient('Wendy Waiting');
    await openConversation(waiting, 'admin');

    await page.getByRole('heading', { name: 'Load and capacity' }).waitFor();
    const today = page.getByRole('region', { name: 'Today' });
    await today.getByRole('definition').filter({ hasText: /^1$/ }).first().waitFor();
    await page.getByRole('img', { name: /Conversations opened in each hour of today/ }).waitFor();
    const hourRows = page.getByRole('table', { name: /Today by hour/ }).getByRole('row');
    await waitUntil(async () => (await hourRows.count()) === 2, 'one hour row under the header');
    expect(await page.locator('canvas').count()).toBeGreaterThan(0);
    expect(await page.getByRole('region', { name: 'Now' }).getByRole('definition').first().textContent()).toBe('1');
    expect(await accessibilityViolations(page)).toEqual([]);
  });

  it('creates a staff account; the newcomer sets up in their browser, compares the security code, and waits until the manager admits the device, certified with their name and roles', async () => {
    await go(page, 'Staff');
    await page.getByLabel('Full name', { exact: true }).fill('Dr Nia Newcomer');
    await page.getByLabel('Work e-mail address').fill(newcomerEmail);
    await page.getByRole('button', { name: 'Create account and set-up code' }).click();
    const code = (await page.getByRole('status').filter({ hasText: 'One-time code for Dr Nia Newcomer' }).locator('strong').textContent())!.trim();

    await newcomer.goto(`${world.url}/staff/`);
    await newcomer.getByRole('button', { name: 'I have a set-up code' }).click();
    await newcomer.getByLabel('Practice code').fill(world.odsCode);
    await newcomer.getByLabel('E-mail address').fill(newcomerEmail);
    await newcomer.getByLabel(/Set-up code/).fill(code);
    await newcomer.getByLabel('Choose a passphrase').fill('amber lantern quietly folds paper');
    await newcomer.getByRole('button', { name: 'Set up and sign in' }).click();
    const banner = newcomer.getByRole('region', { name: 'This computer is not admitted yet' });
    await banner.waitFor({ timeout: 60_000 });
    const fingerprint = (await banner.locator('strong.fingerprint').textContent())!.trim();
    // Until admitted, the device cannot invite: the gateway refuses an invitation its certificate does not back.
    await go(newcomer, 'Find or invite a patient');
    const form = newcomer.getByRole('form', { name: 'New patient invitation' });
    await form.getByLabel("Patient's full name").fill('Terry Tooearly');
    await form.getByLabel('NHS number').fill('4857773457');
    await form.getByLabel("Patient's date of birth").fill('1977-11-02');
    await form.getByRole('button', { name: 'Create invitation' }).click();
    await newcomer.getByRole('alert').filter({ hasText: 'This computer is not admitted yet, so it cannot invite patients.' }).waitFor({ timeout: 60_000 });
    expect(await newcomer.locator('[data-invitation-code]').count()).toBe(0);
    await go(newcomer, 'Queue and conversations');
    // Staff trust the root on first use only here, compared in person: the newcomer's code is the manager's.
    expect((await banner.locator('[data-security-code]').textContent())!.trim()).toBe(world.demo.rootFingerprint);
    expect(await accessibilityViolations(newcomer)).toEqual([]);

    await go(page, 'Load and capacity');
    await go(page, 'Staff');
    expect((await page.getByRole('region', { name: 'Practice security code' }).locator('[data-security-code]').textContent())!.trim()).toBe(
      world.demo.rootFingerprint,
    );
    const member = page.getByRole('article', { name: 'Dr Nia Newcomer' });
    const row = member.getByRole('row').filter({ hasText: fingerprint });
    await row.getByText('Waiting to be admitted').waitFor();
    expect(await accessibilityViolations(page)).toEqual([]);
    await row.getByRole('button', { name: /^Admit/ }).click();
    await row.getByText('Admitted').waitFor();
    await page.getByRole('status').filter({ hasText: 'of Dr Nia Newcomer is admitted as Dr Nia Newcomer (clinician).' }).waitFor();
    expect(await row.getByRole('cell').nth(3).textContent()).toBe('1');
    expect(await row.getByRole('cell').nth(4).textContent()).toBe('Dr Nia Newcomer (clinician)');
    // What the certificate signed, as the server now serves it to every client.
    const listed = await managerApi.listStaff();
    const device = listed.ok ? listed.data.find((m) => m.email === newcomerEmail)?.devices[0] : undefined;
    expect(device?.certifiedAs).toEqual({ displayName: 'Dr Nia Newcomer', roles: ['clinician'] });

    await banner.getByRole('button', { name: 'Check again' }).click();
    await banner.waitFor({ state: 'detached' });
  });

  it('invites a patient from the patients screen: the code is made in this browser and shown once, with the link, expiry and practice security code', async () => {
    await go(page, 'Find or invite a patient');
    const form = page.getByRole('form', { name: 'New patient invitation' });
    await form.getByLabel("Patient's full name").fill('Robin Letterbox');
    await form.getByLabel('NHS number').fill('943 476 5919');
    await form.getByLabel("Patient's date of birth").fill('1961-03-14');
    await form.getByRole('button', { name: 'Create invitation' }).click();

    const card = page.getByRole('region', { name: 'Invitation for Robin Letterbox' });
    await card.waitFor({ timeout: 60_000 });
    const code = (await card.locator('[data-invitation-code]').textContent())!.replace(/\s/g, '');
    expect(code).toMatch(/^[0-9A-Z]{4}-[0-9A-Z]{4}-[0-9A-Z]{5}$/);
    expect((await card.locator('[data-invitation-link]').textContent())!.trim()).toBe(`${world.url}/#practice=${world.odsCode}&code=${code}`);
    expect((await card.locator('[data-security-code]').textContent())!.trim()).toBe(world.demo.rootFingerprint);
    await card.getByText('This code is shown only now.').waitFor();
    await card.getByText(/^\d{1,2} \w+ \d{4}$/).waitFor();
    expect(await accessibilityViolations(page)).toEqual([]);

    // The server holds the invitation, but not the code: what it stored cannot be found by the code itself.
    const search = await managerApi.searchPatients({ name: 'Robin Letterbox' });
    expect(search.ok && search.data.patients.map((p) => p.isActivated)).toEqual([false]);
    await card.getByRole('button', { name: 'Done: the patient has the code' }).click();
    await card.waitFor({ state: 'detached' });
    expect(await page.getByText(code).count()).toBe(0);
  });

  it('lets the admitted newcomer read and answer a patient (their device opens the record key granted in the manager’s browser); the patient sees the certified name', async () => {
    const staff = await managerApi.listStaff();
    const newcomerId = staff.ok ? staff.data.find((m) => m.email === newcomerEmail)!.userId : '';
    expect((await world.manager.session.client.request('capacity:set-clinician', { clinicianId: newcomerId, maxConcurrent: 2, dailyMax: null })).ok).toBe(true);
    await waiting.chat.conversation(waiting.conversationId!).send('Is my fit note ready?');

    await newcomer.getByRole('radio', { name: 'Available' }).check();
    await newcomer.getByRole('tab', { name: /Wendy Waiting/ }).waitFor();
    await newcomer.getByRole('log', { name: 'Messages with Wendy Waiting' }).getByText('Is my fit note ready?').waitFor();
    await newcomer.getByLabel('Reply to Wendy Waiting').fill('It is signed and at reception.');
    await newcomer.getByRole('button', { name: 'Send' }).click();
    await waitUntil(() => messageBodies(waiting).includes('It is signed and at reception.'), 'the patient to read the reply');
    const reply = waiting.entries.flatMap((entry) => (entry.ok && entry.value.kind === 'message' && !entry.value.isMine ? [entry.value] : []))[0];
    expect(reply).toMatchObject({ senderName: 'Dr Nia Newcomer', senderRole: 'clinician' });
  });

  it('keeps canned replies practice-wide: the manager writes one, a clinician inserts it into a reply', async () => {
    await go(page, 'Practice settings');
    await page.getByLabel('Canned reply title').fill('Fit note');
    await page.getByLabel('Canned reply text').fill('Your fit note is ready to collect from reception.');
    await page.getByRole('button', { name: 'Add canned reply' }).click();
    await page.getByRole('listitem').filter({ hasText: 'Your fit note is ready to collect from reception.' }).waitFor();

    const patient = await world.patient('Carl Canned');
    await openConversation(patient, 'admin');
    await newcomer.getByRole('tab', { name: /Carl Canned/, selected: true }).waitFor();
    await newcomer.getByRole('combobox', { name: 'Canned reply' }).selectOption({ label: 'Fit note' });
    await newcomer.getByRole('button', { name: 'Insert' }).click();

    expect(await newcomer.getByLabel('Reply to Carl Canned').inputValue()).toBe('Your fit note is ready to collect from reception.');
    await newcomer.getByRole('button', { name: 'Send' }).click();
    await waitUntil(() => messageBodies(patient).includes('Your fit note is ready to collect from reception.'), 'the patient to read the canned reply');
  });

  it('revokes a device and offboards a colleague, then walks the checklist: the record key rotated and new keys in every open conversation', async () => {
    await go(page, 'Staff');
    const newcomerCard = page.getByRole('article', { name: 'Dr Nia Newcomer' });
    await newcomerCard
      .getByRole('button', { name: /^Revoke/ })
      .first()
      .click();
    await newcomerCard.getByText('Revoked').waitFor();
    await newcomer.getByRole('alert').filter({ hasText: 'This computer’s access was revoked by the practice.' }).waitFor();
    await newcomer.getByRole('button', { name: 'Sign in' }).waitFor();

    // A conversation open while the colleague leaves: the checklist gives it new keys.
    const late = await world.patient('Lena Late');
    await openConversation(late, 'admin');
    const nurse = page.getByRole('article', { name: /Jo Bennett/ });
    await nurse.getByRole('button', { name: /^Offboard/ }).click();
    await nurse.getByRole('button', { name: /^Yes, offboard/ }).click();
    await page
      .getByRole('status')
      .filter({ hasText: /is offboarded; .*Finish the offboarding under their name/ })
      .waitFor({ timeout: 60_000 });
    const checklist = nurse.getByRole('region', { name: /^Offboarding/ });
    await checklist.getByText(/^Rotate the record key/).waitFor();
    await checklist.getByText(/^Start new keys in \d+ open conversations?/).waitFor();
    expect(await accessibilityViolations(page)).toEqual([]);

    await checklist.getByRole('button', { name: /^Finish offboarding/ }).click();
    await checklist
      .getByRole('status')
      .filter({ hasText: /^Offboarding complete/ })
      .waitFor({ timeout: 60_000 });

    expect(await checklist.getByText(/^Record key rotated \(now version 2\)/).count()).toBe(1);
    expect(await checklist.getByText(/^New keys in every open conversation/).count()).toBe(1);
    const keys = await managerApi.getPracticeKeys();
    expect(keys.ok && keys.data.recordKeys.map((key) => key.version)).toEqual([1, 2]);
    const progress = await managerApi.offboardingProgress(
      (await managerApi.listStaff().then((r) => (r.ok ? r.data : []))).find((m) => /Jo Bennett/.test(m.displayName))!.userId,
    );
    expect(progress.ok && progress.data).toMatchObject({ recordKey: { isRotated: true }, conversationsToRenewCount: 0 });
    // The patient's client writes on under the new keys.
    await late.chat.conversation(late.conversationId!).send('Still here after the change.');
  });

  it("names the revoked device and the leaver's devices in the practice's revocation list, signed in the manager's browser", async () => {
    const staff = await managerApi.listStaff();
    const keys = await managerApi.getPracticeKeys();
    if (!staff.ok || !keys.ok || !keys.data.rootSignPublicKey) throw new Error('the staff list and practice keys should load');
    const revokedDevices = staff.data
      .filter((member) => member.displayName === 'Dr Nia Newcomer' || /Jo Bennett/.test(member.displayName))
      .flatMap((member) => member.devices.filter((device) => device.revokedAt !== null).map((device) => device.id));
    // Verified as every client verifies it: under the practice's root, whatever the server says about the devices.
    const state = new RevocationState({ api: managerApi, practiceOdsCode: world.odsCode, pinnedRoot: fromBase64(keys.data.rootSignPublicKey) });

    const list = await state.refresh();

    expect(revokedDevices.length).toBeGreaterThanOrEqual(2);
    expect(list?.version).toBe(2);
    for (const deviceId of revokedDevices) expect(state.isRevoked(deviceId)).toBe(true);
    const managerDevices = staff.data.find((member) => member.userId === world.manager.userId)?.devices ?? [];
    expect(managerDevices.length).toBeGreaterThan(0);
    for (const device of managerDevices) expect(state.isRevoked(device.id)).toBe(false);
  });

  it('signs into the revocation list a device the server revoked without it (a patient who signed out), when the manager asks', async () => {
    const leaving = await world.patient('Sid Signout');
    const devices = await leaving.chat.api.listDevices();
    const deviceId = devices.ok ? devices.data[0]!.id : '';
    expect((await leaving.chat.api.signOut()).ok).toBe(true);
    await leaving.chat.close();

    await go(page, 'Practice settings');
    await go(page, 'Staff');
    const pending = page.getByRole('region', { name: 'Revocations to sign' });
    await pending.getByText(/^One device was revoked on the server/).waitFor();
    expect(await accessibilityViolations(page)).toEqual([]);
    await pending.getByRole('button', { name: 'Add them to the revocation list' }).click();
    await page
      .getByRole('status')
      .filter({ hasText: /^One device revoked on the server: the practice's revocation list \(version \d+\) names it/ })
      .waitFor();

    const keys = await managerApi.getPracticeKeys();
    if (!keys.ok || !keys.data.rootSignPublicKey) throw new Error('the practice keys should load');
    const state = new RevocationState({ api: managerApi, practiceOdsCode: world.odsCode, pinnedRoot: fromBase64(keys.data.rootSignPublicKey) });
    await state.refresh();
    expect(state.isRevoked(deviceId)).toBe(true);
    expect(await pending.count()).toBe(0);
  });

  it('edits the weekly hours, exceptions, categories, texts and terms live', async () => {
    await go(page, 'Practice settings');
    // The demo practice is open 00:00–24:00 every day: split Sunday in two (still always open), and see an overlap refused.
    const weeklyNow = async () =>
      ((await fetch(`${world.url}/api/hours`, { headers: { authorization: `Bearer ${world.manager.token}` } }).then((r) => r.json())) as { weekly: unknown[] })
        .weekly;
    expect(await weeklyNow()).toHaveLength(7);
    await page.getByRole('button', { name: 'Add an interval' }).click();
    await page.getByRole('button', { name: 'Save opening hours' }).click();
    await page
      .getByRole('status')
      .filter({ hasText: /^Not saved/ })
      .waitFor();
    expect(await weeklyNow()).toHaveLength(7);

    await page.getByRole('combobox', { name: 'Day of interval 8' }).selectOption('Sunday');
    await page.getByLabel('Opens, interval 8').fill('12:00');
    await page.getByLabel('Closes, interval 8').fill('24:00');
    await page.getByLabel('Closes, interval 7').fill('12:00');
    await page.getByRole('button', { name: 'Save opening hours' }).click();
    await page.getByRole('status').filter({ hasText: 'Opening hours saved.' }).waitFor();
    expect((await weeklyNow()).filter((interval) => (interval as { weekday: number }).weekday === 7)).toEqual([
      { weekday: 7, start: '00:00', end: '12:00' },
      { weekday: 7, start: '12:00', end: '24:00' },
    ]);

    await page.getByLabel('Exception date').fill('2030-12-25');
    await page.getByLabel('Reason').fill('Christmas Day');
    await page.getByRole('button', { name: 'Save exception' }).click();
    await page.getByRole('listitem').filter({ hasText: '2030-12-25: Christmas Day, closed all day' }).waitFor();

    await page.getByLabel('New category').fill('Travel vaccinations');
    await page.getByRole('button', { name: 'Add category' }).click();
    await page.getByRole('button', { name: 'Save categories' }).click();
    await page.getByRole('status').filter({ hasText: 'Categories saved.' }).waitFor();

    await page.getByLabel('Practice phone number').fill('01632 960123');
    await page.getByRole('button', { name: 'Save texts' }).click();
    await page.getByRole('status').filter({ hasText: 'Texts saved.' }).waitFor();

    await page.getByLabel('Terms text').fill('Use this service for non-urgent matters only. In an emergency call 999.');
    await page.getByRole('button', { name: 'Publish as a new version' }).click();
    await page.getByText(/^Version \d+, published/).waitFor();

    const settings = await managerApi.getPracticeSettings();
    expect(settings.ok && settings.data.categories.find((c) => c.slug === 'travel-vaccinations')).toMatchObject({
      label: 'Travel vaccinations',
      isEnabled: true,
    });
    expect(settings.ok && settings.data.practicePhone).toBe('01632 960123');
    const terms = await managerApi.getTerms();
    expect(terms.ok && terms.data.terms?.text).toBe('Use this service for non-urgent matters only. In an emergency call 999.');
    expect(await accessibilityViolations(page)).toEqual([]);

    await page.getByRole('button', { name: 'Remove exception on 2030-12-25' }).click();
    await page.getByText('No exceptions ahead.').waitFor();
  });

  it('finds a patient with their past conversations; opening one shows it decrypted and is audited', async () => {
    await go(page, 'Find or invite a patient');
    await page.getByLabel('Name (or part of it)').fill('Wendy');
    await page.getByRole('button', { name: 'Search' }).click();
    const result = page.getByRole('article', { name: 'Wendy Waiting' });
    await result.getByRole('row').nth(1).waitFor();
    expect(await accessibilityViolations(page)).toEqual([]);
    await result.getByRole('button', { name: /^Open/ }).first().click();

    const log = page.getByRole('log', { name: 'Messages with Wendy Waiting' });
    await log.getByText('Is my fit note ready?').waitFor();
    // The sender line is the name and role the root-signed certificate of the newcomer's device vouches for.
    await log
      .getByRole('listitem')
      .filter({ hasText: 'It is signed and at reception.' })
      .getByText(/^Dr Nia Newcomer \(clinician\), \d\d:\d\d$/)
      .waitFor();
    await go(page, 'Audit log');
    await page.getByRole('combobox', { name: 'Action' }).selectOption('conversation.read');
    await page.getByRole('button', { name: 'Show events' }).click();
    await page.getByRole('cell', { name: waiting.conversationId! }).first().waitFor();
    expect(await accessibilityViolations(page)).toEqual([]);
  });

  it('runs under the strict content security policy without a violation', () => {
    // The refusals this file provokes on purpose (overlapping opening hours; an invitation from a device not admitted yet) are logged by Chromium as failed loads.
    const provoked = ['status of 400 (Bad Request)', 'status of 403 (Forbidden)'];
    expect(consoleErrors.filter((text) => !provoked.some((refusal) => text.includes(refusal)))).toEqual([]);
    expect(consoleErrors.length).toBeLessThanOrEqual(2);
  });
});
