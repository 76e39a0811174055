import fc from 'fast-check';
import { z } from 'zod';
import * as protocol from '../src/index.js';
import {
  base64,
  BASE64_TEXT,
  ConversationSend,
  isBase64Text,
  isPlainTextSend,
  MAX_ATTACHMENTS_PER_MESSAGE,
  MAX_CIPHERTEXT_BYTES,
  NONCE_BYTES,
  validate,
} from '../src/index.js';

/** Every schema the protocol exports: a new one is covered without touching this file. */
const SCHEMAS = Object.entries(protocol as Record<string, unknown>).filter((entry): entry is [string, z.ZodType] => entry[1] instanceof z.ZodType);

/**
 * Hostile JSON-like values: prototype keys (including a `toString` that is not a function, on which zod's length
 * checks throw: `validate` must not), deep nesting, huge and odd numbers, long strings. Objects have the ordinary
 * prototype, as JSON.parse (the socket and HTTP parsers) makes them.
 */
const hostile = fc.letrec((tie) => ({
  value: fc.oneof(
    { depthSize: 'small' },
    fc.constantFrom(
      null,
      true,
      false,
      0,
      -1,
      -0,
      1e308,
      Number.MAX_SAFE_INTEGER + 2,
      Number.NaN,
      Number.POSITIVE_INFINITY,
      '',
      '__proto__',
      'A'.repeat(100_000),
    ),
    fc.double(),
    fc.string(),
    fc.array(tie('value'), { maxLength: 4 }),
    fc.dictionary(fc.oneof(fc.string(), fc.constantFrom('__proto__', 'constructor', 'prototype', 'toString')), tie('value'), {
      maxKeys: 5,
      noNullPrototype: true,
    }),
  ),
})).value;

const b64 = (bytes: Uint8Array) => Buffer.from(bytes).toString('base64');
const sendFields = {
  conversationId: fc.uuid({ version: 4 }),
  clientMessageId: fc.uuid({ version: 4 }),
  epoch: fc.integer({ min: 1, max: 1_000_000 }),
  senderDeviceSeq: fc.integer({ min: 1, max: Number.MAX_SAFE_INTEGER }),
  ciphertext: fc.uint8Array({ minLength: 17, maxLength: 2_000 }).map(b64),
  nonce: fc.uint8Array({ minLength: NONCE_BYTES, maxLength: NONCE_BYTES }).map(b64),
};
/** A text, or an attachment message with the uploads it references (1 to 4 distinct ids). */
const validSend = fc.oneof(
  fc.record({ ...sendFields, contentType: fc.constant('text' as const) }),
  fc.record({
    ...sendFields,
    contentType: fc.constant('attachment' as const),
    attachmentIds: fc.uniqueArray(fc.uuid({ version: 4 }), { minLength: 1, maxLength: MAX_ATTACHMENTS_PER_MESSAGE }),
  }),
);

