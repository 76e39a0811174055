// Files (photos and documents), exactly the layout of docs/crypto.md "Files". Each file has its own key and is
// encrypted as a crypto_secretstream_xchacha20poly1305 stream of fixed-size chunks, the last one tagged FINAL; the
// server stores only that ciphertext. The key, header, hash, size, type and name travel in the signed, encrypted
// message that references the upload (an AttachmentDescriptor), so they live only in the members' memory.
import { ascii, requireBytes, utf8 } from './bytes.js';
import { CryptoError } from './crypto-error.js';
import {
  blake2bParts,
  equalBytes,
  fromBase64,
  secretstreamInitPull,
  secretstreamInitPush,
  secretstreamKeygen,
  secretstreamPull,
  secretstreamPush,
  toBase64,
  wipe,
} from './sodium.js';

/** Plaintext bytes per chunk. */
export const FILE_CHUNK_BYTES = 65_536;
/** What secretstream adds to each chunk (crypto_secretstream_xchacha20poly1305_ABYTES). */
export const FILE_CHUNK_OVERHEAD = 17;
/** Ciphertext bytes of a whole chunk: one upload part. */
const CIPHER_CHUNK_BYTES = FILE_CHUNK_BYTES + FILE_CHUNK_OVERHEAD;
/** The largest file encryptFile takes (25 MiB), the ceiling of every practice setting. */
export const MAX_FILE_BYTES = 26_214_400;
export const FILE_KEY_BYTES = 32;
export const FILE_HEADER_BYTES = 24;
export const FILE_HASH_BYTES = 32;
/** Every chunk's additional data: binds the stream to this use of the key (domain separation). */
const FILE_AD = ascii('parley/v1/file');

/** The file types a message may carry (the same list as @parley/protocol's ATTACHMENT_TYPES). */
export const ATTACHMENT_TYPES = ['image/jpeg', 'image/png', 'image/webp', 'application/pdf'] as const;
/** One of {@link ATTACHMENT_TYPES}. */
export type AttachmentType = (typeof ATTACHMENT_TYPES)[number];
/** The most files one message may carry. */
export const MAX_ATTACHMENTS = 4;
/** The longest file name, in characters (code points). */
export const MAX_ATTACHMENT_NAME_CHARS = 120;
/** The largest image edge a descriptor may state, in pixels. */
export const MAX_IMAGE_EDGE = 16_384;

/** A file encrypted for upload. The key stays on the sender's device until it is put in the message. */
export interface EncryptedFile {
  /** 32 bytes, fresh for this file. */
  key: Uint8Array;
  /** The 24-byte secretstream header. */
  header: Uint8Array;
  /** The chunks concatenated: every chunk tagged MESSAGE except the last, tagged FINAL. */
  ciphertext: Uint8Array;
  /** BLAKE2b-256 of `ciphertext`. */
  hash: Uint8Array;
  /** Plaintext bytes. */
  size: number;
}

/** What a reader needs to check and decrypt a downloaded file (from the message's descriptor). */
export interface FileRef {
  key: Uint8Array;
  header: Uint8Array;
  hash: Uint8Array;
  size: number;
}

/**
 * One file a message carries: the upload id the server knows it by, and everything the server must not know.
 * Binary fields are standard padded base64.
 */
export interface AttachmentDescriptor {
  /** The upload id (a UUID). */
  id: string;
  /** Sniffed from the bytes on the sending device. */
  type: AttachmentType;
  /** 1 to 120 characters, without '/', '\\', control or bidirectional-override characters. */
  name: string;
  /** Plaintext bytes, 1 to MAX_FILE_BYTES. */
  size: number;
  /** The file key (32 bytes). */
  key: string;
  /** The secretstream header (24 bytes). */
  header: string;
  /** BLAKE2b-256 of the ciphertext (32 bytes). */
  hash: string;
  /** Images only, both or neither: pixels, 1 to MAX_IMAGE_EDGE. */
  width?: number;
  height?: number;
}

/** Ciphertext bytes of a file of `plainBytes`: one chunk at least, each 17 bytes longer than its plaintext. */
export function fileCipherBytes(plainBytes: number): number {
  return plainBytes + FILE_CHUNK_OVERHEAD * Math.max(1, Math.ceil(plainBytes / FILE_CHUNK_BYTES));
}

/**
 * Encrypts a file under a fresh key, in chunks of FILE_CHUNK_BYTES, the last tagged FINAL.
 * @throws CryptoError `invalid_input` (not bytes), `invalid_length` (empty or above MAX_FILE_BYTES), `not_ready`
 */
export function encryptFile(plaintext: Uint8Array): EncryptedFile {
  requireFile(plaintext);
  return encryptFileWithKey(plaintext, secretstreamKeygen());
}

