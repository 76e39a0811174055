import { createEpochKey, generateDeviceKeys } from '@parley/crypto';
import type { ReceiptUpdated } from '@parley/protocol';
import { encryptForSend } from '@parley/sdk';
import type { Browser, Page } from 'playwright-core';
import { accessibilityViolations, launchChromium } from '@parley/testing';
import { openConversation, signInThroughPage, startStaffWorld, waitUntil, type StaffLogin, type StaffWorld, type TestPatient } from './world.js';

/**
 * Issue #14 points 1 and 2 on the staff screen: the red-flag screening a patient's device signs into
 * a message and the urgent mark it raises, and an entry this computer cannot open, which must raise an
 * alarm and must never be reported to the patient as read.
 */
describe('staff app: red flags, urgent conversations and messages this computer cannot open (Chromium, real gateway and database)', () => {
  let world: StaffWorld;
  let browser: Browser;
  let page: Page;
  let doctor: StaffLogin;
  const consoleErrors: string[] = [];

  beforeAll(async () => {
    [world, browser] = await Promise.all([startStaffWorld(), launchChromium()]);
    doctor = world.clinicians.find((c) => c.email.startsWith('dr.'))!;
    // Room for one: becoming available takes the head of the queue only.
    const caps = await world.manager.session.client.request('capacity:set-clinician', { clinicianId: doctor.userId, maxConcurrent: 1, dailyMax: null });
    expect(caps.ok).toBe(true);
    page = await (await browser.newContext()).newPage();
    page.on('console', (message) => message.type() === 'error' && consoleErrors.push(message.text()));
    await signInThroughPage(page, world.url, world.odsCode, doctor);
  }, 120_000);

  afterAll(async () => {
    await browser?.close();
    await world?.close();
  });

  it('puts the conversation a patient marked urgent at the head of the queue, highlighted, and marks the red-flag message in the panel', async () => {
    const routine = await world.patient('Rita Routine');
    const routineId = await openConversation(routine, 'admin');
    await routine.chat.conversation(routineId).send('Could I book a blood test next week?');
    const urgent = await world.patient('Uma Patel');
    const urgentId = await openConversation(urgent, 'admin');
    // What the patient app does after its red-flag panel, when the patient chooses to send anyway.
    const sent = await urgent.chat.conversation(urgentId).send('I have crushing chest pain', { redFlags: ['chest_pain'] });
    expect(sent.ok).toBe(true);
    const marked = await urgent.chat.conversation(urgentId).markUrgent();
    expect(marked.urgentAt).not.toBeNull();

    const queue = page.getByRole('list', { name: 'Waiting patients' });
    await page.getByRole('heading', { name: 'Waiting (2, 1 urgent)' }).waitFor({ timeout: 30_000 });
    const rows = queue.getByRole('listitem');
    expect(await rows.nth(0).textContent()).toMatch(/^\s*Urgent: red flag/);
    expect(await rows.nth(1).textContent()).not.toMatch(/Urgent/);
    expect(await rows.nth(0).evaluate((row) => getComputedStyle(row).backgroundColor)).not.toBe(
      await rows.nth(1).evaluate((row) => getComputedStyle(row).backgroundColor),
    );
    expect(await accessibilityViolations(page)).toEqual([]);

    // Available with room for one: the queue gives the urgent conversation first, though it came second.
    await page.getByRole('radio', { name: 'Available' }).check();
    await page.getByRole('tab', { name: /Urgent.*Uma Patel/ }).waitFor({ timeout: 30_000 });
    await page.getByRole('tab', { name: /Uma Patel/ }).click();
    const log = page.getByRole('log', { name: 'Messages with Uma Patel' });
    const message = log.getByRole('listitem').filter({ hasText: 'I have crushing chest pain' });
    await message.getByText('Red flag: chest pain. The patient was shown the 999/111 advice and chose to send.').waitFor();
    await log.getByText(/^marked urgent by the patient’s device after the 999\/111 advice/).waitFor();
    await page
      .getByRole('note')
      .filter({ hasText: /^Urgent: the patient's device marked this conversation urgent at \d\d:\d\d/ })
      .waitFor();
    await page.getByRole('heading', { name: 'Waiting (1)' }).waitFor();
    expect(await queue.getByRole('listitem').textContent()).not.toMatch(/Urgent/);
    expect(await accessibilityViolations(page)).toEqual([]);
  }, 180_000);

  it('raises an alarm for a message this computer cannot open, and never tells the patient it was read', async () => {
    // Room for the next conversation (the routine one waiting is routed too).
    const caps = await world.manager.session.client.request('capacity:set-clinician', { clinicianId: doctor.userId, maxConcurrent: 3, dailyMax: null });
    expect(caps.ok).toBe(true);
    await page.getByRole('radio', { name: 'Available' }).check();
    const patient: TestPatient = await world.patient('Ursula Unopened');
    const receipts: ReceiptUpdated[] = [];
    patient.chat.client.on('receipt:updated', (fact) => void (fact.userId === doctor.userId && receipts.push(fact)));
    const conversationId = await openConversation(patient, 'admin');
    await page.getByRole('tab', { name: /Ursula Unopened/ }).click({ timeout: 30_000 });
    const log = page.getByRole('log', { name: 'Messages with Ursula Unopened' });
    await log.waitFor();

    const first = await patient.chat.conversation(conversationId).send('My first question, about my repeat prescription.');
    // A message sealed under a key no envelope carries: the server stores it (it cannot tell), and no staff computer can open it.
    const summary = (await patient.chat.listConversations()).find((c) => c.id === conversationId)!;
    const stranger = generateDeviceKeys();
    const unopenable = encryptForSend({
      conversation: summary,
      epoch: summary.currentEpoch,
      epochKey: createEpochKey(),
      sender: { userId: patient.userId, deviceId: crypto.randomUUID(), role: 'patient', signSecretKey: stranger.signSecretKey },
      senderDeviceSeq: 1_000,
      clientMessageId: crypto.randomUUID(),
      body: 'The question nobody at the practice can read.',
    });
    const lost = await patient.chat.outbox.enqueue(unopenable);
    const third = await patient.chat.conversation(conversationId).send('And one more thing: I am away next week.');
    if (!first.ok || !lost.ok || !third.ok) throw new Error('a send was refused');

    await log.getByText('And one more thing: I am away next week.').waitFor({ timeout: 30_000 });
    const alarm = page.getByRole('alert').filter({ hasText: 'A message in this conversation could not be opened on this computer.' });
    await alarm
      .getByText("Do not assume the patient's question was seen: ask the patient to resend, or phone them; tell the practice manager.", { exact: false })
      .waitFor();
    await log.getByText('This message could not be opened on this computer.').waitFor();
    await page.getByRole('tab', { name: /Unopened message.*Ursula Unopened/ }).waitFor();
    expect(await accessibilityViolations(page)).toEqual([]);

    // The clinician answers from the page; once the patient has the answer, every receipt the page sent before it has arrived too.
    await page.getByLabel('Reply to Ursula Unopened').fill('Thank you, we will look at the prescription.');
    await page.getByRole('button', { name: 'Send' }).click();
    await waitUntil(
      () => patient.entries.some((entry) => entry.ok && entry.value.kind === 'message' && entry.value.body === 'Thank you, we will look at the prescription.'),
      'the patient to receive the answer',
    );
    await waitUntil(() => receipts.some((r) => r.kind === 'read' && r.upToSeq >= first.data.seq), 'the read receipt for the first message');

    const furthest = (kind: 'read' | 'delivered') => Math.max(0, ...receipts.filter((r) => r.kind === kind).map((r) => r.upToSeq));
    expect(furthest('read')).toBeLessThan(lost.data.seq);
    expect(furthest('delivered')).toBeLessThan(lost.data.seq);
    // And what the server keeps (a reload of the patient's screen reads this) says the same.
    const joined = await patient.chat.client.request('conversation:join', { conversationId });
    if (!joined.ok) throw new Error(joined.error.message);
    const doctorsRead = joined.data.receipts.filter((r) => r.userId === doctor.userId && r.kind === 'read');
    expect(doctorsRead.length).toBeGreaterThan(0);
    expect(Math.max(...doctorsRead.map((r) => r.upToSeq))).toBeLessThan(lost.data.seq);
  }, 180_000);

  it('runs under the strict content security policy without a violation', () => {
    expect(consoleErrors).toEqual([]);
  });
});
