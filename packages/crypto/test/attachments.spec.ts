import fc from 'fast-check';
import type { AttachmentDescriptor, EncryptedFile, FileRef } from '../src/index.js';
import {
  createEpochKey,
  CryptoError,
  decryptFile,
  decryptMessage,
  describeFile,
  encryptFile,
  encryptMessage,
  fileCipherBytes,
  fileRefOf,
  generateDeviceKeys,
  MAX_FILE_BYTES,
  ready,
  toBase64,
} from '../src/index.js';
import { messageAssociatedData, messagePlaintext } from '../src/messages.js';
import { aeadEncrypt, blake2b, randomBytes, secretstreamInitPull, secretstreamInitPush, secretstreamPull, secretstreamPush } from '../src/sodium.js';
import { aHeader, aPayload, aUuid, errorCodeOf } from './factories.js';

await ready();

const CHUNK = 65_536;
const PART = CHUNK + 17;
const AD = new TextEncoder().encode('parley/v1/file');

/** Bytes that differ from chunk to chunk, so a swapped or repeated chunk would show. */
function aFile(size: number): Uint8Array {
  const bytes = new Uint8Array(size);
  for (let i = 0; i < size; i++) bytes[i] = (i * 31 + (i >> 16) * 7) & 0xff;
  return bytes;
}

/** The reference of a ciphertext as a (dishonest) sender would describe it: its real hash and a size that fits its length. */
function describedAs(file: EncryptedFile, ciphertext: Uint8Array, size: number): FileRef {
  return { key: file.key, header: file.header, hash: blake2b(32, ciphertext), size };
}

/** The CryptoError `decryptFile` throws (code and message), or what happened instead. */
function refusalOf(ref: FileRef, ciphertext: Uint8Array): { code: string; message: string } | 'no error' {
  try {
    decryptFile(ref, ciphertext);
  } catch (error) {
    if (error instanceof CryptoError) return { code: error.code, message: error.message };
    throw error;
  }
  return 'no error';
}

/** Encrypts chunks with the given FINAL flags, as a sender that does not follow the format would. */
function aStream(chunks: readonly { bytes: Uint8Array; isFinal: boolean }[]) {
  const key = randomBytes(32);
  const { state, header } = secretstreamInitPush(key);
  const parts = chunks.map((chunk) => secretstreamPush(state, chunk.bytes, AD, chunk.isFinal));
  const ciphertext = new Uint8Array(parts.reduce((sum, part) => sum + part.length, 0));
  parts.reduce((offset, part) => (ciphertext.set(part, offset), offset + part.length), 0);
  return { key, header, ciphertext };
}

