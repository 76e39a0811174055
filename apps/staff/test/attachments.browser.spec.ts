import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import type { AttachmentSettings } from '@parley/protocol';
import { createPatientInvitation } from '@parley/sdk';
import { containsBytes, EXIF_CAMERA_SERIAL, EXIF_GPS_LATITUDE_BYTES, jpegSegmentMarkers, withExifGps } from '@parley/testing';
import { accessibilityViolations, launchChromium } from '@parley/testing';
import type { Browser, Download, Page } from 'playwright-core';
import { validateFhirR4 } from './fhir-validator.js';
import { signInThroughPage, startStaffWorld, waitUntil, type StaffLogin, type StaffWorld } from './world.js';

/** The parts of the exported Bundle the assertions read (the validator checks the rest). */
interface Bundle {
  entry: { resource: { resourceType: string; payload?: { contentString?: string; contentAttachment?: FhirAttachment }[] } }[];
}
interface FhirAttachment {
  contentType: string;
  data?: string;
  size?: number;
  hash?: string;
  title: string;
}

const MIB = 1_048_576;
/** The patient's phone: the 375 px screen. */
const PHONE = { width: 375, height: 812 };
const PATIENT = { name: 'Pia Photo', nhsNumber: '9990004321', dateOfBirth: '1984-06-07', passphrase: 'harbour violin meadow copper lantern orbit' };
/** A small, well-formed PDF: enough for the magic bytes and for a viewer, were one (wrongly) to open it. */
const PDF = Buffer.from(
  '%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n2 0 obj<</Type/Pages/Kids[3 0 R]/Count 1>>endobj\n' +
    '3 0 obj<</Type/Page/Parent 2 0 R/MediaBox[0 0 200 200]>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n',
);

const downloaded = async (page: Page, click: () => Promise<unknown>): Promise<{ bytes: Buffer; name: string }> => {
  const [download] = (await Promise.all([page.waitForEvent('download'), click()])) as [Download, unknown];
  return { bytes: await readFile((await download.path())!), name: download.suggestedFilename() };
};

/**
 * Issue #18, "Done when", across both apps: the manager's attachment settings; a clinician asks for a photo and the
 * patient's app (a 375 px phone) prompts them; the patient attaches a photo carrying EXIF GPS data and a camera serial;
 * the clinician sees it inline (decrypted and re-encoded in the browser), zooms, and downloads it with no EXIF; a PDF
 * from the patient downloads and is never rendered; the FHIR export validates with the image in it; a file that fails
 * its check says so and never shows.
 */
