import { readFile } from 'node:fs/promises';
import { HttpApi } from '@parley/client';
import { certifyStaffDevice, toBase64 } from '@parley/crypto';
import { currentRecordKey, openRecordKeys, practiceAuthority, verifiedStaff } from '@parley/sdk';
import type { Browser, Page } from 'playwright-core';
import { accessibilityViolations, launchChromium } from '@parley/testing';
import { openConversation, signInThroughPage, startStaffWorld, waitUntil, type StaffWorld } from './world.js';

/**
 * Issue #17: rotation of the record key and of the root, each end to end through the manager's "Practice keys"
 * screen, and the root sealed offline and brought back. Afterwards the old root certifies nothing anyone trusts:
 * a device certificate it signs shows as not vouched for. Real gateway, database and Chromium; the test's own
 * clients check the results through the sdk, from the root they pinned.
 */
describe('staff app: practice keys, record key and root rotation (Chromium, real gateway and database)', () => {
  let world: StaffWorld;
  let browser: Browser;
  let page: Page;
  const consoleErrors: string[] = [];

  const openPracticeKeys = async () => {
    await page.getByRole('navigation', { name: 'Console' }).getByRole('button', { name: 'Practice keys' }).click();
    await page.getByRole('heading', { name: 'Practice keys', level: 1 }).waitFor();
  };
  const status = (text: string | RegExp) => page.getByRole('status').filter({ hasText: text }).waitFor({ timeout: 90_000 });
  const securityCode = async () => (await page.locator('[data-security-code]').first().textContent())!.trim();
  const oldRoot = () => world.demo.practice.root;
  const clinician = () => world.demo.staff.find((member) => member.userId === world.clinicians[0]!.userId)!;
  const managerApi = () => new HttpApi({ baseUrl: world.url, token: world.manager.token });
  const recordKeysOf = async () =>
    [
      ...(
        await openRecordKeys({
          baseUrl: world.url,
          token: world.clinicians[0]!.token,
          odsCode: world.odsCode,
          device: clinician().device,
          pinnedRoot: oldRoot().signPublicKey,
        })
      ).keys(),
    ].sort();

  beforeAll(async () => {
    [world, browser] = await Promise.all([startStaffWorld(), launchChromium()]);
    page = await (await browser.newContext({ acceptDownloads: true })).newPage();
    page.on('console', (message) => message.type() === 'error' && consoleErrors.push(message.text()));
    await signInThroughPage(page, world.url, world.odsCode, world.manager);
  }, 120_000);

  afterAll(async () => {
    await browser?.close();
    await world?.close();
  });

  it('rotates the record key from the screen: clinicians open the new version and a patient seals a new conversation to it', async () => {
    await openPracticeKeys();
    await page.getByText('Record key: version 1').waitFor();

    await page.getByRole('button', { name: 'Rotate the record key' }).click();

    await status(/Record key version 2 is current, granted to \d+ devices/);
    await page.getByText('Record key: version 2').waitFor();
    expect(await recordKeysOf()).toEqual([1, 2]);
    const patient = await world.patient('Rita Rotation');
    await openConversation(patient, 'admin');
    const keys = await new HttpApi({ baseUrl: world.url, token: world.manager.token }).getPracticeKeys();
    expect(keys.ok && currentRecordKey(keys.data, world.odsCode, oldRoot().signPublicKey)?.version).toBe(2);
    expect(await accessibilityViolations(page)).toEqual([]);
  });

  it('replaces the root: what the old authority vouched for moves to the new one, and a certificate the old root signs afterwards is not vouched for', async () => {
    const before = await securityCode();
    await page.getByRole('button', { name: 'Replace the root key' }).click();

    await page.getByRole('button', { name: 'Yes, replace the root key' }).click();

    await status('The root key is replaced');
    await waitUntil(async () => (await securityCode()) !== before, 'the new security code');
    const keys = await managerApi().getPracticeKeys();
    if (!keys.ok) throw new Error(keys.error.code);
    const authority = practiceAuthority(keys.data, world.odsCode, oldRoot().signPublicKey);
    expect(authority.retiredRoots).toEqual([oldRoot().signPublicKey]);
    expect(authority.adminKeys).toHaveLength(1);
    // A clinician holding only the old pinned root follows the chain: every version still opens, version 2 is still current.
    expect(await recordKeysOf()).toEqual([1, 2]);
    expect(currentRecordKey(keys.data, world.odsCode, oldRoot().signPublicKey)?.version).toBe(2);
    const staff = await managerApi().listStaff();
    if (!staff.ok) throw new Error(staff.error.code);
    const member = staff.data.find((candidate) => candidate.userId === clinician().userId)!;
    const device = member.devices.find((candidate) => candidate.id === clinician().device.deviceId)!;
    expect(verifiedStaff({ ...device, userId: member.userId, deviceId: device.id }, world.odsCode, authority)).toEqual(device.certifiedAs);
    const rows = page.getByRole('row').filter({ hasText: 'Vouched for' });
    await waitUntil(
      async () => (await rows.count()) === staff.data.flatMap((candidate) => candidate.devices.filter((d) => !d.revokedAt)).length,
      'every device vouched for',
    );

    // Whoever kept the old root certifies the clinician's device with it: the server stores it, nobody trusts it.
    const certifiedAs = device.certifiedAs!;
    const signedByOldRoot = certifyStaffDevice(
      {
        practiceId: world.odsCode,
        userId: member.userId,
        deviceId: device.id,
        signPublicKey: clinician().device.keys.signPublicKey,
        boxPublicKey: clinician().device.keys.boxPublicKey,
        ...certifiedAs,
      },
      oldRoot().signSecretKey,
    );
    const put = await managerApi().putDeviceCertificate(device.id, { certificate: toBase64(signedByOldRoot), certifiedAs });
    expect(put.ok).toBe(true);
    await page.getByRole('navigation', { name: 'Console' }).getByRole('button', { name: 'Key backup' }).click();
    await openPracticeKeys();
    await page.getByRole('row').filter({ hasText: certifiedAs.displayName }).filter({ hasText: 'Not vouched for' }).waitFor();
    expect(await page.getByRole('row').filter({ hasText: 'Not vouched for' }).count()).toBe(1);

    // The new authority keeps working: a record key rotation now is signed by the new admin key.
    await page.getByRole('button', { name: 'Rotate the record key' }).click();
    await status(/Record key version 3 is current/);
    const after = await managerApi().getPracticeKeys();
    expect(after.ok && currentRecordKey(after.data, world.odsCode, oldRoot().signPublicKey)?.version).toBe(3);
    expect(await accessibilityViolations(page)).toEqual([]);
  });

  it("seals the root into an offline file, removes it from the browser, and brings it back only with the passphrase and the second person's code", async () => {
    const passphrase = 'granite willow orbit lantern meadow copper';
    await page.getByLabel('Passphrase for the offline file').fill(passphrase);
    await page.getByRole('button', { name: 'Seal the root key into an offline file' }).click();
    const link = page.getByRole('link', { name: 'Download the offline root key file' });
    await link.waitFor({ timeout: 90_000 });
    const [download] = await Promise.all([page.waitForEvent('download'), link.click()]);
    const file = await readFile(await download.path(), 'utf8');
    const code = (await page.locator('[data-second-person-code]').textContent())!.trim();
    expect(JSON.parse(file)).toMatchObject({ format: 'parley-offline-root/1', odsCode: world.odsCode });

    await page.getByRole('button', { name: 'Remove the root key from this browser' }).click();

    await status('The root key is removed from this browser');
    await page.getByText('Root key: not in this browser').waitFor();
    expect(await page.getByRole('button', { name: 'Replace the root key' }).count()).toBe(0);
    const form = page.getByRole('form', { name: 'Bring the root key back' });
    const bringBack = async (typedCode: string) => {
      await form
        .getByLabel('Offline root key file')
        .setInputFiles({ name: 'parley-offline-root.json', mimeType: 'application/json', buffer: Buffer.from(file) });
      await form.getByLabel('Passphrase of the offline file').fill(passphrase);
      await form.getByLabel("Second person's code").fill(typedCode);
      await form.getByRole('button', { name: 'Bring the root key back' }).click();
    };
    const wrongCode = code.startsWith('0') ? `1${code.slice(1)}` : `0${code.slice(1)}`;
    await bringBack(wrongCode);
    await status('does not open with that passphrase and code');
    expect(await page.getByText('Root key: not in this browser').count()).toBe(1);
    await bringBack(code.toLowerCase());
    await status('The root key is back in this browser');
    await page.getByRole('button', { name: 'Replace the root key' }).waitFor();
    expect(await accessibilityViolations(page)).toEqual([]);
    expect(consoleErrors).toEqual([]);
  });
});