describe('encryptFile and decryptFile', () => {
  it.each([1, 65_535, 65_536, 65_537, 3 * 65_536, 1_048_576])('round-trips a file of %i bytes, 17 bytes of overhead per 64 KiB chunk', (size) => {
    const plaintext = aFile(size);

    const file = encryptFile(plaintext);

    expect(file.size).toBe(size);
    expect(file.ciphertext).toHaveLength(size + 17 * Math.max(1, Math.ceil(size / CHUNK)));
    expect(file.ciphertext).toHaveLength(fileCipherBytes(size));
    expect(file.key).toHaveLength(32);
    expect(file.header).toHaveLength(24);
    expect(file.hash).toEqual(blake2b(32, file.ciphertext));
    expect(decryptFile(file, file.ciphertext)).toEqual(plaintext);
  });

  it('tags every chunk MESSAGE but the last, which is FINAL, each bound to the parley/v1/file AD', () => {
    const file = encryptFile(aFile(3 * CHUNK + 5));
    const stream = secretstreamInitPull(file.header, file.key)!;
    const chunks = [0, 1, 2, 3].map((index) => file.ciphertext.subarray(index * PART, (index + 1) * PART));

    const tags = chunks.map((chunk) => secretstreamPull(stream, chunk, AD)?.isFinal);

    expect(tags).toEqual([false, false, false, true]);
    expect(secretstreamPull(secretstreamInitPull(file.header, file.key)!, chunks[0]!, new TextEncoder().encode('parley/v1/msg'))).toBeNull();
  });

  it('uses a fresh key and header for every file', () => {
    const plaintext = aFile(100);

    const first = encryptFile(plaintext);
    const second = encryptFile(plaintext);

    expect(first.key).not.toEqual(second.key);
    expect(first.header).not.toEqual(second.header);
    expect(first.ciphertext).not.toEqual(second.ciphertext);
  });

  it('refuses an empty file, one above MAX_FILE_BYTES and a non-binary input', () => {
    expect(errorCodeOf(() => encryptFile(new Uint8Array(0)))).toBe('invalid_length');
    expect(errorCodeOf(() => encryptFile(new Uint8Array(MAX_FILE_BYTES + 1)))).toBe('invalid_length');
    expect(errorCodeOf(() => encryptFile('photo' as never))).toBe('invalid_input');
  });

  describe('a tampered, truncated or reordered ciphertext', () => {
    const plaintext = aFile(3 * CHUNK);
    const file = encryptFile(plaintext);
    const chunkOf = (index: number) => file.ciphertext.slice(index * PART, (index + 1) * PART);
    const joined = (...parts: Uint8Array[]) => {
      const out = new Uint8Array(parts.reduce((sum, part) => sum + part.length, 0));
      parts.reduce((offset, part) => (out.set(part, offset), offset + part.length), 0);
      return out;
    };

    // In each chunk: the encrypted tag byte, the first and a middle byte of the text, the first and last MAC bytes.
    const positions = [0, 1, 2].flatMap((chunk) => [0, 1, 30_000, PART - 16, PART - 1].map((offset) => chunk * PART + offset));

    it.each(positions)('refuses a flipped byte at %i: first by the hash, then by the chunk MAC when the hash is recomputed', (position) => {
      const tampered = file.ciphertext.slice();
      tampered[position]! ^= 0x01;

      expect(refusalOf(file, tampered)).toEqual({ code: 'decrypt_failed', message: 'file ciphertext does not match its hash' });
      expect(refusalOf(describedAs(file, tampered, file.size), tampered)).toEqual({
        code: 'decrypt_failed',
        message: `file chunk ${Math.floor(position / PART)} does not decrypt with this key and header`,
      });
    });

    it('refuses a flipped bit anywhere in a two-chunk file (property)', () => {
      const small = encryptFile(aFile(CHUNK + 100));
      fc.assert(
        fc.property(fc.integer({ min: 0, max: small.ciphertext.length - 1 }), fc.integer({ min: 0, max: 7 }), (position, bit) => {
          const tampered = small.ciphertext.slice();
          tampered[position]! ^= 1 << bit;

          expect(refusalOf(describedAs(small, tampered, small.size), tampered)).toMatchObject({ code: 'decrypt_failed' });
        }),
        { numRuns: 60 },
      );
    });

    it('refuses a file truncated at a chunk boundary: its last chunk is not FINAL', () => {
      const truncated = file.ciphertext.slice(0, 2 * PART);

      expect(refusalOf(file, truncated)).toEqual({ code: 'decrypt_failed', message: 'file ciphertext length does not match its size' });
      expect(refusalOf(describedAs(file, truncated, 2 * CHUNK), truncated)).toEqual({
        code: 'decrypt_failed',
        message: 'file stream is truncated: its last chunk is not final',
      });
    });

    it('refuses a file truncated mid-chunk', () => {
      const truncated = file.ciphertext.slice(0, 2 * PART + 1000);

      expect(refusalOf(file, truncated)).toEqual({ code: 'decrypt_failed', message: 'file ciphertext length does not match its size' });
      expect(refusalOf(describedAs(file, truncated, 2 * CHUNK + 1000 - 17), truncated)).toEqual({
        code: 'decrypt_failed',
        message: 'file chunk 2 does not decrypt with this key and header',
      });
    });

    it('refuses swapped chunks', () => {
      const swapped = joined(chunkOf(1), chunkOf(0), chunkOf(2));

      expect(refusalOf(describedAs(file, swapped, file.size), swapped)).toEqual({
        code: 'decrypt_failed',
        message: 'file chunk 0 does not decrypt with this key and header',
      });
    });

    it('refuses a repeated or a dropped middle chunk', () => {
      const repeated = joined(chunkOf(0), chunkOf(0), chunkOf(2));
      const dropped = joined(chunkOf(0), chunkOf(2));

      expect(refusalOf(describedAs(file, repeated, file.size), repeated)).toMatchObject({ code: 'decrypt_failed' });
      expect(refusalOf(describedAs(file, dropped, 2 * CHUNK), dropped)).toEqual({
        code: 'decrypt_failed',
        message: 'file chunk 1 does not decrypt with this key and header',
      });
    });

    it('refuses the wrong key, the wrong header, another hash and another size', () => {
      expect(refusalOf({ ...file, key: randomBytes(32) }, file.ciphertext)).toEqual({
        code: 'decrypt_failed',
        message: 'file chunk 0 does not decrypt with this key and header',
      });
      expect(refusalOf({ ...file, header: randomBytes(24) }, file.ciphertext)).toMatchObject({
        code: 'decrypt_failed',
        message: 'file chunk 0 does not decrypt with this key and header',
      });
      expect(refusalOf({ ...file, hash: randomBytes(32) }, file.ciphertext)).toEqual({
        code: 'decrypt_failed',
        message: 'file ciphertext does not match its hash',
      });
      expect(refusalOf({ ...file, size: file.size - 1 }, file.ciphertext)).toEqual({
        code: 'decrypt_failed',
        message: 'file ciphertext length does not match its size',
      });
      expect(refusalOf({ ...file, size: file.size + 1 }, file.ciphertext)).toMatchObject({ code: 'decrypt_failed' });
    });

    it('still opens the untouched file', () => {
      expect(decryptFile(file, file.ciphertext)).toEqual(plaintext);
    });
  });

  it('refuses a stream with a chunk after FINAL, and one whose FINAL comes early', () => {
    const extra = aStream([
      { bytes: aFile(CHUNK), isFinal: true },
      { bytes: aFile(10), isFinal: true },
    ]);
    const early = aStream([
      { bytes: aFile(CHUNK), isFinal: true },
      { bytes: aFile(CHUNK), isFinal: false },
      { bytes: aFile(10), isFinal: true },
    ]);

    expect(refusalOf({ ...extra, hash: blake2b(32, extra.ciphertext), size: CHUNK + 10 }, extra.ciphertext)).toEqual({
      code: 'decrypt_failed',
      message: 'file chunk 0 ends the stream before its last chunk',
    });
    expect(refusalOf({ ...early, hash: blake2b(32, early.ciphertext), size: 2 * CHUNK + 10 }, early.ciphertext)).toEqual({
      code: 'decrypt_failed',
      message: 'file chunk 0 ends the stream before its last chunk',
    });
  });

  it('refuses a stream with no FINAL tag at all', () => {
    const unfinished = aStream([
      { bytes: aFile(CHUNK), isFinal: false },
      { bytes: aFile(10), isFinal: false },
    ]);

    expect(refusalOf({ ...unfinished, hash: blake2b(32, unfinished.ciphertext), size: CHUNK + 10 }, unfinished.ciphertext)).toEqual({
      code: 'decrypt_failed',
      message: 'file stream is truncated: its last chunk is not final',
    });
  });

  it('refuses a malformed reference as a typed error before reading the ciphertext', () => {
    const file = encryptFile(aFile(10));

    expect(errorCodeOf(() => decryptFile({ ...file, key: new Uint8Array(31) }, file.ciphertext))).toBe('invalid_length');
    expect(errorCodeOf(() => decryptFile({ ...file, header: new Uint8Array(25) }, file.ciphertext))).toBe('invalid_length');
    expect(errorCodeOf(() => decryptFile({ ...file, hash: new Uint8Array(16) }, file.ciphertext))).toBe('invalid_length');
    expect(errorCodeOf(() => decryptFile({ ...file, size: 0 }, file.ciphertext))).toBe('invalid_input');
    expect(errorCodeOf(() => decryptFile({ ...file, size: 1.5 }, file.ciphertext))).toBe('invalid_input');
    expect(errorCodeOf(() => decryptFile(file, 'ciphertext' as never))).toBe('invalid_input');
  });
});

