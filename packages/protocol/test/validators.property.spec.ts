import fc from 'fast-check';
import { z } from 'zod';
import * as protocol from '../src/index.js';
import { base64, ConversationSend, MAX_ATTACHMENTS_PER_MESSAGE, MAX_CIPHERTEXT_BYTES, NONCE_BYTES, validate } from '../src/index.js';

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