describe('staff app: photos and documents from the patient (Chromium, real gateway and database)', () => {
  let world: StaffWorld;
  let browser: Browser;
  let page: Page;
  /** The patient's phone, in the patient app. */
  let phone: Page;
  let doctor: StaffLogin;
  /** The photo as the patient's camera made it: a JPEG with an APP1 Exif segment (GPS position, camera serial). */
  let photo: Uint8Array;
  const consoleErrors: string[] = [];

  const panel = () => page.getByRole('article', { name: PATIENT.name });
  /** The patient attaches a file from the clinician's request card and sends it (the caption in the message box). */
  const attachOnPhone = async (kind: 'photo' | 'document', file: { name: string; mimeType: string; buffer: Buffer }, caption = '') => {
    const card = phone.getByRole('region', { name: `Your clinician has asked for a ${kind}` });
    await card.waitFor({ timeout: 30_000 });
    await card.getByLabel(kind === 'photo' ? 'Take a photo' : /^Add a/).setInputFiles(file);
    if (caption) await phone.getByLabel('Your message').fill(caption);
    await phone.getByRole('button', { name: kind === 'photo' ? 'Send photo' : 'Send document' }).click();
    await card.waitFor({ state: 'detached', timeout: 30_000 });
  };

  beforeAll(async () => {
    [world, browser] = await Promise.all([startStaffWorld(), launchChromium()]);
    doctor = world.clinicians.find((c) => c.email.startsWith('dr.'))!;
    const caps = await world.manager.session.client.request('capacity:set-clinician', { clinicianId: doctor.userId, maxConcurrent: 1, dailyMax: null });
    expect(caps.ok).toBe(true);
    page = await (await browser.newContext()).newPage();
    page.on('console', (message) => message.type() === 'error' && consoleErrors.push(message.text()));
    page.on('pageerror', (error) => consoleErrors.push(`uncaught: ${error.message}`));
    // A camera-sized JPEG made by Chromium's own encoder, then given the metadata a phone adds.
    const jpeg = await page.evaluate(async () => {
      const canvas = new OffscreenCanvas(640, 480);
      const context = canvas.getContext('2d')!;
      const gradient = context.createLinearGradient(0, 0, 640, 480);
      gradient.addColorStop(0, '#c0392b');
      gradient.addColorStop(1, '#2980b9');
      context.fillStyle = gradient;
      context.fillRect(0, 0, 640, 480);
      const blob = await canvas.convertToBlob({ type: 'image/jpeg', quality: 0.9 });
      return [...new Uint8Array(await blob.arrayBuffer())];
    });
    photo = withExifGps(new Uint8Array(jpeg));
    expect(containsBytes(photo, new TextEncoder().encode(EXIF_CAMERA_SERIAL))).toBe(true);
    expect(jpegSegmentMarkers(photo)).toContain(0xe1);
    await signInThroughPage(page, world.url, world.odsCode, doctor);

    // The patient activates on their phone with the code the doctor's client issued (the real Argon2id cost).
    const issued = await createPatientInvitation({
      baseUrl: world.url,
      token: doctor.token,
      practice: world.odsCode,
      device: world.demo.staff.find((member) => member.userId === doctor.userId)!.device,
      pinnedRoot: world.demo.practice.root.signPublicKey,
      patient: { displayName: PATIENT.name, nhsNumber: PATIENT.nhsNumber, dateOfBirth: PATIENT.dateOfBirth },
    });
    phone = await (await browser.newContext({ viewport: PHONE })).newPage();
    phone.on('console', (message) => message.type() === 'error' && consoleErrors.push(message.text()));
    phone.on('pageerror', (error) => consoleErrors.push(`uncaught: ${error.message}`));
    await phone.goto(`${world.url}/`);
    await phone.getByRole('button', { name: 'I have an invitation code' }).click();
    await phone.getByLabel('Practice code').fill(world.odsCode);
    await phone.getByLabel('Invitation code').fill(issued.code);
    await phone.getByLabel('Date of birth').fill(PATIENT.dateOfBirth);
    await phone.getByRole('button', { name: 'Continue' }).click();
    await phone.getByLabel('Passphrase', { exact: true }).fill(PATIENT.passphrase, { timeout: 60_000 });
    await phone.getByLabel('I have written my passphrase down').check();
    await phone.getByRole('button', { name: 'Create my account' }).click();
    const home = phone.getByRole('heading', { name: /^Hello/ });
    await home.or(phone.getByLabel('I have read and accept these terms')).waitFor({ timeout: 60_000 });
    if (!(await home.isVisible())) {
      await phone.getByLabel('I have read and accept these terms').check();
      await phone.getByRole('button', { name: 'Accept and continue' }).click();
    }
    await home.waitFor({ timeout: 30_000 });
  }, 240_000);

  afterAll(async () => {
    await browser?.close();
    await world?.close();
  });

  it('lets a manager choose who may send files, which types and the size limits (the server keeps them; axe-clean)', async () => {
    const managerPage = await (await browser.newContext()).newPage();
    managerPage.on('console', (message) => message.type() === 'error' && consoleErrors.push(message.text()));
    await signInThroughPage(managerPage, world.url, world.odsCode, world.manager);
    await managerPage.getByRole('navigation', { name: 'Console' }).getByRole('button', { name: 'Practice settings' }).click();
    const section = managerPage.getByRole('region', { name: 'Attachments' });
    const largest = section.getByLabel('Largest file (MB)');
    await largest.waitFor();
    const defaults = {
      whenAsked: await section.getByRole('radio', { name: 'Only when a clinician asks for one' }).isChecked(),
      largest: await largest.inputValue(),
      types: await section.getByRole('checkbox').evaluateAll((boxes) => boxes.filter((box) => (box as HTMLInputElement).checked).length),
    };
    expect(await accessibilityViolations(managerPage)).toEqual([]);

    // No type at all is refused on the page, before any request.
    for (const name of ['JPEG photo', 'PNG image', 'WebP image', 'PDF document']) await section.getByRole('checkbox', { name }).uncheck();
    await section.getByRole('button', { name: 'Save attachment settings' }).click();
    await section.getByRole('alert').filter({ hasText: 'Choose at least one type of file.' }).waitFor();
    for (const name of ['JPEG photo', 'PDF document']) await section.getByRole('checkbox', { name }).check();
    await largest.fill('5');
    await section.getByLabel('Files one patient may send in 24 hours (MB)').fill('20');
    await section.getByRole('button', { name: 'Save attachment settings' }).click();
    await managerPage.getByRole('status').filter({ hasText: 'Attachment settings saved.' }).waitFor();
    const saved = (await fetch(`${world.url}/api/practice/attachment-settings`, { headers: { authorization: `Bearer ${world.manager.token}` } }).then(
      (response) => response.json(),
    )) as AttachmentSettings;

    expect(defaults).toEqual({ whenAsked: true, largest: '10', types: 4 });
    expect(saved).toEqual({
      patientUploads: 'when-asked',
      acceptedTypes: ['image/jpeg', 'application/pdf'],
      maxFileBytes: 5 * MIB,
      maxConversationBytes: 50 * MIB,
      maxPatientDailyBytes: 20 * MIB,
    });
    // The server audits the change (metadata only); the audit log words it.
    await managerPage.getByRole('navigation', { name: 'Console' }).getByRole('button', { name: 'Audit log' }).click();
    await managerPage.getByRole('combobox', { name: 'Action' }).selectOption({ label: 'Changed the attachment settings' });
    await managerPage.getByRole('button', { name: 'Show events' }).click();
    await managerPage
      .getByRole('table', { name: /Audit events/ })
      .getByRole('cell', {
        name: 'Patients may send files only when asked; types: JPEG photo, PDF document; largest file 5.0 MB; per conversation 50.0 MB; per patient a day 20.0 MB',
      })
      .waitFor();
    await managerPage.context().close();
  });

  it('asks the patient for a photo: the timeline words it, and the patient app shows the request with the camera button', async () => {
    await phone.getByRole('group', { name: 'What is it about?' }).getByRole('radio').first().check();
    await phone.getByRole('button', { name: 'Start conversation' }).click();
    await phone.getByText('Waiting for a clinician.').waitFor({ timeout: 30_000 });
    await page.getByRole('radio', { name: 'Available' }).check();
    await page.getByRole('tab', { name: new RegExp(PATIENT.name) }).click({ timeout: 30_000 });
    await phone.getByText(/^You are talking with /).waitFor({ timeout: 30_000 });
    // "Only when asked" (the settings above): nothing to attach with until the clinician asks.
    const offeredUnprompted = await phone.getByLabel('Take a photo').count();

    await panel().getByRole('button', { name: 'Request a photo' }).click();
    await panel()
      .getByRole('log')
      .getByText(/asked the patient for a photo/)
      .waitFor();
    await panel().getByRole('status').filter({ hasText: 'Waiting for a photo from the patient.' }).waitFor();
    const card = phone.getByRole('region', { name: 'Your clinician has asked for a photo' });
    await card.waitFor({ timeout: 30_000 });

    expect(offeredUnprompted).toBe(0);
    expect(await card.getByLabel('Take a photo').count()).toBe(1);
    expect(await accessibilityViolations(page)).toEqual([]);
    expect(await accessibilityViolations(phone)).toEqual([]);
  });

  it("shows the patient's photo inline, decrypted and re-encoded here; it zooms, and downloads with no EXIF, GPS or camera serial", async () => {
    await attachOnPhone('photo', { name: 'IMG_20261205_093000.jpg', mimeType: 'image/jpeg', buffer: Buffer.from(photo) }, 'Here it is');
    const image = panel().getByAltText(/^Photo from the patient, \d+ KB$/);
    await image.waitFor({ timeout: 30_000 });
    // Upright: the phone applied the EXIF orientation (a turned camera) before it dropped the metadata.
    await waitUntil(async () => (await image.evaluate((element) => (element as HTMLImageElement).naturalWidth)) === 480, 'the decoded image');
    expect(await panel().getByRole('status').filter({ hasText: 'Waiting for a photo' }).count()).toBe(0);
    expect(await accessibilityViolations(page)).toEqual([]);

    // Zoom: a modal dialog, Escape closes it, and focus returns to the image.
    const zoomButton = panel().getByRole('button', { name: /^Photo from the patient/ });
    await zoomButton.click();
    const dialog = page.getByRole('dialog', { name: /Photo from the patient/ });
    await dialog.waitFor();
    await dialog.getByRole('button', { name: '100 %' }).click();
    await dialog
      .getByRole('status')
      .filter({ hasText: /^100 %$/ })
      .waitFor();
    await dialog.getByRole('button', { name: 'Zoom in' }).click();
    await dialog
      .getByRole('status')
      .filter({ hasText: /^125 %$/ })
      .waitFor();
    const zoomedWidth = await dialog.getByRole('img').evaluate((element) => element.getBoundingClientRect().width);
    expect(await accessibilityViolations(page)).toEqual([]);
    await page.keyboard.press('Escape');
    await dialog.waitFor({ state: 'detached' });
    expect(await zoomButton.evaluate((element) => element === document.activeElement)).toBe(true);

    const file = await downloaded(page, () => panel().getByRole('button', { name: 'Download photo' }).click());

    expect(Math.round(zoomedWidth)).toBe(600);
    expect([...file.bytes.subarray(0, 3)]).toEqual([0xff, 0xd8, 0xff]);
    expect(jpegSegmentMarkers(file.bytes)).not.toContain(0xe1);
    expect(containsBytes(file.bytes, new TextEncoder().encode('Exif'))).toBe(false);
    expect(containsBytes(file.bytes, new TextEncoder().encode(EXIF_CAMERA_SERIAL))).toBe(false);
    expect(containsBytes(file.bytes, EXIF_GPS_LATITUDE_BYTES)).toBe(false);
    expect(file.name).toMatch(/^parley-[0-9a-f]{8}-\d+-1\.jpg$/);
  });

  it('lists a PDF with its name and size and downloads it as a file: never rendered in the app', async () => {
    await panel().getByRole('button', { name: 'Request a document' }).click();
    await attachOnPhone('document', { name: 'Hospital letter Pia Photo.pdf', mimeType: 'application/pdf', buffer: PDF });
    // The patient's app sends it under a neutral name.
    const line = panel().getByText(new RegExp(`^document-\\d{4}-\\d{2}-\\d{2}\\.pdf \\(PDF document, ${PDF.length} bytes\\)$`));
    await line.waitFor({ timeout: 30_000 });

    const file = await downloaded(page, () =>
      panel()
        .getByRole('button', { name: /^Download document-/ })
        .click(),
    );

    expect(file.bytes.equals(PDF)).toBe(true);
    expect(file.name).toMatch(/^parley-[0-9a-f]{8}-\d+-1\.pdf$/);
    expect(page.context().pages()).toHaveLength(1);
    expect(page.url()).toBe(`${world.url}/staff/`);
    expect(await page.locator('iframe, embed, object').count()).toBe(0);
    expect(await accessibilityViolations(page)).toEqual([]);
  });

  it('exports a FHIR R4 Bundle that validates with the re-encoded photo and the PDF in it, and a transcript that lists them', async () => {
    await panel().getByRole('button', { name: 'Export to the record' }).click();
    const bundleFile = await downloaded(page, () => panel().getByRole('link', { name: 'Download FHIR bundle' }).click());
    const transcript = (await downloaded(page, () => panel().getByRole('link', { name: 'Download transcript' }).click())).bytes.toString('utf8');
    const bundle = JSON.parse(bundleFile.bytes.toString('utf8')) as Bundle;
    const attachments = bundle.entry
      .flatMap((entry) => entry.resource.payload ?? [])
      .flatMap((part) => (part.contentAttachment ? [part.contentAttachment] : []));
    const image = attachments.find((attachment) => attachment.contentType === 'image/jpeg')!;
    const imageBytes = Buffer.from(image.data!, 'base64');
    const pdf = attachments.find((attachment) => attachment.contentType === 'application/pdf')!;

    await expect(validateFhirR4(bundle)).resolves.toBeUndefined();
    expect(attachments).toHaveLength(2);
    expect(image).toMatchObject({
      title: expect.stringMatching(/^photo-.*\.jpg$/),
      size: imageBytes.length,
      hash: createHash('sha1').update(imageBytes).digest('base64'),
    });
    expect(jpegSegmentMarkers(imageBytes)).not.toContain(0xe1);
    expect(containsBytes(imageBytes, new TextEncoder().encode(EXIF_CAMERA_SERIAL))).toBe(false);
    expect(Buffer.from(pdf.data!, 'base64').equals(PDF)).toBe(true);
    expect(pdf).toMatchObject({ title: expect.stringMatching(/^document-.*\.pdf$/), size: PDF.length, hash: createHash('sha1').update(PDF).digest('base64') });
    expect(transcript).toMatch(/Pia Photo: Here it is\n {4}Attachment: photo-[\d-]+\.jpg \(JPEG photo, \d+ KB\)\n/);
    expect(transcript).toMatch(/Attachment: document-[\d-]+\.pdf \(PDF document, \d+ bytes\)/);
  });

  it('says a file that fails its check could not be opened, and shows nothing of it', async () => {
    // A lying server: every byte of the next blob flipped on its way to this page (its hash no longer matches).
    await page.route('**/api/attachments/*', async (route) => {
      const response = await route.fetch();
      const body = await response.body();
      await route.fulfill({ response, body: Buffer.from(body.map((byte) => byte ^ 0xff)) });
    });
    await panel().getByRole('button', { name: 'Request a photo' }).click();
    await attachOnPhone('photo', { name: 'IMG_2.jpg', mimeType: 'image/jpeg', buffer: Buffer.from(photo) }, 'Another one');

    const item = panel().getByRole('listitem').filter({ hasText: 'Another one' });
    await item.getByRole('alert').filter({ hasText: 'This file could not be opened.' }).waitFor({ timeout: 30_000 });

    expect(await item.getByAltText(/Photo/).count()).toBe(0);
    expect(
      await panel()
        .getByAltText(/Photo from the patient/)
        .count(),
    ).toBe(1);
    await page.unroute('**/api/attachments/*');
  });

  it('logged no console errors (the CSP allowed every object URL the screens made)', () => {
    expect(consoleErrors).toEqual([]);
  });
});