describe('attachment descriptors in the message payload', () => {
  const file = encryptFile(aFile(5000));
  const aDescriptor = (overrides: Partial<Record<keyof AttachmentDescriptor, unknown>> = {}): AttachmentDescriptor =>
    ({ ...describeFile(file, { id: aUuid(), type: 'image/jpeg', name: 'rash.jpg', width: 800, height: 600 }), ...overrides }) as AttachmentDescriptor;
  const sender = generateDeviceKeys();
  const epochKey = createEpochKey();
  const attachmentHeader = aHeader({ contentType: 'attachment' });
  const encrypt =
    (attachments: unknown, header = attachmentHeader) =>
    () =>
      encryptMessage(header, aPayload({ body: '', attachments: attachments as AttachmentDescriptor[] }), epochKey, sender.signSecretKey);
  /** A payload signed and encrypted as given, bypassing the encoder's checks (what a dishonest sender could send). */
  const signedRaw = (json: string, header = attachmentHeader) => {
    const ad = messageAssociatedData(header);
    const nonce = randomBytes(24);
    return { ciphertext: aeadEncrypt(messagePlaintext(ad, new TextEncoder().encode(json), sender.signSecretKey), ad, nonce, epochKey), nonce };
  };
  const decryptRaw = (json: string, header = attachmentHeader) => {
    const { ciphertext, nonce } = signedRaw(json, header);
    return () => decryptMessage(header, ciphertext, nonce, epochKey, sender.signPublicKey);
  };

  it('describes an encrypted file with what was encrypted, and reads it back as the bytes that open it', () => {
    const id = aUuid();

    const descriptor = describeFile(file, { id, type: 'application/pdf', name: 'letter.pdf' });

    expect(descriptor).toEqual({
      id,
      type: 'application/pdf',
      name: 'letter.pdf',
      size: 5000,
      key: toBase64(file.key),
      header: toBase64(file.header),
      hash: toBase64(file.hash),
    });
    expect(decryptFile(fileRefOf(descriptor), file.ciphertext)).toEqual(aFile(5000));
  });

  it('round-trips up to four files with a caption, and writes their keys in the canonical order', () => {
    const attachments = [
      aDescriptor(),
      aDescriptor({ type: 'image/png', name: 'Ünïcode 📷.png' }),
      aDescriptor({ width: undefined, height: undefined }),
      aDescriptor(),
    ];
    const payload = aPayload({ body: 'Here are the photos', attachments });

    const { ciphertext, nonce } = encryptMessage(attachmentHeader, payload, epochKey, sender.signSecretKey);
    const decrypted = decryptMessage(attachmentHeader, ciphertext, nonce, epochKey, sender.signPublicKey);

    expect(decrypted).toEqual({
      ...payload,
      attachments: [attachments[0], attachments[1], describeFile(file, { id: attachments[2]!.id, type: 'image/jpeg', name: 'rash.jpg' }), attachments[3]],
    });
    expect('width' in decrypted.attachments[2]!).toBe(false);
    expect(Object.keys(decrypted.attachments[0]!)).toEqual(['id', 'type', 'name', 'size', 'key', 'header', 'hash', 'width', 'height']);
  });

  it.each<[string, Partial<Record<keyof AttachmentDescriptor, unknown>>]>([
    ['an id that is not a UUID', { id: 'photo-1' }],
    ['a type the format does not know', { type: 'image/gif' }],
    ['an empty name', { name: '' }],
    ['a name of 121 characters', { name: `${'a'.repeat(117)}.jpg` }],
    ['a name with a slash', { name: '../etc/passwd' }],
    ['a name with a backslash', { name: 'C:\\photo.jpg' }],
    ['a name with a newline', { name: 'photo\n.jpg' }],
    ['a name with a right-to-left override', { name: 'photo\u202Egpj.exe' }],
    ['a name with a lone surrogate', { name: 'photo\ud800.jpg' }],
    ['size 0', { size: 0 }],
    ['a size above MAX_FILE_BYTES', { size: MAX_FILE_BYTES + 1 }],
    ['a fractional size', { size: 1.5 }],
    ['a 31-byte key', { key: toBase64(new Uint8Array(31)) }],
    ['a key in URL-safe base64', { key: toBase64(new Uint8Array(32).fill(0xfb)).replaceAll('+', '-').replaceAll('/', '_') }],
    ['a key with non-canonical padding bits', { key: `${toBase64(new Uint8Array(32)).slice(0, 42)}B=` }],
    ['a 23-byte header', { header: toBase64(new Uint8Array(23)) }],
    ['a missing hash', { hash: undefined }],
    ['a width without a height', { height: undefined }],
    ['a width of 0', { width: 0 }],
    ['a height of 16,385', { height: 16_385 }],
    ['dimensions on a PDF', { type: 'application/pdf' }],
  ])('refuses a descriptor with %s as invalid_input', (_case, overrides) => {
    expect(errorCodeOf(encrypt([aDescriptor(overrides)]))).toBe('invalid_input');
  });

  it('accepts a name of exactly 120 characters counted as code points', () => {
    expect(errorCodeOf(encrypt([aDescriptor({ name: `${'📷'.repeat(116)}.jpg` })]))).toBe('no error');
  });

  it('refuses five files, a repeated id and a list that is not one', () => {
    const repeated = aDescriptor();

    expect(errorCodeOf(encrypt([aDescriptor(), aDescriptor(), aDescriptor(), aDescriptor(), aDescriptor()]))).toBe('invalid_input');
    expect(errorCodeOf(encrypt([repeated, { ...repeated, id: repeated.id.toUpperCase() }]))).toBe('invalid_input');
    expect(errorCodeOf(encrypt({ 0: aDescriptor() }))).toBe('invalid_input');
  });

  it('sends attachments only as an attachment message, and an attachment message only with attachments', () => {
    expect(errorCodeOf(encrypt([aDescriptor()], aHeader({ contentType: 'text' })))).toBe('invalid_input');
    expect(errorCodeOf(encrypt([], attachmentHeader))).toBe('invalid_input');
  });

  it('refuses to decrypt a signed payload whose content type and attachment list disagree', () => {
    const json = (attachments: string) => `{"body":"","attachments":${attachments},"clientSentAt":"2026-01-02T09:30:00.000Z"}`;
    const listed = JSON.stringify([aDescriptor()]);

    expect(errorCodeOf(decryptRaw(json(listed), aHeader({ contentType: 'text' })))).toBe('decrypt_failed');
    expect(errorCodeOf(decryptRaw(json('[]'), attachmentHeader))).toBe('decrypt_failed');
    expect(errorCodeOf(decryptRaw(json(listed), attachmentHeader))).toBe('no error');
  });

  it.each<[string, (descriptor: Record<string, unknown>) => Record<string, unknown>]>([
    ['its keys in another order', ({ id, ...rest }) => ({ ...rest, id })],
    ['an extra key', (descriptor) => ({ ...descriptor, caption: 'x' })],
    ['width and height as null', ({ width: _width, height: _height, ...rest }) => ({ ...rest, width: null, height: null })],
    ['a size written as 5e3', (descriptor) => descriptor],
  ])('fails as decrypt_failed for a signed descriptor with %s', (name, change) => {
    const descriptor = change({ ...aDescriptor() } as unknown as Record<string, unknown>);
    let attachments = JSON.stringify([descriptor]);
    if (name.includes('5e3')) attachments = attachments.replace('"size":5000', '"size":5e3');

    const action = decryptRaw(`{"body":"","attachments":${attachments},"clientSentAt":"2026-01-02T09:30:00.000Z"}`);

    expect(errorCodeOf(action)).toBe('decrypt_failed');
  });

  it('refuses a malformed descriptor when reading it for a download', () => {
    expect(errorCodeOf(() => fileRefOf(aDescriptor({ hash: 'not base64!' })))).toBe('invalid_input');
  });
});
