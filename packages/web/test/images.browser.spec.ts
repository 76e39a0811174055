import type { Page } from 'playwright-core';
import { EXIF_CAMERA_SERIAL, EXIF_GPS_LATITUDE_BYTES, EXIF_GPS_LONGITUDE_BYTES, containsBytes, jpegSegmentMarkers, withExifGps } from '@parley/testing';
import { inPage, packagePages } from './package-page.js';

/** A canvas-drawn image (a red left half, a blue right half) of `width` × `height` encoded as `type`, made in the page. */
async function drawnImage(page: Page, width: number, height: number, type: string): Promise<Uint8Array> {
  const bytes = await page.evaluate(
    async ({ width, height, type }) => {
      const canvas = new OffscreenCanvas(width, height);
      const context = canvas.getContext('2d')!;
      context.fillStyle = '#d00000';
      context.fillRect(0, 0, width / 2, height);
      context.fillStyle = '#0000d0';
      context.fillRect(width / 2, 0, width / 2, height);
      return [...new Uint8Array(await (await canvas.convertToBlob({ type, quality: 0.9 })).arrayBuffer())];
    },
    { width, height, type },
  );
  return new Uint8Array(bytes);
}

/** A minimal one-page PDF, as a patient's letter would start. */
const PDF_BYTES = new TextEncoder().encode('%PDF-1.7\n1 0 obj << /Type /Catalog /Pages 2 0 R >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n');

