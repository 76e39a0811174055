// Byte encodings of docs/crypto.md ("Encodings"): lp(x) = u32 big-endian length ‖ bytes, fixed-width big-endian
// integers, UUIDs as 16 raw bytes. Internal: not exported from index.ts.
import { CryptoError } from './crypto-error.js';

const encoder = new TextEncoder();
const UUID_PATTERN = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
// In a /u regex a well-formed surrogate pair is one code point, so this matches only lone halves,
// which TextEncoder would silently replace with U+FFFD (two different ids, one encoding).
const LONE_SURROGATE = /\p{Cs}/u;
const U64_MAX = (1n << 64n) - 1n;
/** Identifiers other than UUIDs (the practice's ODS code) are short; the cap keeps lp()'s first byte 0. */
const MAX_TEXT_ID_BYTES = 255;

export function concat(...parts: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((sum, part) => sum + part.length, 0));
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}

export function ascii(text: string): Uint8Array {
  return encoder.encode(text);
}

export function utf8(text: string, field: string): Uint8Array {
  if (typeof text !== 'string' || LONE_SURROGATE.test(text)) {
    throw new CryptoError('invalid_input', `${field} is not a well-formed string`);
  }
  return encoder.encode(text);
}

export function u8(value: number, field: string): Uint8Array {
  requireInteger(value, 0, 0xff, field);
  return Uint8Array.of(value);
}

export function u32(value: number, field: string): Uint8Array {
  requireInteger(value, 0, 0xffff_ffff, field);
  const out = new Uint8Array(4);
  new DataView(out.buffer).setUint32(0, value, false);
  return out;
}

export function u64(value: number | bigint, field: string): Uint8Array {
  const big = toU64(value, field);
  const out = new Uint8Array(8);
  new DataView(out.buffer).setBigUint64(0, big, false);
  return out;
}

export function toU64(value: number | bigint, field: string): bigint {
  if (typeof value === 'number') {
    if (!Number.isSafeInteger(value) || value < 0) {
      throw new CryptoError('invalid_input', `${field} must be a non-negative safe integer`);
    }
    return BigInt(value);
  }
  if (typeof value !== 'bigint' || value < 0n || value > U64_MAX) {
    throw new CryptoError('invalid_input', `${field} must fit in an unsigned 64-bit integer`);
  }
  return value;
}

export function lp(bytes: Uint8Array): Uint8Array {
  return concat(u32(bytes.length, 'length'), bytes);
}

/** lp() of a short UTF-8 identifier such as the practice's ODS code. */
export function lpText(text: string, field: string): Uint8Array {
  const bytes = utf8(text, field);
  if (bytes.length === 0 || bytes.length > MAX_TEXT_ID_BYTES) {
    throw new CryptoError('invalid_input', `${field} must be 1 to ${MAX_TEXT_ID_BYTES} bytes`);
  }
  return lp(bytes);
}

/** lp() of a UUID as 16 raw bytes; upper and lower case hex give the same bytes. */
export function lpUuid(id: string, field: string): Uint8Array {
  return lp(uuidBytes(id, field));
}

export function uuidBytes(id: string, field: string): Uint8Array {
  if (typeof id !== 'string' || !UUID_PATTERN.test(id)) {
    throw new CryptoError('invalid_input', `${field} is not a UUID`);
  }
  const hex = id.replaceAll('-', '');
  const out = new Uint8Array(16);
  for (let i = 0; i < 16; i++) out[i] = Number.parseInt(hex.slice(i * 2, i * 2 + 2), 16);
  return out;
}

/** Lower-case canonical form of a UUID, for use as a map key. */
export function normalizeUuid(id: string, field: string): string {
  uuidBytes(id, field);
  return id.toLowerCase();
}

export function requireBytes(value: Uint8Array, length: number, field: string): Uint8Array {
  if (!(value instanceof Uint8Array)) {
    throw new CryptoError('invalid_input', `${field} must be a Uint8Array`);
  }
  if (value.length !== length) {
    throw new CryptoError('invalid_length', `${field} must be ${length} bytes, got ${value.length}`);
  }
  return value;
}

export function requireInteger(value: number, min: number, max: number, field: string): number {
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new CryptoError('invalid_input', `${field} must be an integer from ${min} to ${max}`);
  }
  return value;
}
