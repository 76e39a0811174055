import type { Browser, BrowserContext, Page } from 'playwright-core';
import { accessibilityViolations, launchChromium } from '@parley/testing';
import { openConversation, signInThroughPage, startStaffWorld, waitUntil, type StaffLogin, type StaffWorld, type TestPatient } from './world.js';

const messages = (patient: TestPatient) => patient.entries.flatMap((entry) => (entry.ok && entry.value.kind === 'message' ? [entry.value] : []));

/**
 * Rewrites what the gateway answers on the staff page's socket (socket.io text frames, `4` + packet
 * type + ack id + JSON): a stand-in for a server that lies. `edit` changes the parsed payload in place
 * and answers whether it changed anything; `count()` says how many frames it changed, so a test proves
 * it saw the data before it claims the page ignored it.
 */
async function rewriteSocketAnswers(context: BrowserContext, edit: (value: unknown) => boolean): Promise<{ count: () => number }> {
  let changed = 0;
  await context.routeWebSocket(/\/socket\.io\//, (ws) => {
    const server = ws.connectToServer();
    server.onMessage((message) => {
      const match = typeof message === 'string' ? /^(4[23]\d*)([[{].*)$/s.exec(message) : null;
      if (!match) return ws.send(message);
      const payload = JSON.parse(match[2]!) as unknown;
      if (edit(payload)) changed += 1;
      ws.send(`${match[1]}${JSON.stringify(payload)}`);
    });
  });
  return { count: () => changed };
}

/** Calls `visit` on every object inside a JSON value; answers whether any call changed something. */
function everyObject(value: unknown, visit: (object: Record<string, unknown>) => boolean): boolean {
  if (Array.isArray(value)) return value.map((item) => everyObject(item, visit)).some(Boolean);
  if (value === null || typeof value !== 'object') return false;
  const object = value as Record<string, unknown>;
  const here = visit(object);
  return (
    Object.values(object)
      .map((child) => everyObject(child, visit))
      .some(Boolean) || here
  );
}

describe('staff app: invitation-bound trust (Chromium, real gateway and database)', () => {
  let world: StaffWorld;
  let browser: Browser;
  let clinicianContext: BrowserContext;
  let page: Page;
  let doctor: StaffLogin;
  let patient: TestPatient;
  const consoleErrors: string[] = [];
  const watch = (target: Page) => target.on('console', (message) => message.type() === 'error' && consoleErrors.push(message.text()));

  beforeAll(async () => {
    [world, browser] = await Promise.all([startStaffWorld(), launchChromium()]);
    doctor = world.clinicians.find((c) => c.email.startsWith('dr.'))!;
    clinicianContext = await browser.newContext();
    page = await clinicianContext.newPage();
    watch(page);
  }, 120_000);

  afterAll(async () => {
    await browser?.close();
    await world?.close();
  });

  /** Signs the doctor in on a fresh page and opens Priya Firsttime's conversation from patient search. */
  const openPriyaAsDoctor = async (fresh: Page) => {
    await signInThroughPage(fresh, world.url, world.odsCode, doctor);
    await fresh.getByRole('navigation', { name: 'Console' }).getByRole('button', { name: 'Find or invite a patient' }).click();
    await fresh.getByLabel('Name (or part of it)').fill('Priya');
    await fresh.getByRole('button', { name: 'Search' }).click();
    await fresh.getByRole('article', { name: 'Priya Firsttime' }).getByRole('button', { name: /^Open/ }).click();
  };

  it('a clinician invites a new patient in the browser, reads and answers their first message, and the patient reads the answer: with no manager action at any point', async () => {
    await signInThroughPage(page, world.url, world.odsCode, doctor);
    await page.getByRole('radio', { name: 'Available' }).check();
    await page.getByRole('navigation', { name: 'Console' }).getByRole('button', { name: 'Find or invite a patient' }).click();
    const form = page.getByRole('form', { name: 'New patient invitation' });
    await form.getByLabel("Patient's full name").fill('Priya Firsttime');
    await form.getByLabel('NHS number').fill('943 476 5870');
    await form.getByLabel("Patient's date of birth").fill('1990-07-21');
    await form.getByRole('button', { name: 'Create invitation' }).click();

    // The code is read off the screen, as a receptionist reads it out: it exists nowhere else.
    const card = page.getByRole('region', { name: 'Invitation for Priya Firsttime' });
    await card.waitFor({ timeout: 60_000 });
    const code = (await card.locator('[data-invitation-code]').textContent())!.replace(/\s/g, '');
    const link = new URL((await card.locator('[data-invitation-link]').textContent())!.trim());
    expect(new URLSearchParams(link.hash.slice(1)).get('code')).toBe(code);
    expect(await accessibilityViolations(page)).toEqual([]);
    patient = await world.activatePatient({ name: 'Priya Firsttime', code, dateOfBirth: '1990-07-21' });
    const conversationId = await openConversation(patient, 'admin');
    await patient.chat.conversation(conversationId).send('Hello, this is my first message to the practice.');

    const log = page.getByRole('log', { name: 'Messages with Priya Firsttime' });
    // Assigned to the clinician while they are still on the invitation screen: the cue takes them there.
    await page.getByRole('alert').filter({ hasText: 'New conversation assigned to you' }).getByRole('button', { name: 'Show it' }).click({ timeout: 60_000 });
    await page.getByRole('tab', { name: /Priya Firsttime/ }).waitFor();
    await log.getByText('Hello, this is my first message to the practice.').waitFor();
    expect(await page.getByText("This patient's keys do not chain to an invitation from this practice.").count()).toBe(0);
    await page.getByLabel('Reply to Priya Firsttime').fill('Welcome, Priya. How can we help?');
    await page.getByRole('button', { name: 'Send' }).click();

    await waitUntil(() => messages(patient).some((m) => m.body === 'Welcome, Priya. How can we help?'), 'the patient to read the answer');
    expect(messages(patient).find((m) => !m.isMine)).toMatchObject({ senderName: 'Dr Alex Morgan', senderRole: 'clinician' });
    // No manager vouched for this patient's key: the chain is the invitation made in the clinician's browser.
    const joined = await doctor.session.client.request('conversation:join', { conversationId });
    expect(joined.ok && joined.data.patientAccount).toMatchObject({
      certificate: null,
      accountSignature: expect.any(String),
      invitation: { creator: { userId: doctor.userId } },
    });
  }, 180_000);

  it('shows staff senders by the name their root-signed certificate vouches for, whatever name the server sends', async () => {
    const context = await browser.newContext();
    const impostor = await rewriteSocketAnswers(context, (value) =>
      everyObject(value, (object) => {
        if (!('certifiedAs' in object) || object['role'] === 'patient' || typeof object['displayName'] !== 'string') return false;
        object['displayName'] = 'Dr Impostor';
        return true;
      }),
    );
    const other = await context.newPage();
    watch(other);
    await openPriyaAsDoctor(other);

    const reply = other
      .getByRole('log', { name: 'Messages with Priya Firsttime' })
      .getByRole('listitem')
      .filter({ hasText: 'Welcome, Priya. How can we help?' });
    await reply.getByText(/^Dr Alex Morgan \(clinician\), \d\d:\d\d$/).waitFor();
    expect(impostor.count()).toBeGreaterThan(0);
    expect(await other.getByText('Dr Impostor').count()).toBe(0);
    await context.close();
  });

  it("raises the alarm, and shows no message, when a patient's keys do not chain to an invitation from this practice", async () => {
    const context = await browser.newContext();
    // The server swaps the invitation key's signature over the patient's account key (one bit flipped).
    const forged = await rewriteSocketAnswers(context, (value) =>
      everyObject(value, (object) => {
        if (typeof object['accountSignature'] !== 'string') return false;
        const bytes = Buffer.from(object['accountSignature'], 'base64');
        bytes[0]! ^= 1;
        object['accountSignature'] = bytes.toString('base64');
        return true;
      }),
    );
    const other = await context.newPage();
    watch(other);
    await openPriyaAsDoctor(other);

    const alarm = other.getByRole('alert').filter({ hasText: "This patient's keys do not chain to an invitation from this practice." });
    await alarm.waitFor();
    await alarm.getByText('Do not act on these messages; phone the patient and invite them again.').waitFor();
    const log = other.getByRole('log', { name: 'Messages with Priya Firsttime' });
    await log
      .getByText(/^Refused: this message does not come from keys the practice invited/)
      .first()
      .waitFor();
    expect(forged.count()).toBeGreaterThan(0);
    expect(await log.getByText('Hello, this is my first message to the practice.').count()).toBe(0);
    // No reply box: a reply could not be sealed anyway, and the alarm says to phone instead.
    expect(await other.getByLabel('Reply to Priya Firsttime').count()).toBe(0);
    expect(await accessibilityViolations(other)).toEqual([]);
    await context.close();
  });

  it('shows a device whose certificate names someone other than the staff list does as out of date, to admit again', async () => {
    const context = await browser.newContext();
    // The server renames the nurse in its listing; her device's certificate still names her as admitted.
    let renamed = 0;
    await context.route('**/api/staff', async (route) => {
      const response = await route.fetch();
      const members = (await response.json()) as { displayName: string }[];
      for (const member of members) {
        if (member.displayName.startsWith('Jo Bennett')) {
          member.displayName = 'Jo Bennett-Smith';
          renamed += 1;
        }
      }
      await route.fulfill({ response, json: members });
    });
    const manager = await context.newPage();
    watch(manager);
    await signInThroughPage(manager, world.url, world.odsCode, world.manager);
    await manager.getByRole('navigation', { name: 'Console' }).getByRole('button', { name: 'Staff' }).click();

    const nurse = manager.getByRole('article', { name: 'Jo Bennett-Smith' });
    const row = nurse.getByRole('row').filter({ hasText: 'Demo browser' });
    await row.getByText('Certificate out of date — admit again').waitFor();
    expect(await row.getByRole('cell').nth(4).textContent()).toBe('Jo Bennett (Practice Nurse) (clinician)');
    await row.getByRole('button', { name: /^Admit again/ }).waitFor();
    expect(renamed).toBeGreaterThan(0);
    expect(await accessibilityViolations(manager)).toEqual([]);
    await context.close();
  });

  it('runs under the strict content security policy without a violation', () => {
    expect(consoleErrors).toEqual([]);
  });
});
