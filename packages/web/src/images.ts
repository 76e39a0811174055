/**
 * The browser's side of attachments that the server cannot scan (docs/patient-client.md, "Photos and documents";
 * docs/clinical-safety.md): a file's type is decided by its first bytes, never by its name or the browser's guess,
 * and an image is only ever sent or shown after a re-encode through a canvas, which keeps the pixels and drops
 * everything else the file carried (EXIF with GPS location and camera serial, XMP, its ICC profile, trailing data,
 * a payload crafted for a decoder): what comes out is the browser's own encoding (with Chromium's stock sRGB profile).
 */

/** The magic bytes of each attachment type a practice may accept (`ATTACHMENT_TYPES` in `@parley/protocol`). */
const FILE_SIGNATURES = [
  { type: 'image/jpeg', at: [{ offset: 0, bytes: [0xff, 0xd8, 0xff] }] },
  { type: 'image/png', at: [{ offset: 0, bytes: [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a] }] },
  {
    type: 'image/webp',
    at: [
      { offset: 0, bytes: [0x52, 0x49, 0x46, 0x46] }, // RIFF
      { offset: 8, bytes: [0x57, 0x45, 0x42, 0x50] }, // WEBP
    ],
  },
  { type: 'application/pdf', at: [{ offset: 0, bytes: [0x25, 0x50, 0x44, 0x46, 0x2d] }] }, // %PDF-
] as const;

/** A type {@link sniffAttachmentType} recognises: the same strings as `AttachmentType` in `@parley/protocol`. */
export type SniffedType = (typeof FILE_SIGNATURES)[number]['type'];

/** The image types among them: what {@link safeImageBlob} shows. */
export type ImageType = Exclude<SniffedType, 'application/pdf'>;

/** JPEG quality of a re-encoded photo: small enough for a phone upload, sharp enough to read a rash or a label. */
export const REENCODE_QUALITY = 0.85;

/** The long edge of a photo the patient sends, in pixels (a 12-megapixel photo comes out near 1 MB). */
export const REENCODE_MAX_EDGE = 2048;

/** The long edge of an image shown to its reader: the wire allows 16384, a canvas that size costs 1 GiB. */
const DISPLAY_MAX_EDGE = 8192;

/** Why an image could not go through the canvas: `not_an_image` (its bytes are another type) or `unreadable`. */
export class ImageReencodeError extends Error {
  constructor(readonly code: 'not_an_image' | 'unreadable') {
    super(code === 'not_an_image' ? 'the bytes are not an image this browser shows' : 'the browser could not decode the image');
    this.name = 'ImageReencodeError';
  }
}

/**
 * The attachment type of a file from its magic bytes (JPEG `FF D8 FF`, PNG `89 50 4E 47 0D 0A 1A 0A`,
 * WebP `RIFF….WEBP`, PDF `%PDF-`), or null for anything else: a PDF named `photo.jpg` is a PDF.
 */
export function sniffAttachmentType(bytes: Uint8Array): SniffedType | null {
  const match = FILE_SIGNATURES.find((signature) => signature.at.every(({ offset, bytes: magic }) => magic.every((byte, i) => bytes[offset + i] === byte)));
  return match?.type ?? null;
}

/**
 * Decodes an image (upright: EXIF orientation applied), downscales it to at most `maxEdge` pixels on its long edge
 * and re-encodes it through a canvas as JPEG: the output carries none of the file's metadata (EXIF, XMP, ICC), only pixels.
 * @throws ImageReencodeError `not_an_image` for bytes that do not sniff as an image, `unreadable` for an image the
 * browser cannot decode.
 */