/** Internal (not in index.ts): encryptFile under a caller-chosen key, for test vectors only. */
export function encryptFileWithKey(plaintext: Uint8Array, key: Uint8Array): EncryptedFile {
  requireFile(plaintext);
  requireBytes(key, FILE_KEY_BYTES, 'key');
  const { state, header } = secretstreamInitPush(key);
  const size = plaintext.length;
  const ciphertext = new Uint8Array(fileCipherBytes(size));
  const chunkCount = Math.max(1, Math.ceil(size / FILE_CHUNK_BYTES));
  for (let index = 0; index < chunkCount; index++) {
    const chunk = plaintext.subarray(index * FILE_CHUNK_BYTES, Math.min((index + 1) * FILE_CHUNK_BYTES, size));
    ciphertext.set(secretstreamPush(state, chunk, FILE_AD, index === chunkCount - 1), index * CIPHER_CHUNK_BYTES);
  }
  return { key: key.slice(), header, ciphertext, hash: blake2bParts(FILE_HASH_BYTES, cipherChunks(ciphertext)), size };
}

/**
 * Checks a downloaded ciphertext against its reference (length, then hash) and decrypts it chunk by chunk. A chunk
 * that does not authenticate (tampered, reordered, wrong key or header), a FINAL tag before the last chunk or none on
 * it (truncated or extended), a hash or size that disagrees: all `decrypt_failed`, and no plaintext is returned.
 * @throws CryptoError `decrypt_failed`, `invalid_length` / `invalid_input` (a malformed reference), `not_ready`
 */
export function decryptFile(ref: FileRef, ciphertext: Uint8Array): Uint8Array {
  requireBytes(ref.key, FILE_KEY_BYTES, 'key');
  requireBytes(ref.header, FILE_HEADER_BYTES, 'header');
  requireBytes(ref.hash, FILE_HASH_BYTES, 'hash');
  requireSize(ref.size, 'size');
  if (!(ciphertext instanceof Uint8Array)) throw new CryptoError('invalid_input', 'ciphertext must be a Uint8Array');
  if (ciphertext.length !== fileCipherBytes(ref.size)) {
    throw new CryptoError('decrypt_failed', 'file ciphertext length does not match its size');
  }
  if (!equalBytes(blake2bParts(FILE_HASH_BYTES, cipherChunks(ciphertext)), ref.hash)) {
    throw new CryptoError('decrypt_failed', 'file ciphertext does not match its hash');
  }

  const stream = secretstreamInitPull(ref.header, ref.key);
  if (stream === null) throw new CryptoError('decrypt_failed', 'file header is not usable');
  const plaintext = new Uint8Array(ref.size);
  const chunks = [...cipherChunks(ciphertext)];
  for (const [index, chunk] of chunks.entries()) {
    const opened = secretstreamPull(stream, chunk, FILE_AD);
    if (opened === null) refuse(plaintext, `file chunk ${index} does not decrypt with this key and header`);
    const isLast = index === chunks.length - 1;
    if (opened.isFinal !== isLast) {
      wipe(opened.message);
      refuse(plaintext, isLast ? 'file stream is truncated: its last chunk is not final' : `file chunk ${index} ends the stream before its last chunk`);
    }
    plaintext.set(opened.message, index * FILE_CHUNK_BYTES);
    wipe(opened.message);
  }
  return plaintext;
}

/**
 * The descriptor of an encrypted file, as the sender puts it in the message (only what it encrypted itself).
 * @throws CryptoError `invalid_input`
 */
export function describeFile(file: FileRef, fields: { id: string; type: AttachmentType; name: string; width?: number; height?: number }): AttachmentDescriptor {
  const descriptor: AttachmentDescriptor = {
    id: fields.id,
    type: fields.type,
    name: fields.name,
    size: file.size,
    key: toBase64(file.key),
    header: toBase64(file.header),
    hash: toBase64(file.hash),
    ...(fields.width !== undefined || fields.height !== undefined ? { width: fields.width, height: fields.height } : {}),
  } as AttachmentDescriptor;
  return canonicalDescriptor(descriptor, 0);
}

/**
 * The key, header and hash of a descriptor as bytes, to check and decrypt the file it names.
 * @throws CryptoError `invalid_input`
 */
export function fileRefOf(descriptor: AttachmentDescriptor): FileRef {
  const checked = canonicalDescriptor(descriptor, 0);
  return { key: fromBase64(checked.key), header: fromBase64(checked.header), hash: fromBase64(checked.hash), size: checked.size };
}

/**
 * Internal: a message's attachment list checked and rebuilt with its keys in canonical order (id, type, name, size,
 * key, header, hash, then width and height for images that state them). At most MAX_ATTACHMENTS, ids unique.
 * @throws CryptoError `invalid_input`
 */
