import type { Browser, BrowserContext, Page, Request } from 'playwright-core';
import type { AttachmentDescriptor } from '@parley/crypto';
import type { AttachmentSettings } from '@parley/protocol';
import {
  EXIF_CAMERA_SERIAL,
  EXIF_GPS_LATITUDE_BYTES,
  EXIF_GPS_LONGITUDE_BYTES,
  containsBytes,
  jpegSegmentMarkers,
  launchChromium,
  startTcpProxy,
  withExifGps,
  type TcpProxy,
} from '@parley/testing';
import { eventually, follow, startPractice, type TestPractice } from './practice.js';
import { checkScreen, createAccount, PHONE } from './screens.js';

const PASSPHRASE = 'copper lantern violin orbit harbour meadow';
const ALWAYS: AttachmentSettings = {
  patientUploads: 'always',
  acceptedTypes: ['image/jpeg', 'image/png', 'image/webp', 'application/pdf'],
  maxFileBytes: 10 * 1_048_576,
  maxConversationBytes: 50 * 1_048_576,
  maxPatientDailyBytes: 50 * 1_048_576,
};
const PDF = Buffer.from(
  '%PDF-1.7\n1 0 obj << /Type /Catalog /Pages 2 0 R >> endobj\n2 0 obj << /Type /Pages /Kids [] /Count 0 >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n',
);
const UPLOADS = /\/api\/attachments\/uploads(\/|$)/;
const CHUNK = /\/api\/attachments\/uploads\/[^/]+\/chunks\/\d+$/;

/**
 * Issue #18, the patient's side, in Chromium at 375 px against a real gateway and database with the clinician driven
 * through @parley/sdk: a photo carrying EXIF GPS goes with a preview, a progress bar and no byte of its metadata; a PDF
 * goes as a file; a renamed or oversize file is refused in words with nothing uploaded; Cancel deletes the upload; a
 * dropped connection resumes and the message arrives once; the clinician's request shows a card; the practice's
 * `when-asked` and `never` settings show and hide the buttons. The steps share one gateway and browser, in order.
 */
