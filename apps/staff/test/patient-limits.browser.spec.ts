import type { HoursView, PracticeSettings } from '@parley/protocol';
import type { Browser, Page } from 'playwright-core';
import { accessibilityViolations, launchChromium } from '@parley/testing';
import { openConversation, signInThroughPage, startStaffWorld, type StaffWorld } from './world.js';

/** Issue #14 points 4 and 5: the manager sees and changes the limits per patient and the reply window after closing. */
describe("staff app: a manager's limits per patient and reply window (Chromium, real gateway and database)", () => {
  let world: StaffWorld;
  let browser: Browser;
  let page: Page;

  const read = async <T>(path: string): Promise<T> =>
    (await fetch(`${world.url}${path}`, { headers: { authorization: `Bearer ${world.manager.token}` } }).then((response) => response.json())) as T;

  beforeAll(async () => {
    [world, browser] = await Promise.all([startStaffWorld(), launchChromium()]);
    page = await (await browser.newContext()).newPage();
    await signInThroughPage(page, world.url, world.odsCode, world.manager);
    await page.getByRole('navigation', { name: 'Console' }).getByRole('button', { name: 'Practice settings' }).click();
  }, 120_000);

  afterAll(async () => {
    await browser?.close();
    await world?.close();
  });

  it('shows the default limits per patient, and a raised limit lets a patient open a second conversation at once', async () => {
    const limits = page.getByRole('region', { name: 'Limits per patient' });
    const open = limits.getByLabel('Open conversations per patient at once');
    const daily = limits.getByLabel('New conversations per patient per day');
    await open.waitFor();
    const patient = await world.patient('Lena Limit');
    await openConversation(patient, 'admin');
    const refused = await patient.chat.openConversation('admin').catch((error: unknown) => error as { code: string });

    expect([await open.inputValue(), await daily.inputValue()]).toEqual(['1', '3']);
    expect(refused).toMatchObject({ code: 'patient_limit' });

    await open.fill('2');
    await daily.fill('');
    await limits.getByRole('button', { name: 'Save limits per patient' }).click();
    await page.getByRole('status').filter({ hasText: 'Limits per patient saved.' }).waitFor();
    const second = await patient.chat.openConversation('admin');

    expect((await read<PracticeSettings>('/api/practice/settings')).patientLimits).toEqual({ maxOpenPerPatient: 2, maxNewPerPatientPerDay: null });
    expect(await limits.getByLabel('New conversations per patient per day').inputValue()).toBe('');
    expect(second.status).not.toBe('closed');
    expect(await accessibilityViolations(page)).toEqual([]);
  });

  it('shows the reply window after closing and changes it', async () => {
    const window = page.getByRole('group', { name: /After closing, a conversation a clinician has taken stays two-way/ });
    const endOfDay = window.getByRole('radio', { name: /Until the end of the day the practice closed/ });
    await endOfDay.waitFor();
    const wasDefault = await endOfDay.isChecked();

    await window.getByRole('radio', { name: 'Until the clinician closes the conversation' }).check();
    await page.getByRole('button', { name: 'Save reply window' }).click();
    await page.getByRole('status').filter({ hasText: 'Reply window saved.' }).waitFor();

    expect(wasDefault).toBe(true);
    expect((await read<HoursView>('/api/hours')).settings.replyWindow).toBe('until_closed');
    expect(await page.getByRole('radio', { name: 'Until the clinician closes the conversation' }).isChecked()).toBe(true);
  });
});