export function canonicalAttachments(value: unknown): AttachmentDescriptor[] {
  if (!Array.isArray(value) || value.length > MAX_ATTACHMENTS) {
    throw new CryptoError('invalid_input', `payload.attachments must be a list of at most ${MAX_ATTACHMENTS} files`);
  }
  const list = value.map((item: unknown, index) => canonicalDescriptor(item, index));
  if (new Set(list.map((item) => item.id.toLowerCase())).size !== list.length) {
    throw new CryptoError('invalid_input', 'payload.attachments repeats an id');
  }
  return list;
}

const UUID_PATTERN = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
// Path separators would let a name pick a folder when saved; control and bidirectional-override characters would let
// it hide or reverse its extension on screen ("photo\u202Egpj.exe").
const FORBIDDEN_NAME_CHARACTERS = /[/\\\p{Cc}\u061C\u200E\u200F\u202A-\u202E\u2066-\u2069]/u;

function canonicalDescriptor(value: unknown, index: number): AttachmentDescriptor {
  const field = `payload.attachments[${index}]`;
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new CryptoError('invalid_input', `${field} must be an object`);
  const { id, type, name, size, key, header, hash, width, height } = value as Record<string, unknown>;
  if (typeof id !== 'string' || !UUID_PATTERN.test(id)) throw new CryptoError('invalid_input', `${field}.id is not a UUID`);
  if (typeof type !== 'string' || !(ATTACHMENT_TYPES as readonly string[]).includes(type)) {
    throw new CryptoError('invalid_input', `${field}.type is not an accepted file type`);
  }
  requireName(name, `${field}.name`);
  requireSize(size, `${field}.size`);
  const descriptor: AttachmentDescriptor = {
    id,
    type: type as AttachmentType,
    name: name as string,
    size: size as number,
    key: requireBase64(key, FILE_KEY_BYTES, `${field}.key`),
    header: requireBase64(header, FILE_HEADER_BYTES, `${field}.header`),
    hash: requireBase64(hash, FILE_HASH_BYTES, `${field}.hash`),
  };
  if (width === undefined && height === undefined) return descriptor;
  if (!type.startsWith('image/')) throw new CryptoError('invalid_input', `${field} states dimensions but is not an image`);
  return { ...descriptor, width: requireEdge(width, `${field}.width`), height: requireEdge(height, `${field}.height`) };
}

/** The ciphertext's chunks (views, no copies): whole CIPHER_CHUNK_BYTES ones, the last the remainder. */
function* cipherChunks(ciphertext: Uint8Array): Generator<Uint8Array> {
  for (let offset = 0; offset < ciphertext.length; offset += CIPHER_CHUNK_BYTES) {
    yield ciphertext.subarray(offset, Math.min(offset + CIPHER_CHUNK_BYTES, ciphertext.length));
  }
}

/** Never hands back part of a file: a truncated image must not be shown as a whole one. */
function refuse(partial: Uint8Array, problem: string): never {
  wipe(partial);
  throw new CryptoError('decrypt_failed', problem);
}

function requireFile(plaintext: Uint8Array): void {
  if (!(plaintext instanceof Uint8Array)) throw new CryptoError('invalid_input', 'file must be a Uint8Array');
  if (plaintext.length === 0 || plaintext.length > MAX_FILE_BYTES) {
    throw new CryptoError('invalid_length', `file must be 1 to ${MAX_FILE_BYTES} bytes, got ${plaintext.length}`);
  }
}

function requireSize(value: unknown, field: string): void {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 1 || value > MAX_FILE_BYTES) {
    throw new CryptoError('invalid_input', `${field} must be an integer from 1 to ${MAX_FILE_BYTES}`);
  }
}

function requireName(value: unknown, field: string): void {
  if (typeof value !== 'string') throw new CryptoError('invalid_input', `${field} must be a string`);
  utf8(value, field); // refuses lone surrogates
  const length = [...value].length;
  if (length === 0 || length > MAX_ATTACHMENT_NAME_CHARS || FORBIDDEN_NAME_CHARACTERS.test(value)) {
    throw new CryptoError('invalid_input', `${field} must be 1 to ${MAX_ATTACHMENT_NAME_CHARS} characters without path, control or direction characters`);
  }
}

function requireEdge(value: unknown, field: string): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 1 || value > MAX_IMAGE_EDGE) {
    throw new CryptoError('invalid_input', `${field} must be an integer from 1 to ${MAX_IMAGE_EDGE} (width and height go together)`);
  }
  return value;
}

/** Standard padded base64 of exactly `bytes` bytes, in its one canonical spelling. */
function requireBase64(value: unknown, bytes: number, field: string): string {
  let decoded: Uint8Array;
  try {
    decoded = fromBase64(value as string);
  } catch (error) {
    if (error instanceof CryptoError && error.code === 'not_ready') throw error;
    throw new CryptoError('invalid_input', `${field} is not standard base64`);
  }
  if (decoded.length !== bytes || toBase64(decoded) !== value) {
    throw new CryptoError('invalid_input', `${field} must be the base64 of ${bytes} bytes`);
  }
  return value;
}