describe('patient app: photos and documents (Chromium, real gateway, database and sdk clinician)', () => {
  let practice: TestPractice;
  let proxy: TcpProxy;
  let browser: Browser;
  let phone: BrowserContext;
  let page: Page;
  let conversationId = '';
  /** Every request the page made to the upload routes, in order. */
  const uploadRequests: Request[] = [];
  // Offline parts and an aborted upload are expected to fail in the browser's log; anything else is a bug.
  const EXPECTED_ERRORS = /net::ERR_INTERNET_DISCONNECTED|net::ERR_FAILED|WebSocket connection to .* failed|status of 413/;
  const consoleErrors: string[] = [];

  const setSettings = (settings: AttachmentSettings) => practice.asManager('PUT', '/api/practice/attachment-settings', settings);
  const creates = () => uploadRequests.filter((request) => request.method() === 'POST' && /\/uploads$/.test(request.url()));
  const messagesList = () => page.getByRole('list', { name: 'Messages' });
  /** The clinician's decrypted attachment messages so far. */
  const clinicianAttachments = (): AttachmentDescriptor[][] =>
    practice.clinician.entries.flatMap((entry) =>
      entry.ok && entry.value.kind === 'message' && entry.value.senderRole === 'patient' && entry.value.attachments.length > 0 ? [entry.value.attachments] : [],
    );
  /** Goes home and back into the conversation: the chat reads the practice's settings again. */
  const reopenChat = async () => {
    await page.getByRole('button', { name: '← Back to home' }).click();
    await page.getByRole('heading', { name: /^Hello/ }).waitFor();
    await page.getByRole('region', { name: 'Your open conversations' }).getByRole('button').first().click();
    await page.getByLabel('Your message').waitFor();
  };

  /** A photo as a phone takes it: noisy pixels (so the JPEG is several upload parts), then the EXIF GPS fixture spliced in. */
  async function phonePhoto(width: number, height: number): Promise<Buffer> {
    const jpeg = await page.evaluate(
      async ({ width, height }) => {
        const canvas = new OffscreenCanvas(width, height);
        const context = canvas.getContext('2d')!;
        const pixels = context.createImageData(width, height);
        for (let i = 0; i < pixels.data.length; i++) pixels.data[i] = i % 4 === 3 ? 255 : (Math.random() * 256) | 0;
        context.putImageData(pixels, 0, 0);
        const bytes = new Uint8Array(await (await canvas.convertToBlob({ type: 'image/jpeg', quality: 0.95 })).arrayBuffer());
        // base64 across the debugger protocol: a megabyte as an array of numbers takes it tens of seconds
        let binary = '';
        for (let i = 0; i < bytes.length; i += 0x8000) binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
        return btoa(binary);
      },
      { width, height },
    );
    return Buffer.from(withExifGps(Buffer.from(jpeg, 'base64')));
  }

  /**
   * Holds every part upload from now until `release`, which lets them through (or fails them, `failHeld`, as a dropped
   * connection would); parts after the release pass untouched.
   */
  async function holdParts(): Promise<{ release: (failHeld?: boolean) => void; held: () => number }> {
    const held: ((fail: boolean) => void)[] = [];
    let isHolding = true;
    await page.unroute(CHUNK);
    await page.route(CHUNK, async (route) => {
      const fail = isHolding ? await new Promise<boolean>((resolve) => held.push(resolve)) : false;
      // The page may have given up on the request meanwhile (a cancel, the network off): nothing is left to answer.
      await (fail ? route.abort('failed') : route.fallback()).catch(() => undefined);
    });
    return {
      held: () => held.length,
      release: (failHeld = false) => {
        isHolding = false;
        for (const resolve of held.splice(0)) resolve(failHeld);
      },
    };
  }

  beforeAll(async () => {
    [practice, browser] = await Promise.all([startPractice(), launchChromium()]);
    await setSettings(ALWAYS);
    proxy = await startTcpProxy({ target: { host: '127.0.0.1', port: practice.gateway.port } });
    phone = await browser.newContext({ viewport: PHONE });
    page = await phone.newPage();
    page.on('request', (request) => UPLOADS.test(request.url()) && uploadRequests.push(request));
    page.on('console', (message) => message.type() === 'error' && !EXPECTED_ERRORS.test(message.text()) && consoleErrors.push(message.text()));
    page.on('pageerror', (error) => consoleErrors.push(`uncaught: ${error.message}`));
    await page.goto(`${proxy.url}/`);
    await createAccount(page, practice, PASSPHRASE);
    await page.getByRole('heading', { name: /^Hello/ }).waitFor({ timeout: 30_000 });
    await page.getByRole('group', { name: 'What is it about?' }).getByRole('radio').first().check();
    await page.getByRole('button', { name: 'Start conversation' }).click();
    await page.getByText('Waiting for a clinician.').waitFor({ timeout: 30_000 });
    conversationId = (await practice.manager.session.listConversations())[0]!.id;
    await practice.clinician.session.setAvailability('available');
    await practice.clinician.session
      .conversation(conversationId)
      .claim()
      .catch(() => undefined);
    await follow(practice.clinician, conversationId);
    await page.getByText(`You are talking with ${practice.clinician.displayName} (clinician).`).waitFor();
  }, 120_000);

  afterAll(async () => {
    await browser?.close();
    await proxy?.close();
    await practice?.close();
  });

  it('sends a photo carrying EXIF GPS from the camera: a preview with its size, a progress bar, then the photo in the list with none of its metadata', async () => {
    const photo = await phonePhoto(1600, 1200);
    // the fixture carries what must go: otherwise its absence below would prove nothing
    expect(jpegSegmentMarkers(photo)).toContain(0xe1);
    expect(containsBytes(photo, EXIF_GPS_LATITUDE_BYTES)).toBe(true);
    expect(await checkScreen(page, 'attach-01-offered')).toEqual({ violations: [], overflow: 0 });

    await page.getByLabel('Take a photo').setInputFiles({ name: 'IMG_20261205_093000.jpg', mimeType: 'image/jpeg', buffer: photo });
    const preview = page.getByRole('img', { name: 'Preview of what you are about to send' });
    await preview.waitFor();
    // the buttons that picked it are gone: the focus is on what is about to be sent
    await eventually(async () => (await page.evaluate(() => document.activeElement?.tagName)) === 'FIGURE', 'the preview has the focus');
    await page.getByText(/^Photo, \d+(\.\d)? (KB|MB)\. Its location and camera details were removed on this phone\.$/).waitFor();
    expect(await checkScreen(page, 'attach-02-preview')).toEqual({ violations: [], overflow: 0 });

    const parts = await holdParts();
    await page.getByLabel('Your message').fill('The rash on my arm this morning');
    await page.getByRole('button', { name: 'Send photo' }).click();
    const progress = page.getByRole('progressbar', { name: /^Sending your photo: \d+%$/ });
    await progress.waitFor();
    await eventually(() => parts.held() > 0, 'a part upload is on its way');
    expect(await checkScreen(page, 'attach-03-sending')).toEqual({ violations: [], overflow: 0 });
    parts.release();

    const sent = messagesList().getByRole('img', { name: /^Photo you sent, / });
    await sent.waitFor({ timeout: 30_000 });
    await progress.waitFor({ state: 'detached' });
    await messagesList().getByText('The rash on my arm this morning').waitFor();
    expect(await checkScreen(page, 'attach-04-sent')).toEqual({ violations: [], overflow: 0 });

    // The clinician opens it through the sdk (hash checked, decrypted): a JPEG with no APP1, no GPS, no serial.
    await eventually(() => clinicianAttachments().length === 1, 'the clinician has the photo message');
    const [descriptor] = clinicianAttachments()[0]!;
    const received = await practice.clinician.session.conversation(conversationId).fetchAttachment(descriptor!);
    expect({ type: descriptor!.type, name: descriptor!.name, width: descriptor!.width, height: descriptor!.height }).toEqual({
      type: 'image/jpeg',
      name: expect.stringMatching(/^photo-\d{4}-\d{2}-\d{2}\.jpg$/),
      // the fixture's orientation 6: the 1600 × 1200 stored pixels stand upright as 1200 × 1600
      width: 1200,
      height: 1600,
    });
    expect([...received.subarray(0, 3)]).toEqual([0xff, 0xd8, 0xff]);
    expect(jpegSegmentMarkers(received)).not.toContain(0xe1);
    expect(containsBytes(received, EXIF_GPS_LATITUDE_BYTES)).toBe(false);
    expect(containsBytes(received, EXIF_GPS_LONGITUDE_BYTES)).toBe(false);
    expect(containsBytes(received, new TextEncoder().encode(EXIF_CAMERA_SERIAL))).toBe(false);
    // And nothing the phone sent over the wire held a byte of it either (the parts are ciphertext).
    for (const request of uploadRequests) {
      const body = request.postDataBuffer() ?? Buffer.alloc(0);
      expect(containsBytes(body, EXIF_GPS_LATITUDE_BYTES) || containsBytes(body, new TextEncoder().encode(EXIF_CAMERA_SERIAL))).toBe(false);
    }
    expect(creates()).toHaveLength(1);
  });

  it('sends a PDF as a file, named neutrally, shown as a name and size with a download', async () => {
    await page.getByLabel('Add a photo or PDF').setInputFiles({ name: 'blood results Jane Smith.pdf', mimeType: 'application/pdf', buffer: PDF });
    await page.getByText(`blood results Jane Smith.pdf, 1 KB`).waitFor();
    await page.getByRole('button', { name: 'Send document' }).click();

    const line = messagesList().getByText(/^document-\d{4}-\d{2}-\d{2}\.pdf, 1 KB$/);
    await line.waitFor({ timeout: 30_000 });
    await eventually(() => clinicianAttachments().length === 2, 'the clinician has the document');
    const [descriptor] = clinicianAttachments()[1]!;
    const received = await practice.clinician.session.conversation(conversationId).fetchAttachment(descriptor!);
    expect(Buffer.from(received).equals(PDF)).toBe(true);
    expect(descriptor!.type).toBe('application/pdf');
    expect(await messagesList().getByText('blood results').count()).toBe(0);

    const download = page.waitForEvent('download');
    await messagesList()
      .getByRole('button', { name: /^Download document-/ })
      .click();
    expect((await download).suggestedFilename()).toBe(descriptor!.name);
    expect(await checkScreen(page, 'attach-05-document')).toEqual({ violations: [], overflow: 0 });
  });

  it('refuses in words, uploading nothing, a text file named .jpg, PDF bytes named .jpg and a file over the limit', async () => {
    const before = uploadRequests.length;
    const files = page.getByLabel('Add a photo or PDF');

    await files.setInputFiles({ name: 'photo.jpg', mimeType: 'image/jpeg', buffer: Buffer.from('Dear doctor, this is not a photo at all.') });
    await page.getByRole('alert').filter({ hasText: 'This file cannot be sent: it is not a photo (JPEG, PNG or WebP) or a PDF.' }).waitFor();
    expect(await checkScreen(page, 'attach-06-wrong-type')).toEqual({ violations: [], overflow: 0 });
    await files.setInputFiles({ name: 'holiday.jpg', mimeType: 'image/jpeg', buffer: PDF });
    await page.getByRole('alert').filter({ hasText: 'This file is not what its name says: it is named as a photo but is a PDF inside.' }).waitFor();
    await files.setInputFiles({ name: 'scan.pdf', mimeType: 'application/pdf', buffer: Buffer.concat([PDF, Buffer.alloc(11 * 1_048_576)]) });
    await page.getByRole('alert').filter({ hasText: 'This file is too large to send: it is 11 MB, and your practice accepts files up to 10 MB.' }).waitFor();

    expect(uploadRequests.length).toBe(before);
    expect(await page.getByRole('button', { name: /^Send (photo|document)$/ }).count()).toBe(0);
  });

  it('cancels an upload mid-way: the upload is deleted on the server and no message goes', async () => {
    const parts = await holdParts();
    await page.getByLabel('Take a photo').setInputFiles({ name: 'IMG_2.jpg', mimeType: 'image/jpeg', buffer: await phonePhoto(1200, 900) });
    await page.getByRole('button', { name: 'Send photo' }).click();
    await page.getByRole('progressbar', { name: /^Sending your photo/ }).waitFor();
    await eventually(() => parts.held() > 0, 'a part upload is on its way');
    const deleted = page.waitForResponse((response) => response.request().method() === 'DELETE' && UPLOADS.test(response.url()));

    await page.getByRole('button', { name: 'Cancel sending' }).click();
    parts.release(true);

    expect((await deleted).status()).toBe(204);
    await page.getByRole('status').filter({ hasText: 'Sending stopped. Nothing was sent to the practice.' }).waitFor();
    // the photo stays in the composer, to send again or remove
    await page.getByRole('button', { name: 'Remove photo' }).click();
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    expect(clinicianAttachments()).toHaveLength(2);
    expect(await messagesList().getByRole('img').count()).toBe(1);
  });

  it('resumes an upload after the connection drops mid-way, and the photo arrives once', async () => {
    const creating = creates().length;
    const parts = await holdParts();
    await page.getByLabel('Take a photo').setInputFiles({ name: 'IMG_3.jpg', mimeType: 'image/jpeg', buffer: await phonePhoto(1600, 1200) });
    await page.getByLabel('Your message').fill('Second photo, in daylight');
    await page.getByRole('button', { name: 'Send photo' }).click();
    await eventually(() => parts.held() > 0, 'a part upload is on its way');

    try {
      await phone.setOffline(true);
      proxy.cut();
      parts.release(true);
      await page.getByRole('status').filter({ hasText: 'Waiting for connection…' }).waitFor({ timeout: 30_000 });
      expect(await checkScreen(page, 'attach-07-waiting')).toEqual({ violations: [], overflow: 0 });
    } finally {
      await phone.setOffline(false);
    }

    await messagesList().getByText('Second photo, in daylight').waitFor({ timeout: 60_000 });
    await eventually(() => clinicianAttachments().length === 3, 'the clinician has the resumed photo', 30_000);
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    expect(clinicianAttachments()).toHaveLength(3);
    expect(await messagesList().getByText('Second photo, in daylight').count()).toBe(1);
    // resumed, not started again: one upload was created for it
    expect(creates().length - creating).toBe(1);
  }, 120_000);

  it('screens a caption for red flags like any message: the 999/111 advice first, then the photo goes and the practice is told', async () => {
    const creating = creates().length;
    await page.getByLabel('Add a photo or PDF').setInputFiles({ name: 'IMG_5.jpg', mimeType: 'image/jpeg', buffer: await phonePhoto(640, 480) });
    await page.getByLabel('Your message').fill('This is my chest pain, it spreads to my arm');
    await page.getByRole('button', { name: 'Send photo' }).click();

    const panel = page.getByRole('alertdialog', { name: 'This may need urgent help' });
    await panel.waitFor();
    expect(creates().length).toBe(creating);
    await panel.getByRole('button', { name: /send my message/ }).click();

    await messagesList().getByText('This is my chest pain, it spreads to my arm').waitFor({ timeout: 30_000 });
    await page.getByRole('status').filter({ hasText: 'The practice has been told this may be urgent' }).waitFor({ timeout: 30_000 });
    await eventually(() => clinicianAttachments().length === 4, 'the clinician has the photo');
    expect(creates().length - creating).toBe(1);
    // the red flags the patient was warned about are signed with the caption, as with a text
    const flagged = practice.clinician.entries.flatMap((entry) =>
      entry.ok && entry.value.kind === 'message' && entry.value.body === 'This is my chest pain, it spreads to my arm' ? [entry.value] : [],
    );
    expect(flagged.map((message) => [message.attachments.length, message.redFlags])).toEqual([[1, ['chest_pain']]]);
  });

  it('words a size cap the server enforces (the conversation is full), keeping the file to try later', async () => {
    await setSettings({ ...ALWAYS, maxConversationBytes: 65_536 });

    await page.getByLabel('Add a photo or PDF').setInputFiles({ name: 'letter.pdf', mimeType: 'application/pdf', buffer: PDF });
    await page.getByRole('button', { name: 'Send document' }).click();

    await page
      .getByRole('alert')
      .filter({ hasText: 'Your file was not sent: this conversation already holds as much in files as your practice accepts (64 KB).' })
      .waitFor();
    expect(await page.getByRole('button', { name: 'Send document' }).isEnabled()).toBe(true);
    await page.getByRole('button', { name: 'Remove document' }).click();
    await setSettings(ALWAYS);
  });

  it("shows the practice's photo only as the canvas's own redraw (none of the file's EXIF reaches the <img>), and its PDF as a download", async () => {
    const photo = await phonePhoto(400, 300);
    // The page's CSP lets no script fetch a blob: URL; the object URLs the app makes are kept to read back what the <img> shows.
    await page.evaluate(() => {
      const blobs = new Map<string, Blob>();
      const create = URL.createObjectURL.bind(URL);
      URL.createObjectURL = (object: Blob | MediaSource) => {
        const url = create(object);
        if (object instanceof Blob) blobs.set(url, object);
        return url;
      };
      (window as unknown as { shownBlobs: Map<string, Blob> }).shownBlobs = blobs;
    });
    const clinicianChat = practice.clinician.session.conversation(conversationId);

    const sent = await clinicianChat.sendAttachments(
      [
        { bytes: photo, type: 'image/jpeg', name: 'wound-care.jpg', width: 400, height: 300 },
        { bytes: PDF, type: 'application/pdf', name: 'wound-care-leaflet.pdf' },
      ],
      { caption: 'How the dressing should look, and the leaflet' },
    );

    expect(sent.ok).toBe(true);
    const image = messagesList().getByRole('img', { name: new RegExp(`^Photo from ${practice.clinician.displayName}, `) });
    await image.waitFor({ timeout: 30_000 });
    await messagesList().getByRole('button', { name: 'Download wound-care-leaflet.pdf' }).waitFor();
    const shown = await image.evaluate(async (element) => {
      const src = (element as HTMLImageElement).src;
      const blob = (window as unknown as { shownBlobs: Map<string, Blob> }).shownBlobs.get(src)!;
      const bytes = new Uint8Array(await blob.arrayBuffer());
      let binary = '';
      for (let i = 0; i < bytes.length; i += 0x8000) binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
      return { scheme: new URL(src).protocol, base64: btoa(binary) };
    });
    const shownBytes = Buffer.from(shown.base64, 'base64');
    expect(shown.scheme).toBe('blob:');
    expect(shownBytes.equals(photo)).toBe(false);
    expect(jpegSegmentMarkers(shownBytes)).not.toContain(0xe1);
    expect(containsBytes(shownBytes, EXIF_GPS_LATITUDE_BYTES)).toBe(false);
    expect(await checkScreen(page, 'attach-09-from-practice')).toEqual({ violations: [], overflow: 0 });
  });

  it("shows the clinician's request as a card with the buttons when files are taken only when asked, and takes it away once answered", async () => {
    await setSettings({ ...ALWAYS, patientUploads: 'when-asked' });
    await reopenChat();
    expect(await page.getByLabel('Take a photo').count()).toBe(0);

    await practice.clinician.session.conversation(conversationId).requestAttachment('photo');
    const card = page.getByRole('region', { name: 'Your clinician has asked for a photo' });
    await card.waitFor();
    expect(await checkScreen(page, 'attach-08-request')).toEqual({ violations: [], overflow: 0 });
    await card.getByLabel('Take a photo').setInputFiles({ name: 'IMG_4.jpg', mimeType: 'image/jpeg', buffer: await phonePhoto(800, 600) });
    await page.getByRole('button', { name: 'Send photo' }).click();

    await card.waitFor({ state: 'detached', timeout: 30_000 });
    await eventually(() => clinicianAttachments().length === 5, 'the clinician has the requested photo');
    expect(await page.getByLabel('Take a photo').count()).toBe(0);
  });

  it('offers nothing when the practice takes no files, and says so on a request', async () => {
    await setSettings({ ...ALWAYS, patientUploads: 'never' });
    await reopenChat();
    await practice.clinician.session.conversation(conversationId).requestAttachment('document');

    const card = page.getByRole('region', { name: 'Your clinician has asked for a document' });
    await card.getByText('Your practice does not accept files online at the moment. Please phone the practice.').waitFor();
    expect(await page.getByLabel(/Take a photo|Add a/).count()).toBe(0);
    expect(consoleErrors).toEqual([]);
  });
});
