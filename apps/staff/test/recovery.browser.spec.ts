import { HttpApi } from '@parley/client';
import { generatePatientAccountKeys, TEST_KDF_PARAMS, toBase64 } from '@parley/crypto';
import type { RecoverySummary } from '@parley/protocol';
import { activatePatient, ChatSession, createPatientInvitation, openInvitation, openRecovery, startRecovery, submitRecovery } from '@parley/sdk';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { accessibilityViolations, launchChromium } from '@parley/testing';
import { signInThroughPage, startStaffWorld, waitUntil, type StaffLogin, type StaffWorld } from './world.js';

/**
 * Flow B in Chromium (docs/crypto.md, "Practice-assisted recovery"): a manager starts a recovery in the staff app, the
 * patient types the code in the patient app and chooses a new passphrase, a single approval is refused, a clinician
 * approves in their own browser, the manager completes, the patient signs in with the new passphrase and reads their
 * old conversation, and the audit log names both approvers.
 */
describe('forgotten passphrase: practice-assisted recovery across both apps (Chromium, real gateway and database)', () => {
  let world: StaffWorld;
  let browser: Browser;
  const contexts: BrowserContext[] = [];
  let doctor: StaffLogin;
  /** The patient's device from before they forgot the passphrase: signed in in a browser of its own. */
  let oldPhone: Page;
  const nhsNumber = '9990001234';
  const dateOfBirth = '1980-02-03';
  const oldPassphrase = 'copper kettle meadow anchor violin tundra';
  const consoleErrors: string[] = [];

  const newPage = async (): Promise<Page> => {
    const context = await browser.newContext();
    contexts.push(context);
    const page = await context.newPage();
    page.on('console', (message) => message.type() === 'error' && consoleErrors.push(message.text()));
    return page;
  };
  const openRecoveries = async (page: Page) => {
    await page.getByRole('navigation', { name: 'Console' }).getByRole('button', { name: 'Recoveries' }).click();
    await page.getByRole('button', { name: 'Check for new requests' }).click();
    await page.getByRole('table', { name: 'Recoveries' }).waitFor();
  };

  beforeAll(async () => {
    [world, browser] = await Promise.all([startStaffWorld(), launchChromium()]);
    doctor = world.clinicians.find((c) => c.email.startsWith('dr.'))!;
    // The patient activates at the real cost (their browser signs in with the same KDF parameters) and writes once.
    const inviter = world.demo.staff.find((member) => member.userId === doctor.userId)!;
    const issued = await createPatientInvitation({
      baseUrl: world.url,
      token: doctor.token,
      practice: world.odsCode,
      device: inviter.device,
      pinnedRoot: world.demo.practice.root.signPublicKey,
      patient: { displayName: 'Rita Forgetful', nhsNumber, dateOfBirth },
    });
    const invitation = await openInvitation({ baseUrl: world.url, practice: world.odsCode, code: issued.code, dateOfBirth });
    const activated = await activatePatient({ baseUrl: world.url, invitation, dateOfBirth, passphrase: oldPassphrase, deviceLabel: 'first phone' });
    const api = new HttpApi({ baseUrl: world.url, token: activated.session.token });
    const terms = await api.getTerms();
    if (terms.ok && terms.data.needsConsent && terms.data.terms) await api.acceptTerms({ version: terms.data.terms.version });
    const chat = await ChatSession.start({ baseUrl: world.url, signedIn: activated, pinnedRoot: activated.pinnedRoot, epochKeys: activated.epochKeys });
    const conversationId = (await chat.openConversation('admin')).id;
    await chat.conversation(conversationId).open();
    const sent = await chat.conversation(conversationId).send('Written before I forgot my passphrase.');
    expect(sent.ok).toBe(true);
    await chat.close();

    oldPhone = await newPage();
    await oldPhone.goto(`${world.url}/`);
    await oldPhone.getByRole('button', { name: 'Sign in' }).click();
    await oldPhone.getByLabel('Practice code', { exact: true }).fill(world.odsCode);
    await oldPhone.getByLabel('NHS number', { exact: true }).fill(nhsNumber);
    await oldPhone.getByLabel('Passphrase', { exact: true }).fill(oldPassphrase);
    await oldPhone.getByRole('button', { name: 'Sign in' }).click();
    await oldPhone.getByRole('heading', { name: /^Hello/ }).waitFor({ timeout: 60_000 });
  }, 180_000);

  afterAll(async () => {
    for (const context of contexts) await context.close().catch(() => undefined);
    await browser?.close();
    await world?.close();
  });

  it('recovers the account with two approvals, refuses one, and the patient reads their old history with the new passphrase', async () => {
    const manager = await newPage();
    await signInThroughPage(manager, world.url, world.odsCode, world.manager);
    await openRecoveries(manager);
    await manager.getByRole('form', { name: 'New recovery' }).getByLabel("Patient's NHS number").fill(nhsNumber);
    await manager.getByRole('button', { name: 'Start a recovery' }).click();
    const card = manager.getByRole('region', { name: 'Recovery code for Rita Forgetful' });
    await card.waitFor({ timeout: 60_000 });
    const code = (await card.locator('[data-recovery-code]').textContent())!.replace(/\s/g, '');
    expect(await accessibilityViolations(manager)).toEqual([]);

    // The patient, on a new device, with the code from the letter and a new passphrase.
    const phone = await newPage();
    await phone.goto(`${world.url}/`);
    await phone.getByRole('button', { name: 'Sign in' }).click();
    await phone.getByRole('button', { name: 'Forgot your passphrase?' }).click();
    const codeForm = phone.getByRole('form', { name: 'Your recovery code' });
    await codeForm.getByLabel('Practice code').fill(world.odsCode);
    await codeForm.getByLabel('Recovery code').fill(code);
    await codeForm.getByLabel('Date of birth').fill(dateOfBirth);
    await codeForm.getByRole('button', { name: 'Continue' }).click();
    await phone.getByRole('button', { name: 'Suggest six words for me' }).click({ timeout: 60_000 });
    await waitUntil(async () => (await phone.getByLabel('New passphrase', { exact: true }).inputValue()).split(' ').length === 6, 'six suggested words');
    const passphrase = await phone.getByLabel('New passphrase', { exact: true }).inputValue();
    await phone.getByRole('button', { name: 'Send to the practice' }).click();
    await phone.getByText('Two members of staff at your practice must now approve your new keys.').waitFor({ timeout: 60_000 });
    const fingerprint = (await phone.locator('[data-account-fingerprint]').textContent())!.trim();
    expect(await accessibilityViolations(phone)).toEqual([]);

    // One approval is not enough: the manager approves, and completing is refused.
    await openRecoveries(manager);
    const row = manager.getByRole('row').filter({ hasText: 'Rita Forgetful' }).filter({ hasText: 'Waiting for approval' });
    await row.getByText(fingerprint).waitFor();
    await row.getByRole('button', { name: 'Approve recovery for Rita Forgetful' }).click();
    await manager.getByText('Approved. A second member of staff must approve it too.').waitFor();
    await row.getByRole('button', { name: 'Complete recovery for Rita Forgetful' }).click();
    await manager.getByRole('alert').filter({ hasText: 'A second member of staff, signed in as someone else, must approve this recovery first.' }).waitFor();
    expect(await row.getByRole('button', { name: 'Approve recovery for Rita Forgetful' }).count()).toBe(0);

    // A clinician, in their own browser, approves; then the manager completes.
    const clinician = await newPage();
    await signInThroughPage(clinician, world.url, world.odsCode, doctor);
    await openRecoveries(clinician);
    const theirRow = clinician.getByRole('row').filter({ hasText: 'Rita Forgetful' }).filter({ hasText: 'Waiting for approval' });
    await theirRow.getByText(fingerprint).waitFor();
    expect(await theirRow.getByRole('button', { name: 'Complete recovery for Rita Forgetful' }).count()).toBe(0);
    await theirRow.getByRole('button', { name: 'Approve recovery for Rita Forgetful' }).click();
    await clinician.getByText('Approved.', { exact: true }).waitFor();
    await openRecoveries(manager);
    await row.getByText('2 of 2').waitFor();
    await row.getByRole('button', { name: 'Complete recovery for Rita Forgetful' }).click();
    await manager.getByText(/Recovery completed: 1 conversation key handed over/).waitFor({ timeout: 60_000 });

    // The device still signed in with the old keys says so, and asks to sign in again.
    await oldPhone.getByText('Your keys changed: your practice recovered your account. Sign in again with your new passphrase.').waitFor({ timeout: 30_000 });
    await oldPhone.getByRole('heading', { name: 'Sign in' }).waitFor();

    // The patient signs in with the new passphrase and reads what they wrote before.
    await phone.getByRole('button', { name: 'Back to sign in' }).click();
    await phone.getByLabel('Practice code', { exact: true }).fill(world.odsCode);
    await phone.getByLabel('NHS number', { exact: true }).fill(nhsNumber);
    await phone.getByLabel('Passphrase', { exact: true }).fill(passphrase);
    await phone.getByRole('button', { name: 'Sign in' }).click();
    const accept = phone.getByRole('button', { name: 'Accept and continue' });
    const hello = phone.getByRole('heading', { name: /^Hello/ });
    await accept.or(hello).waitFor({ timeout: 60_000 });
    if (await accept.isVisible()) await accept.click();
    await hello.waitFor({ timeout: 30_000 });
    await phone
      .getByRole('button', { name: /started/ })
      .first()
      .click();
    await phone.getByRole('list', { name: 'Messages' }).getByText('Written before I forgot my passphrase.').waitFor({ timeout: 30_000 });

    // The audit log names both approvers.
    await manager.getByRole('navigation', { name: 'Console' }).getByRole('button', { name: 'Audit log' }).click();
    await manager.getByText(`Approved by ${world.manager.displayName} and ${doctor.displayName}`, { exact: false }).waitFor({ timeout: 30_000 });
    expect(await accessibilityViolations(manager)).toEqual([]);
    // The recoveries screen on a phone-sized screen: rows stack, nothing scrolls sideways.
    await manager.setViewportSize({ width: 320, height: 800 });
    await openRecoveries(manager);
    await waitUntil(
      async () => manager.evaluate(() => document.documentElement.scrollWidth <= document.documentElement.clientWidth),
      'no horizontal scroll on the recoveries screen at 320 px',
      5_000,
    );
    expect(await accessibilityViolations(manager)).toEqual([]);
    expect(consoleErrors.filter((text) => !/status of 40[13]/.test(text))).toEqual([]);
  }, 300_000);

  it('marks a recovery whose new key the server swapped as not verifying, and offers no approval for it', async () => {
    const other = await world.patient('Sam Swapped');
    const inviter = world.demo.staff.find((member) => member.userId === doctor.userId)!;
    const issued = await startRecovery({
      baseUrl: world.url,
      token: doctor.token,
      practice: world.odsCode,
      device: inviter.device,
      pinnedRoot: world.demo.practice.root.signPublicKey,
      patientId: other.userId,
      kdf: TEST_KDF_PARAMS,
    });
    const verified = await openRecovery({ baseUrl: world.url, practice: world.odsCode, code: issued.code, dateOfBirth: '1980-02-03', kdf: TEST_KDF_PARAMS });
    await submitRecovery({
      baseUrl: world.url,
      recovery: verified,
      dateOfBirth: '1980-02-03',
      passphrase: 'saffron glacier pebble orbit lantern thistle',
      kdf: TEST_KDF_PARAMS,
    });
    // The lying server: its own account key in place of the patient's, in the list the staff app reads.
    const attacker = generatePatientAccountKeys();
    let swapped = 0;
    const page = await newPage();
    await page.context().route('**/api/recoveries', async (route) => {
      const response = await route.fetch();
      const list = (await response.json()) as RecoverySummary[];
      for (const recovery of list) {
        if (recovery.id !== issued.recoveryId || !recovery.newAccount) continue;
        recovery.newAccount = { ...recovery.newAccount, signPublicKey: toBase64(attacker.signPublicKey), boxPublicKey: toBase64(attacker.boxPublicKey) };
        swapped += 1;
      }
      await route.fulfill({ response, json: list });
    });

    await signInThroughPage(page, world.url, world.odsCode, world.manager);
    await openRecoveries(page);
    const row = page.getByRole('row').filter({ hasText: 'Sam Swapped' });
    await row.getByText('Does not verify: do not approve').waitFor();

    expect(swapped).toBeGreaterThan(0);
    expect(await row.getByRole('button').count()).toBe(0);
    const listed = await new HttpApi({ baseUrl: world.url, token: world.manager.token }).listRecoveries();
    expect(listed.ok && listed.data.find((recovery) => recovery.id === issued.recoveryId)?.approvals).toEqual([]);
  }, 180_000);
});
