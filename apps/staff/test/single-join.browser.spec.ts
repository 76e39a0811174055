import type { AuditPage } from '@parley/protocol';
import type { Browser, Page } from 'playwright-core';
import { launchChromium } from '@parley/testing';
import { openConversation, signInThroughPage, startStaffWorld, waitUntil, type StaffLogin, type StaffWorld, type TestPatient } from './world.js';

const messageBodies = (patient: TestPatient) => patient.entries.flatMap((entry) => (entry.ok && entry.value.kind === 'message' ? [entry.value.body] : []));

describe('staff app: opening a conversation joins it once, so the audit log has one read per person and conversation (Chromium, real gateway and database)', () => {
  let world: StaffWorld;
  let browser: Browser;
  let page: Page;
  let managerPage: Page;
  let doctor: StaffLogin;
  let patient: TestPatient;

  /** The `conversation.read` events the gateway audited for one person and conversation (a join, or a sync without one). */
  const readsBy = async (actor: StaffLogin, conversationId: string) => {
    const query = new URLSearchParams({ action: 'conversation.read', actorUserId: actor.userId, conversationId });
    const response = await fetch(`${world.url}/api/audit?${query}`, { headers: { authorization: `Bearer ${world.manager.token}` } });
    expect(response.status).toBe(200);
    return ((await response.json()) as AuditPage).events;
  };

  beforeAll(async () => {
    [world, browser] = await Promise.all([startStaffWorld(), launchChromium()]);
    doctor = world.clinicians.find((c) => c.email.startsWith('dr.'))!;
    page = await (await browser.newContext()).newPage();
    managerPage = await (await browser.newContext()).newPage();
    await signInThroughPage(page, world.url, world.odsCode, doctor);
    await page.getByRole('radio', { name: 'Available' }).check();
    patient = await world.patient('Olive Once');
  }, 120_000);

  afterAll(async () => {
    await browser?.close();
    await world?.close();
  });

  it('opens an assigned conversation in a tab with one join: one audited read, however the clinician works in it', async () => {
    const conversationId = await openConversation(patient, 'admin');
    await page.getByRole('tab', { name: /Olive Once/ }).waitFor();
    await patient.chat.conversation(conversationId).send('Is my repeat prescription ready?');
    const log = page.getByRole('log', { name: 'Messages with Olive Once' });
    await log.getByText('Is my repeat prescription ready?').waitFor();

    await page.getByLabel('Reply to Olive Once').fill('Yes, at the pharmacy from noon.');
    await page.getByRole('button', { name: 'Send' }).click();
    await waitUntil(() => messageBodies(patient).includes('Yes, at the pharmacy from noon.'), 'the patient to decrypt the reply');
    await page.getByRole('tab', { name: /Olive Once/ }).click();
    await log.getByText('Yes, at the pharmacy from noon.').waitFor();

    const reads = await readsBy(doctor, conversationId);
    expect(reads).toHaveLength(1);
    expect(reads[0]).toMatchObject({ actorUserId: doctor.userId, subjectUserId: patient.userId, conversationId });
  });

  it('opens a past conversation from the patient search with one join: one audited read for the manager', async () => {
    const conversationId = patient.conversationId!;
    await signInThroughPage(managerPage, world.url, world.odsCode, world.manager);
    await managerPage.getByRole('navigation', { name: 'Console' }).getByRole('button', { name: 'Find or invite a patient' }).click();
    await managerPage.getByLabel('Name (or part of it)').fill('Olive');
    await managerPage.getByRole('button', { name: 'Search' }).click();
    await managerPage.getByRole('article', { name: 'Olive Once' }).getByRole('button', { name: /^Open/ }).first().click();

    const log = managerPage.getByRole('log', { name: 'Messages with Olive Once' });
    await log.getByText('Yes, at the pharmacy from noon.').waitFor();

    const reads = await readsBy(world.manager, conversationId);
    expect(reads).toHaveLength(1);
    expect(reads[0]).toMatchObject({ actorUserId: world.manager.userId, subjectUserId: patient.userId, conversationId });
    expect(await readsBy(doctor, conversationId)).toHaveLength(1);
  });
});
