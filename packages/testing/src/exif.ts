/**
 * A phone photo's metadata for attachment tests (docs/patient-client.md, "Photos and documents"): an APP1 `Exif`
 * segment with a camera serial, an orientation and a GPS position, each a byte string a test can look for in what
 * left the device (the upload, the download, the database).
 */

/** The camera serial in the fixture's `BodySerialNumber` tag (ASCII, NUL-terminated in the file). */
export const EXIF_CAMERA_SERIAL = 'PARLEY-CAM-SN-77310'; // 19 characters: with its NUL the GPS IFD after it stays at an even offset

/** The fixture's GPS latitude 51° 30' 26.481" N as its three TIFF RATIONALs, little-endian: 24 bytes no re-encode keeps. */
export const EXIF_GPS_LATITUDE_BYTES = rationals([
  [51, 1],
  [30, 1],
  [26481, 1000],
]);

/** The fixture's GPS longitude 0° 7' 39.936" W, likewise. */
export const EXIF_GPS_LONGITUDE_BYTES = rationals([
  [0, 1],
  [7, 1],
  [39936, 1000],
]);

/** EXIF orientation 6: the camera was turned, the stored pixels are to be rotated 90° clockwise to stand upright. */
export const EXIF_ORIENTATION_ROTATE_90 = 6;

/**
 * Inserts an APP1 `Exif\0\0` segment right after a JPEG's SOI marker: a little-endian TIFF whose IFD0 holds the
 * orientation, the camera serial and a pointer to a GPS IFD with latitude and longitude (values above).
 * @throws Error when `jpeg` does not start with a JPEG SOI marker.
 */
export function withExifGps(jpeg: Uint8Array, orientation = EXIF_ORIENTATION_ROTATE_90): Uint8Array {
  if (jpeg[0] !== 0xff || jpeg[1] !== 0xd8) throw new Error('not a JPEG: no SOI marker');
  const tiff = exifTiff(orientation);
  const payload = concat([new TextEncoder().encode('Exif\0\0'), tiff]);
  const segment = concat([new Uint8Array([0xff, 0xe1]), uint16be(payload.length + 2), payload]);
  return concat([jpeg.subarray(0, 2), segment, jpeg.subarray(2)]);
}

/** The marker bytes (0xE0…0xFE) of every segment before a JPEG's image data (SOS): 0xE1 is APP1 (EXIF, XMP), 0xE2 ICC. */
export function jpegSegmentMarkers(jpeg: Uint8Array): number[] {
  const markers: number[] = [];
  let offset = 2;
  while (offset + 4 <= jpeg.length && jpeg[offset] === 0xff) {
    const marker = jpeg[offset + 1]!;
    if (marker === 0xda) break;
    markers.push(marker);
    offset += 2 + ((jpeg[offset + 2]! << 8) | jpeg[offset + 3]!);
  }
  return markers;
}

/** Whether `needle` occurs anywhere in `haystack`. */
export function containsBytes(haystack: Uint8Array, needle: Uint8Array): boolean {
  outer: for (let i = 0; i + needle.length <= haystack.length; i++) {
    for (let j = 0; j < needle.length; j++) if (haystack[i + j] !== needle[j]) continue outer;
    return true;
  }
  return false;
}

const TIFF_SHORT = 3;
const TIFF_LONG = 4;
const TIFF_ASCII = 2;
const TIFF_RATIONAL = 5;

interface TiffEntry {
  tag: number;
  type: number;
  count: number;
  /** Four bytes or fewer go inline in the entry; more go after the IFD and the entry holds their offset. */
  value: Uint8Array;
}

function exifTiff(orientation: number): Uint8Array {
  const serial = new TextEncoder().encode(`${EXIF_CAMERA_SERIAL}\0`);
  const header = concat([new Uint8Array([0x49, 0x49, 0x2a, 0x00]), uint32le(8)]);
  const ifd0Entries = (gpsOffset: number): TiffEntry[] => [
    { tag: 0x0112, type: TIFF_SHORT, count: 1, value: concat([uint16le(orientation), uint16le(0)]) },
    { tag: 0x8825, type: TIFF_LONG, count: 1, value: uint32le(gpsOffset) },
    { tag: 0xa431, type: TIFF_ASCII, count: serial.length, value: serial },
  ];
  const ifd0Length = ifdLength(ifd0Entries(0));
  const gpsOffset = 8 + ifd0Length;
  const ifd0 = ifd(ifd0Entries(gpsOffset), 8);
  const gps = ifd(
    [
      { tag: 0x0001, type: TIFF_ASCII, count: 2, value: new TextEncoder().encode('N\0') },
      { tag: 0x0002, type: TIFF_RATIONAL, count: 3, value: EXIF_GPS_LATITUDE_BYTES },
      { tag: 0x0003, type: TIFF_ASCII, count: 2, value: new TextEncoder().encode('W\0') },
      { tag: 0x0004, type: TIFF_RATIONAL, count: 3, value: EXIF_GPS_LONGITUDE_BYTES },
    ],
    gpsOffset,
  );
  return concat([header, ifd0, gps]);
}

/** An IFD's length: count, 12 bytes per entry, next-IFD offset, then the values that do not fit inline. */
function ifdLength(entries: TiffEntry[]): number {
  return 2 + entries.length * 12 + 4 + entries.reduce((sum, entry) => sum + (entry.value.length > 4 ? entry.value.length : 0), 0);
}

/** Serialises an IFD placed at `offset` in the TIFF (value offsets are relative to the TIFF header). */
function ifd(entries: TiffEntry[], offset: number): Uint8Array {
  let dataOffset = offset + 2 + entries.length * 12 + 4;
  const parts: Uint8Array[] = [uint16le(entries.length)];
  const data: Uint8Array[] = [];
  for (const entry of entries) {
    parts.push(uint16le(entry.tag), uint16le(entry.type), uint32le(entry.count));
    if (entry.value.length <= 4) {
      const inline = new Uint8Array(4);
      inline.set(entry.value);
      parts.push(inline);
    } else {
      parts.push(uint32le(dataOffset));
      data.push(entry.value);
      dataOffset += entry.value.length;
    }
  }
  parts.push(uint32le(0));
  return concat([...parts, ...data]);
}

function rationals(values: [number, number][]): Uint8Array {
  return concat(values.flatMap(([numerator, denominator]) => [uint32le(numerator), uint32le(denominator)]));
}

function uint16le(value: number): Uint8Array {
  return new Uint8Array([value & 0xff, (value >> 8) & 0xff]);
}

function uint16be(value: number): Uint8Array {
  return new Uint8Array([(value >> 8) & 0xff, value & 0xff]);
}

function uint32le(value: number): Uint8Array {
  const bytes = new Uint8Array(4);
  new DataView(bytes.buffer).setUint32(0, value, true);
  return bytes;
}

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((sum, part) => sum + part.length, 0));
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}
