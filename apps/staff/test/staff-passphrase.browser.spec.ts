import { readFile } from 'node:fs/promises';
import { HttpApi } from '@parley/client';
import { openStaffKeyBackup, activateStaff } from '@parley/sdk';
import type { Browser, Page } from 'playwright-core';
import { accessibilityViolations, launchChromium } from '@parley/testing';
import { startStaffWorld, type StaffWorld } from './world.js';

/** Issue #21 point 4: staff choose passphrases under the patient app's policy, and the key file is sealed under its own, costlier derivation. */
describe('staff app: the passphrase policy and the key file (Chromium, real gateway and database)', () => {
  let world: StaffWorld;
  let browser: Browser;
  let managerApi: HttpApi;
  const consoleErrors: string[] = [];
  const activations: string[] = [];
  let generated = '';
  let newcomer: Page;

  const go = (target: Page, screen: string) => target.getByRole('navigation', { name: 'Console' }).getByRole('button', { name: screen }).click();
  const advice = (target: Page) => target.locator('#passphrase-advice');

  /** A new staff account (its set-up code) and a fresh browser at the set-up form, filled in but for the passphrase. */
  const setUpForm = async (displayName: string, email: string): Promise<Page> => {
    const issued = await managerApi.createStaff({ displayName, email, roles: ['clinician'] });
    if (!issued.ok) throw new Error(issued.error.code);
    const page = await (await browser.newContext()).newPage();
    page.on('console', (message) => message.type() === 'error' && consoleErrors.push(message.text()));
    page.on('request', (request) => request.url().endsWith('/api/auth/activate') && activations.push(email));
    await page.goto(`${world.url}/staff/`);
    await page.getByRole('button', { name: 'I have a set-up code' }).click();
    await page.getByLabel('Practice code').fill(world.odsCode);
    await page.getByLabel('E-mail address').fill(email);
    await page.getByLabel(/Set-up code/).fill(issued.data.code);
    return page;
  };
  const notAdmittedYet = (page: Page) => page.getByRole('region', { name: 'This computer is not admitted yet' }).waitFor({ timeout: 60_000 });

  beforeAll(async () => {
    [world, browser] = await Promise.all([startStaffWorld(), launchChromium()]);
    managerApi = new HttpApi({ baseUrl: world.url, token: world.manager.token });
  }, 120_000);

  afterAll(async () => {
    await browser?.close();
    await world?.close();
  });

  it('refuses a weak passphrase at set-up with feedback, before anything is derived or sent', async () => {
    newcomer = await setUpForm('Dr Gen Erated', 'dr.generated@demo.parley.test');

    await newcomer.getByLabel('Choose a passphrase').fill('Summer2024!');
    await advice(newcomer).getByText('Not strong enough yet:').waitFor();
    await advice(newcomer).getByText('Use at least 15 characters — a few unrelated words work well.').waitFor();
    await newcomer.getByLabel('Choose a passphrase').fill('password password 123');
    await advice(newcomer).getByText('Avoid common passwords and their variations.').waitFor();
    await newcomer.getByRole('button', { name: 'Set up and sign in' }).click();

    await newcomer.getByRole('alert').filter({ hasText: 'Choose a stronger passphrase' }).waitFor();
    expect(activations).toEqual([]);
    expect(await newcomer.getByRole('heading', { name: 'Set up your account' }).count()).toBe(1);
    expect(await accessibilityViolations(newcomer)).toEqual([]);
  });

  it('offers a generated six-word phrase, shown so it can be written down, and sets up with it', async () => {
    await newcomer.getByRole('button', { name: 'Suggest six words for me' }).click();

    const field = newcomer.getByLabel('Choose a passphrase');
    await advice(newcomer).getByText('Strong enough.').waitFor();
    generated = await field.inputValue();
    expect(generated).toMatch(/^\S+( \S+){5}$/);
    expect(await field.getAttribute('type')).toBe('text');
    await newcomer.getByRole('button', { name: 'Set up and sign in' }).click();
    await notAdmittedYet(newcomer);
    expect(activations).toEqual(['dr.generated@demo.parley.test']);
  });

  it('accepts a strong passphrase the person typed', async () => {
    const page = await setUpForm('Nurse Ty Ped', 'nurse.typed@demo.parley.test');

    await page.getByLabel('Choose a passphrase').fill('amber lantern quietly folds paper');
    await advice(page).getByText('Strong enough.').waitFor();
    await page.getByRole('button', { name: 'Set up and sign in' }).click();

    await notAdmittedYet(page);
    await page.context().close();
  });

  it('makes the key backup file only with the sign-in passphrase, in format 4 at the key file cost', async () => {
    await go(newcomer, 'Key backup');
    const field = newcomer.getByLabel('Your sign-in passphrase');
    await field.fill('copper meadow ladder violin orbit puzzle');
    await newcomer.getByRole('button', { name: 'Make key backup file' }).click();
    await newcomer.getByRole('alert').filter({ hasText: 'That is not the passphrase you sign in with.' }).waitFor({ timeout: 60_000 });
    expect(await newcomer.getByRole('link', { name: 'Download the key backup file' }).count()).toBe(0);

    await field.fill(generated);
    await newcomer.getByRole('button', { name: 'Make key backup file' }).click();

    const link = newcomer.getByRole('link', { name: 'Download the key backup file' });
    await link.waitFor({ timeout: 60_000 });
    const [download] = await Promise.all([newcomer.waitForEvent('download'), link.click()]);
    const text = await readFile(await download.path(), 'utf8');
    expect(download.suggestedFilename()).toBe('parley-keys.json');
    expect(JSON.parse(text)).toMatchObject({
      format: 'parley-staff-keys/4',
      login: 'dr.generated@demo.parley.test',
      kdf: { opsLimit: 3, memLimitBytes: 256 * 1024 * 1024 },
    });
    expect((await openStaffKeyBackup(text, generated)).odsCode).toBe(world.odsCode);
    expect(await accessibilityViolations(newcomer)).toEqual([]);
  });

  it('will not seal a key backup file under a weak passphrase chosen before the check (another client set it)', async () => {
    const email = 'dr.legacy@demo.parley.test';
    const weak = 'letmein2020';
    const issued = await managerApi.createStaff({ displayName: 'Dr Leg Acy', email, roles: ['manager'] });
    if (!issued.ok) throw new Error(issued.error.code);
    await activateStaff({ baseUrl: world.url, practice: world.odsCode, code: issued.data.code, passphrase: weak, deviceLabel: 'old client' });
    const page = await (await browser.newContext()).newPage();
    await page.goto(`${world.url}/staff/`);
    await page.getByLabel('Practice code').fill(world.odsCode);
    await page.getByLabel('E-mail address').fill(email);
    await page.getByLabel('Passphrase').fill(weak);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await notAdmittedYet(page);

    await go(page, 'Key backup');
    await page.getByLabel('Your sign-in passphrase').fill(weak);
    await page.getByRole('button', { name: 'Make key backup file' }).click();

    const alert = page.getByRole('alert').filter({ hasText: 'too weak to lock a key backup file' });
    await alert.waitFor({ timeout: 60_000 });
    await alert.getByText('Use at least 15 characters — a few unrelated words work well.').waitFor();
    expect(await page.getByRole('link', { name: 'Download the key backup file' }).count()).toBe(0);
    await page.context().close();
  });

  it('logged no console errors (the CSP allowed everything the screens did)', () => {
    expect(consoleErrors).toEqual([]);
  });
});