describe('@parley/web images in Chromium (sniffing, canvas re-encode)', () => {
  const pages = packagePages();

  it("re-encodes a phone JPEG without its EXIF (GPS position, camera serial), upright by the photo's orientation", async () => {
    const photo = withExifGps(await drawnImage(pages.page, 40, 20, 'image/jpeg'));
    const serial = new TextEncoder().encode(EXIF_CAMERA_SERIAL);

    const out = await inPage<{ bytes: number[]; type: string; width: number; height: number; sniffed: string; leftIsRed: boolean }>(
      pages.page,
      `
      const result = await web.reencodeImage(new Uint8Array(input));
      const bitmap = await createImageBitmap(new Blob([result.bytes]));
      const canvas = new OffscreenCanvas(bitmap.width, bitmap.height);
      const context = canvas.getContext('2d');
      context.drawImage(bitmap, 0, 0);
      const [r, , b] = context.getImageData(Math.floor(bitmap.width / 2), 2, 1, 1).data;
      return { bytes: [...result.bytes], type: result.type, width: result.width, height: result.height,
        sniffed: web.sniffAttachmentType(result.bytes), leftIsRed: r > 150 && b < 100 };
    `,
      [...photo],
    );
    const bytes = new Uint8Array(out.bytes);

    // the fixture really carries what must go: otherwise the absence below would prove nothing
    expect(jpegSegmentMarkers(photo)).toContain(0xe1);
    expect(containsBytes(photo, EXIF_GPS_LATITUDE_BYTES) && containsBytes(photo, serial)).toBe(true);
    expect({ type: out.type, sniffed: out.sniffed, width: out.width, height: out.height }).toEqual({
      type: 'image/jpeg',
      sniffed: 'image/jpeg',
      width: 20, // orientation 6: the 40 × 20 stored pixels stand upright as 20 × 40
      height: 40,
    });
    // rotated 90° clockwise, the red left half of the stored pixels is now the top half
    expect(out.leftIsRed).toBe(true);
    expect(jpegSegmentMarkers(bytes)).not.toContain(0xe1);
    expect(containsBytes(bytes, new TextEncoder().encode('Exif'))).toBe(false);
    expect(containsBytes(bytes, EXIF_GPS_LATITUDE_BYTES)).toBe(false);
    expect(containsBytes(bytes, EXIF_GPS_LONGITUDE_BYTES)).toBe(false);
    expect(containsBytes(bytes, serial)).toBe(false);
  });

  it('downscales to 2048 px on the long edge by default, or to the edge asked for, keeping the aspect ratio', async () => {
    const large = await drawnImage(pages.page, 3000, 1000, 'image/png');

    const sizes = await inPage<number[][]>(
      pages.page,
      `
      const bytes = new Uint8Array(input);
      const byDefault = await web.reencodeImage(bytes);
      const small = await web.reencodeImage(bytes, { maxEdge: 300 });
      const unscaled = await web.reencodeImage(bytes, { maxEdge: 4000 });
      return [[byDefault.width, byDefault.height], [small.width, small.height], [unscaled.width, unscaled.height]];
    `,
      [...large],
    );

    expect(sizes).toEqual([
      [2048, 683],
      [300, 100],
      [3000, 1000], // never upscaled
    ]);
  });

  it('sniffs JPEG, PNG, WebP and PDF by their first bytes, whatever the name or declared type, and anything else as null', async () => {
    const images = {
      jpeg: await drawnImage(pages.page, 8, 8, 'image/jpeg'),
      png: await drawnImage(pages.page, 8, 8, 'image/png'),
      webp: await drawnImage(pages.page, 8, 8, 'image/webp'),
    };

    const sniffed = await inPage<Record<string, string | null>>(
      pages.page,
      `
      const read = async (bytes, name, type) => new Uint8Array(await new File([new Uint8Array(bytes)], name, { type }).arrayBuffer());
      const text = (s) => [...new TextEncoder().encode(s)];
      return {
        jpeg: web.sniffAttachmentType(await read(input.jpeg, 'a.jpg', 'image/jpeg')),
        png: web.sniffAttachmentType(await read(input.png, 'a.png', 'image/png')),
        webp: web.sniffAttachmentType(await read(input.webp, 'a.webp', 'image/webp')),
        pdf: web.sniffAttachmentType(await read(input.pdf, 'letter.pdf', 'application/pdf')),
        pdfCalledJpg: web.sniffAttachmentType(await read(input.pdf, 'photo.jpg', 'image/jpeg')),
        textCalledJpg: web.sniffAttachmentType(await read(text('hello, this is not a photo'), 'photo.jpg', 'image/jpeg')),
        riffNotWebp: web.sniffAttachmentType(await read(text('RIFF\\u0000\\u0000\\u0000\\u0000WAVEfmt '), 'a.webp', 'image/webp')),
        truncatedPng: web.sniffAttachmentType(new Uint8Array(input.png.slice(0, 5))),
        gif: web.sniffAttachmentType(await read(text('GIF89a'), 'a.gif', 'image/gif')),
        empty: web.sniffAttachmentType(new Uint8Array(0)),
      };
    `,
      { jpeg: [...images.jpeg], png: [...images.png], webp: [...images.webp], pdf: [...PDF_BYTES] },
    );

    expect(sniffed).toEqual({
      jpeg: 'image/jpeg',
      png: 'image/png',
      webp: 'image/webp',
      pdf: 'application/pdf',
      pdfCalledJpg: 'application/pdf',
      textCalledJpg: null,
      riffNotWebp: null,
      truncatedPng: null,
      gif: null,
      empty: null,
    });
  });

  it('refuses to re-encode a PDF or garbage as not_an_image, and a broken JPEG as unreadable', async () => {
    const codes = await inPage<string[]>(
      pages.page,
      `
      const code = (promise) => promise.then(() => 'accepted', (error) => error instanceof web.ImageReencodeError ? error.code : String(error));
      return [
        await code(web.reencodeImage(new Uint8Array(input))),
        await code(web.reencodeImage(new TextEncoder().encode('not an image at all'))),
        await code(web.reencodeImage(new Uint8Array([0xff, 0xd8, 0xff, 0xe0, 1, 2, 3, 4, 5, 6, 7, 8]))),
      ];
    `,
      [...PDF_BYTES],
    );

    expect(codes).toEqual(['not_an_image', 'not_an_image', 'unreadable']);
  });

  it('shows a received image only through the canvas: PNG stays PNG with its transparency, a JPEG loses its EXIF', async () => {
    const transparentPng = await pages.page.evaluate(async () => {
      const canvas = new OffscreenCanvas(10, 10);
      canvas.getContext('2d')!.fillRect(0, 0, 5, 10); // right half left transparent
      return [...new Uint8Array(await (await canvas.convertToBlob({ type: 'image/png' })).arrayBuffer())];
    });
    const photo = withExifGps(await drawnImage(pages.page, 16, 16, 'image/jpeg'));

    const out = await inPage<{ pngType: string; alpha: number; jpegType: string; jpegBytes: number[] }>(
      pages.page,
      `
      const png = await web.safeImageBlob(new Uint8Array(input.png), 'image/png');
      const bitmap = await createImageBitmap(png);
      const context = new OffscreenCanvas(10, 10).getContext('2d');
      context.drawImage(bitmap, 0, 0);
      const jpeg = await web.safeImageBlob(new Uint8Array(input.jpeg), 'image/jpeg');
      return { pngType: png.type, alpha: context.getImageData(8, 5, 1, 1).data[3], jpegType: jpeg.type, jpegBytes: [...new Uint8Array(await jpeg.arrayBuffer())] };
    `,
      { png: transparentPng, jpeg: [...photo] },
    );

    expect({ pngType: out.pngType, alpha: out.alpha, jpegType: out.jpegType }).toEqual({ pngType: 'image/png', alpha: 0, jpegType: 'image/jpeg' });
    expect(jpegSegmentMarkers(new Uint8Array(out.jpegBytes))).not.toContain(0xe1);
    expect(containsBytes(new Uint8Array(out.jpegBytes), EXIF_GPS_LATITUDE_BYTES)).toBe(false);
  });

  it('refuses to show a PDF, or an image whose bytes are not the type it was sent as', async () => {
    const png = await drawnImage(pages.page, 4, 4, 'image/png');

    const codes = await inPage<string[]>(
      pages.page,
      `
      const code = (promise) => promise.then(() => 'shown', (error) => error instanceof web.ImageReencodeError ? error.code : String(error));
      return [
        await code(web.safeImageBlob(new Uint8Array(input.pdf), 'application/pdf')),
        await code(web.safeImageBlob(new Uint8Array(input.pdf), 'image/jpeg')),
        await code(web.safeImageBlob(new Uint8Array(input.png), 'image/jpeg')),
        await code(web.safeImageBlob(new Uint8Array(input.png), 'image/png')),
      ];
    `,
      { pdf: [...PDF_BYTES], png: [...png] },
    );

    expect(codes).toEqual(['not_an_image', 'not_an_image', 'not_an_image', 'shown']);
  });
});