describe('protocol validators on arbitrary input (fast-check)', () => {
  it(`validates any value without throwing, for every exported schema (${SCHEMAS.length} of them)`, () => {
    expect(SCHEMAS.length).toBeGreaterThan(30);
    fc.assert(
      fc.property(hostile, (value) => {
        for (const [, schema] of SCHEMAS) expect(() => validate(schema, value)).not.toThrow();
      }),
      { numRuns: 300 },
    );
  });

  it('refuses, without throwing, a value on which zod itself throws (an object whose toString is not a function, under length)', () => {
    const value = { ciphertext: { length: { toString: 1, valueOf: 1 } } };

    expect(() => ConversationSend.safeParse(value)).toThrow();
    expect(validate(ConversationSend, value)).toEqual({ success: false, problems: ['(payload): a value the schema cannot read'] });
  });

  it('never lets a value with __proto__, constructor or an unknown key through a command payload', () => {
    fc.assert(
      fc.property(validSend, fc.constantFrom('__proto__', 'constructor', 'isAdmin', 'extra'), hostile, (send, key, value) => {
        // An own "__proto__" key, as JSON.parse makes from the wire (an assignment would set the prototype instead).
        const tainted: Record<string, unknown> = { ...send };
        Object.defineProperty(tainted, key, { value: value ?? null, enumerable: true, configurable: true, writable: true });
        expect(ConversationSend.safeParse(tainted).success).toBe(false);
      }),
    );
  });

  it('accepts every well-formed send, and its parsed form is exactly what came in', () => {
    fc.assert(
      fc.property(validSend, (send) => {
        const parsed = ConversationSend.safeParse(JSON.parse(JSON.stringify(send)));
        expect(parsed.success && parsed.data).toEqual(send);
      }),
    );
  });

  it('the plain text-send check accepts every well-formed text send (lower-case ids), so the gateway takes the fast way', () => {
    fc.assert(
      fc.property(validSend, (send) => {
        expect(isPlainTextSend(JSON.parse(JSON.stringify(send)))).toBe(send.contentType === 'text');
      }),
    );
  });

  it('the plain text-send check never accepts what ConversationSend refuses or would change', () => {
    /** Values near each rule's edge: upper case and nil UUIDs, broken or off-by-one base64, non-integers, wrong types. */
    const edges = fc.oneof(
      fc.constantFrom(
        '00000000-0000-0000-0000-000000000000',
        'ffffffff-ffff-ffff-ffff-ffffffffffff',
        'A3BB189E-8BF9-4888-9912-ACE4E6543002',
        'a3bb189e-8bf9-0888-9912-ace4e6543002',
        'a3bb189e-8bf9-4888-c912-ace4e6543002',
        'text',
        'attachment',
        'system',
        'AAAA',
        'AAA=',
        'A===',
        'AA=A',
        'AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA',
        'A'.repeat(Math.ceil(MAX_CIPHERTEXT_BYTES / 3) * 4 + 4),
        0,
        1,
        1.5,
        -1,
        2 ** 53,
        '1',
        null,
        [],
        {},
      ),
      fc.uint8Array({ maxLength: 40 }).map(b64),
      fc.uint8Array({ minLength: 15, maxLength: 18 }).map(b64),
      hostile,
    );
    const keys = ['conversationId', 'clientMessageId', 'epoch', 'senderDeviceSeq', 'contentType', 'ciphertext', 'nonce', 'attachmentIds', 'extra', '__proto__'];
    const variant = fc.tuple(validSend, fc.constantFrom(...keys), fc.constantFrom('set', 'delete'), edges).map(([send, key, how, value]) => {
      const changed: Record<string, unknown> = JSON.parse(JSON.stringify(send));
      if (how === 'delete') delete changed[key];
      // An own key, as JSON.parse makes one from the wire (an assignment of "__proto__" would set the prototype).
      else Object.defineProperty(changed, key, { value, enumerable: true, configurable: true, writable: true });
      return changed;
    });
    let accepted = 0;
    fc.assert(
      fc.property(fc.oneof(variant, validSend, hostile), (value) => {
        if (!isPlainTextSend(value)) return;
        accepted += 1;
        const parsed = ConversationSend.safeParse(value);
        expect(parsed.success && parsed.data).toEqual(value);
      }),
      { numRuns: 3_000 },
    );
    // Not vacuous: some values took the fast way (unchanged sends, and variants that set a field to a valid value).
    expect(accepted).toBeGreaterThan(100);
  });

  it('refuses a sender sequence or epoch that is not a positive safe integer', () => {
    fc.assert(
      fc.property(validSend, fc.oneof(fc.integer({ max: 0 }), fc.double({ noInteger: true }), fc.constantFrom(2 ** 53, 1e308, Number.NaN)), (send, bad) => {
        expect(ConversationSend.safeParse({ ...send, senderDeviceSeq: bad }).success).toBe(false);
        expect(ConversationSend.safeParse({ ...send, epoch: bad }).success).toBe(false);
      }),
    );
  });

  it('base64(max, min) accepts exactly the padded encodings of min..max bytes', () => {
    const schema = base64(48, 17);
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), (bytes) => {
        expect(schema.safeParse(b64(bytes)).success).toBe(bytes.length >= 17 && bytes.length <= 48);
      }),
    );
  });

  it('isBase64Text answers as the BASE64_TEXT pattern does, on any text', () => {
    const characters = fc.oneof(fc.constantFrom('A', 'z', '0', '9', '+', '/', '=', '-', '_', ' ', '\n', 'é', '\u0000', '\uD83D'), fc.string({ maxLength: 1 }));
    fc.assert(
      fc.property(
        fc.oneof(
          fc.array(characters, { maxLength: 12 }).map((parts) => parts.join('')),
          fc.uint8Array({ maxLength: 30 }).map(b64),
          fc.string(),
        ),
        (text) => {
          expect(isBase64Text(text)).toBe(BASE64_TEXT.test(text));
        },
      ),
      { numRuns: 3_000 },
    );
  });

  it('base64 refuses unpadded, URL-safe and whitespace-broken text', () => {
    const schema = base64(MAX_CIPHERTEXT_BYTES, 1);
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 1, maxLength: 200 }), fc.constantFrom('-', '_', ' ', '\n', '*'), (bytes, bad) => {
        const text = b64(bytes);
        expect(schema.safeParse(text + bad).success).toBe(false);
        if (text.endsWith('=')) expect(schema.safeParse(text.replace(/=+$/, '')).success).toBe(false);
      }),
    );
  });
});