export async function reencodeImage(
  bytes: Uint8Array,
  options: { maxEdge?: number; quality?: number } = {},
): Promise<{ bytes: Uint8Array; type: 'image/jpeg'; width: number; height: number }> {
  const type = sniffAttachmentType(bytes);
  if (type === null || type === 'application/pdf') throw new ImageReencodeError('not_an_image');
  const drawn = await drawThroughCanvas(bytes, type, options.maxEdge ?? REENCODE_MAX_EDGE, {
    type: 'image/jpeg',
    quality: options.quality ?? REENCODE_QUALITY,
  });
  return { bytes: new Uint8Array(await drawn.blob.arrayBuffer()), type: 'image/jpeg', width: drawn.width, height: drawn.height };
}

/**
 * A received image made safe to show: its bytes must sniff as the declared `type`, and they are decoded and drawn
 * on a canvas, so what reaches an `<img>` (through an object URL) is the canvas's own encoding (PNG stays PNG for
 * its transparency, JPEG and WebP become JPEG), never the sender's file.
 * @throws ImageReencodeError `not_an_image` for a PDF or bytes of another type than declared, `unreadable` for an
 * image the browser cannot decode.
 */
export async function safeImageBlob(bytes: Uint8Array, type: SniffedType): Promise<Blob> {
  const sniffed = sniffAttachmentType(bytes);
  if (sniffed === null || sniffed === 'application/pdf' || sniffed !== type) throw new ImageReencodeError('not_an_image');
  const encoding = sniffed === 'image/png' ? { type: 'image/png' } : { type: 'image/jpeg', quality: REENCODE_QUALITY };
  return (await drawThroughCanvas(bytes, sniffed, DISPLAY_MAX_EDGE, encoding)).blob;
}

async function drawThroughCanvas(
  bytes: Uint8Array,
  type: ImageType,
  maxEdge: number,
  encoding: { type: string; quality?: number },
): Promise<{ blob: Blob; width: number; height: number }> {
  let bitmap: ImageBitmap;
  try {
    // 'from-image' applies the EXIF orientation before the metadata is dropped, so a phone photo stays upright.
    bitmap = await createImageBitmap(new Blob([bytes as Uint8Array<ArrayBuffer>], { type }), { imageOrientation: 'from-image' });
  } catch {
    throw new ImageReencodeError('unreadable');
  }
  try {
    const scale = Math.min(1, maxEdge / Math.max(bitmap.width, bitmap.height));
    const width = Math.max(1, Math.round(bitmap.width * scale));
    const height = Math.max(1, Math.round(bitmap.height * scale));
    const canvas = makeCanvas(width, height);
    const context = canvas.getContext('2d') as OffscreenCanvasRenderingContext2D | CanvasRenderingContext2D | null;
    if (!context) throw new ImageReencodeError('unreadable');
    if (encoding.type === 'image/jpeg') {
      // JPEG has no alpha: a transparent PNG would otherwise turn black where it was see-through.
      context.fillStyle = '#ffffff';
      context.fillRect(0, 0, width, height);
    }
    context.imageSmoothingQuality = 'high';
    context.drawImage(bitmap, 0, 0, width, height);
    return { blob: await toBlob(canvas, encoding), width, height };
  } finally {
    bitmap.close();
  }
}

/** An OffscreenCanvas where the browser has one (off the DOM, also in a worker), else a detached `<canvas>`. */
function makeCanvas(width: number, height: number): OffscreenCanvas | HTMLCanvasElement {
  if (typeof OffscreenCanvas !== 'undefined') return new OffscreenCanvas(width, height);
  const canvas = document.createElement('canvas');
  canvas.width = width;
  canvas.height = height;
  return canvas;
}

async function toBlob(canvas: OffscreenCanvas | HTMLCanvasElement, encoding: { type: string; quality?: number }): Promise<Blob> {
  const blob =
    'convertToBlob' in canvas
      ? await canvas.convertToBlob(encoding)
      : await new Promise<Blob | null>((resolve) => canvas.toBlob(resolve, encoding.type, encoding.quality));
  // A browser that cannot encode the type falls back to PNG: refuse rather than send what the caller did not ask for.
  if (!blob || blob.type !== encoding.type) throw new ImageReencodeError('unreadable');
  return blob;
}
