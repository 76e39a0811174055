/**
 * The staff app on its own origin (STAFF_PUBLIC_URL; docs/operations.md, "Two origins"), in Chromium against a real
 * gateway process: two loopback names stand for the practice's two host names, `localhost` for the staff origin and
 * `127.0.0.1` for the patient origin (both secure contexts, so WebCrypto and the vault work over plain http).
 * IndexedDB and WebCrypto keys belong to an origin: the staff vault made at the staff origin is out of reach of any
 * page of the patient origin.
 */
import { createRequire } from 'node:module';
import { createServer, type AddressInfo } from 'node:net';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ready } from '@parley/crypto';
import { sealStaffKeyBackup, setUpDemoPractice, type DemoPatient, type DemoStaffCode } from '@parley/sdk';
import { createTestDatabase, launchChromium, startGatewayProcess, type GatewayProcess, type TestDatabase } from '@parley/testing';
import type { Browser, BrowserContext } from 'playwright-core';

const GATEWAY_ENTRY = createRequire(import.meta.url).resolve('@parley/gateway');

/** A loopback port free right now (the kernel's pick, released at once). */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer().listen(0, '127.0.0.1', () => {
      const { port } = server.address() as AddressInfo;
      server.close(() => resolve(port));
    });
    server.on('error', reject);
  });
}
/** The staff app's IndexedDB database (apps/staff/src/lib/connection.ts). */
const STAFF_DATABASE = 'parley-staff';

describe('staff app on its own origin (Chromium, real gateway with STAFF_PUBLIC_URL)', () => {
  let dataDir: string;
  let database: TestDatabase | null = null;
  let gateway: GatewayProcess;
  let browser: Browser;
  let context: BrowserContext;
  let staffUrl: string;
  let patientUrl: string;
  let odsCode: string;
  let clinician: { email: string; passphrase: string; keyBackup: string };

  beforeAll(async () => {
    await ready();
    dataDir = await mkdtemp(join(tmpdir(), 'parley-staff-origin-'));
    const serverUrl = process.env['TEST_DATABASE_URL'];
    database = serverUrl ? await createTestDatabase(serverUrl) : null;
    // The host name decides the app (the port is the same for both names here): http://localhost is the staff origin.
    // A port chosen first, so that PUBLIC_URL (the patient origin, where invitation links point) can name it.
    const port = await freePort();
    const env = {
      DATA_DIR: dataDir,
      PUBLIC_URL: `http://127.0.0.1:${port}`,
      STAFF_PUBLIC_URL: `http://localhost:${port}`,
      ...(database ? { DATABASE_URL: database.url, DEMO_SEED: 'true' } : {}),
    };
    [gateway, browser] = await Promise.all([startGatewayProcess({ entry: GATEWAY_ENTRY, env, port }), launchChromium()]);
    staffUrl = `http://localhost:${gateway.port}`;
    patientUrl = `http://127.0.0.1:${gateway.port}`;
    const credentials = JSON.parse(await readFile(join(dataDir, 'demo-credentials.json'), 'utf8')) as {
      practice: { odsCode: string };
      staff: DemoStaffCode[];
      patient: DemoPatient;
    };
    odsCode = credentials.practice.odsCode;
    const demo = await setUpDemoPractice({ baseUrl: gateway.url, odsCode, staff: credentials.staff, patient: credentials.patient });
    const member = demo.staff.find((staff) => !staff.roles.includes('manager'))!;
    const keyBackup = await sealStaffKeyBackup({
      odsCode,
      login: member.email,
      userId: member.userId,
      device: member.device,
      pinnedRoot: demo.practice.root.signPublicKey,
      passphrase: member.passphrase,
    });
    clinician = { email: member.email, passphrase: member.passphrase, keyBackup };
    context = await browser.newContext();
  }, 180_000);

  afterAll(async () => {
    await browser?.close();
    await gateway?.stop();
    await database?.drop();
    await rm(dataDir, { recursive: true, force: true });
  });

  it('signs a clinician in at / of the staff origin, where the staff vault is kept', async () => {
    const page = await context.newPage();

    await page.goto(`${staffUrl}/`);
    await page.getByLabel('Practice code').fill(odsCode);
    await page.getByLabel('E-mail address').fill(clinician.email);
    await page.getByLabel('Passphrase').fill(clinician.passphrase);
    await page
      .getByLabel(/Key backup file/)
      .setInputFiles({ name: 'parley-keys.json', mimeType: 'application/json', buffer: Buffer.from(clinician.keyBackup) });
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('navigation', { name: 'Console' }).waitFor({ timeout: 60_000 });

    const databases = await page.evaluate(async () => (await indexedDB.databases()).map((entry) => entry.name));
    expect(databases).toContain(STAFF_DATABASE);
    expect(new URL(page.url()).pathname).toBe('/');
  });

  it('points the invitation links it makes at the patient origin, not at its own', async () => {
    const page = context.pages()[0]!;

    await page.getByRole('navigation', { name: 'Console' }).getByRole('button', { name: 'Find or invite a patient' }).click();
    const form = page.getByRole('form', { name: 'New patient invitation' });
    await form.getByLabel("Patient's full name").fill('Robin Otherhost');
    await form.getByLabel('NHS number').fill('943 476 5919');
    await form.getByLabel("Patient's date of birth").fill('1961-03-14');
    await form.getByRole('button', { name: 'Create invitation' }).click();
    const card = page.getByRole('region', { name: 'Invitation for Robin Otherhost' });
    await card.waitFor({ timeout: 60_000 });

    expect((await card.locator('[data-invitation-link]').textContent())!.trim()).toMatch(
      new RegExp(`^${patientUrl.replaceAll('.', '\\.')}/#practice=${odsCode}&code=`),
    );
  });

  it('leaves the patient origin without the staff app and without any way to the staff vault', async () => {
    const page = await context.newPage();
    const violations: string[] = [];
    page.on('console', (message) => /Content Security Policy/.test(message.text()) && violations.push(message.text()));

    const staffPath = await page.goto(`${patientUrl}/staff/`);
    await page.goto(`${patientUrl}/`);
    await page.getByRole('heading', { level: 1 }).waitFor();
    const seen = await page.evaluate(async (name) => {
      const listed = (await indexedDB.databases()).map((entry) => entry.name);
      // Opening the staff vault's name from this origin opens (creates) this origin's own, empty database.
      const stores = await new Promise<number>((resolve, reject) => {
        const request = indexedDB.open(name);
        request.onsuccess = () => {
          resolve(request.result.objectStoreNames.length);
          request.result.close();
        };
        request.onerror = () => reject(request.error);
      });
      // Nor may this origin's pages talk to the staff origin (connect-src 'self').
      const staffOrigin = `http://localhost:${location.port}`;
      const reach = await fetch(`${staffOrigin}/api/version`).then(
        () => 'reached',
        () => 'refused',
      );
      return { listed, stores, reach };
    }, STAFF_DATABASE);

    expect(staffPath?.status()).toBe(404);
    expect(seen.listed).toEqual(['parley-patient']);
    expect(seen).toMatchObject({ stores: 0, reach: 'refused' });
    expect(violations.join('\n')).toMatch(/connect-src/);
  });
});
