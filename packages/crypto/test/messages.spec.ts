import type { MessageHeader } from '../src/index.js';
import { createEpochKey, decryptMessage, encryptMessage, generateDeviceKeys, MAX_PAYLOAD_BYTES, ready } from '../src/index.js';
import { aeadEncrypt, randomBytes } from '../src/sodium.js';
import { messageAssociatedData, messagePlaintext } from '../src/messages.js';
import { aHeader, aPayload, aUuid, errorCodeOf, flipped } from './factories.js';

await ready();

function aMessage(headerOverrides: Partial<MessageHeader> = {}) {
  const sender = generateDeviceKeys();
  const epochKey = createEpochKey();
  const header = aHeader(headerOverrides);
  const payload = aPayload();
  const { ciphertext, nonce } = encryptMessage(header, payload, epochKey, sender.signSecretKey);
  return { sender, epochKey, header, payload, ciphertext, nonce };
}

describe('encryptMessage', () => {
  it('round-trips through decryptMessage', () => {
    const { sender, epochKey, header, payload, ciphertext, nonce } = aMessage();

    const decrypted = decryptMessage(header, ciphertext, nonce, epochKey, sender.signPublicKey);

    expect(decrypted).toEqual(payload);
  });

  it('round-trips non-ASCII text, lone surrogates and a u64 sequence number', () => {
    const sender = generateDeviceKeys();
    const epochKey = createEpochKey();
    const header = aHeader({ senderDeviceSeq: (1n << 64n) - 1n, senderRole: 'clinician', contentType: 'key-rotation' });
    const payload = aPayload({ body: 'Grüße 👋 \ud800 "quoted" \n' });

    const { ciphertext, nonce } = encryptMessage(header, payload, epochKey, sender.signSecretKey);

    expect(decryptMessage(header, ciphertext, nonce, epochKey, sender.signPublicKey)).toEqual(payload);
  });

  it('turns a 78-byte body into 272 bytes of ciphertext (256 of padded plaintext + 16 of tag)', () => {
    const sender = generateDeviceKeys();

    const { ciphertext } = encryptMessage(aHeader(), aPayload({ body: 'x'.repeat(78) }), createEpochKey(), sender.signSecretKey);

    expect(ciphertext).toHaveLength(272);
  });

  it('uses a fresh 24-byte nonce every time', () => {
    const sender = generateDeviceKeys();
    const epochKey = createEpochKey();
    const header = aHeader();

    const first = encryptMessage(header, aPayload(), epochKey, sender.signSecretKey);
    const second = encryptMessage(header, aPayload(), epochKey, sender.signSecretKey);

    expect(first.nonce).toHaveLength(24);
    expect(first.nonce).not.toEqual(second.nonce);
    expect(first.ciphertext).not.toEqual(second.ciphertext);
  });

  it('refuses attachments, a bad timestamp and an oversized body as typed errors', () => {
    const sender = generateDeviceKeys();
    const epochKey = createEpochKey();
    const encrypt = (payload: object) => () => encryptMessage(aHeader(), payload as never, epochKey, sender.signSecretKey);

    expect(errorCodeOf(encrypt(aPayload({ attachments: [{ name: 'x' }] as never })))).toBe('invalid_input');
    expect(errorCodeOf(encrypt(aPayload({ clientSentAt: '2026-01-02 09:30' })))).toBe('invalid_input');
    expect(errorCodeOf(encrypt(aPayload({ body: 'x'.repeat(MAX_PAYLOAD_BYTES) })))).toBe('invalid_length');
  });

  it('round-trips red flags and writes no redFlags key for an empty list', () => {
    const sender = generateDeviceKeys();
    const epochKey = createEpochKey();
    const header = aHeader();
    const flagged = aPayload({ redFlags: ['chest_pain', 'breathing'] });

    const withFlags = encryptMessage(header, flagged, epochKey, sender.signSecretKey);
    const withEmpty = encryptMessage(header, aPayload({ redFlags: [] }), epochKey, sender.signSecretKey);

    expect(decryptMessage(header, withFlags.ciphertext, withFlags.nonce, epochKey, sender.signPublicKey)).toEqual(flagged);
    const decodedEmpty = decryptMessage(header, withEmpty.ciphertext, withEmpty.nonce, epochKey, sender.signPublicKey);
    expect(decodedEmpty).toEqual(aPayload());
    expect('redFlags' in decodedEmpty).toBe(false);
  });

  it.each<[string, unknown]>([
    ['an upper-case id', ['Chest_pain']],
    ['an id starting with a digit', ['1chest']],
    ['an id with a space', ['chest pain']],
    ['an id of 41 characters', ['a'.repeat(41)]],
    ['an empty id', ['']],
    ['a repeated id', ['stroke', 'stroke']],
    ['17 ids', Array.from({ length: 17 }, (_, i) => `flag${i}`)],
    ['a number', [1]],
    ['a string instead of a list', 'chest_pain'],
    ['null', null],
  ])('refuses red flags with %s as invalid_input', (_case, redFlags) => {
    const sender = generateDeviceKeys();

    const action = () => encryptMessage(aHeader(), aPayload({ redFlags: redFlags as never }), createEpochKey(), sender.signSecretKey);

    expect(errorCodeOf(action)).toBe('invalid_input');
  });

  it('accepts 16 ids of 40 characters', () => {
    const sender = generateDeviceKeys();
    const epochKey = createEpochKey();
    const header = aHeader();
    const payload = aPayload({ redFlags: Array.from({ length: 16 }, (_, i) => `${'a'.repeat(38)}${i.toString().padStart(2, '0')}`) });

    const { ciphertext, nonce } = encryptMessage(header, payload, epochKey, sender.signSecretKey);

    expect(decryptMessage(header, ciphertext, nonce, epochKey, sender.signPublicKey)).toEqual(payload);
  });

  it.each([
    ['practice id', { practiceId: '' }],
    ['conversation id', { conversationId: 'not-a-uuid' }],
    ['epoch 0', { epoch: 0 }],
    ['sequence 0', { senderDeviceSeq: 0 }],
    ['sender role', { senderRole: 'admin' as never }],
    ['content type', { contentType: 'image' as never }],
  ])('refuses a header with an invalid %s as invalid_input', (_field, change) => {
    const sender = generateDeviceKeys();

    expect(errorCodeOf(() => encryptMessage(aHeader(change), aPayload(), createEpochKey(), sender.signSecretKey))).toBe('invalid_input');
  });
});

describe('decryptMessage', () => {
  it.each<[string, Partial<MessageHeader>]>([
    ['practice', { practiceId: 'A81002' }],
    ['conversation', { conversationId: aUuid() }],
    ['patient', { patientId: aUuid() }],
    ['epoch', { epoch: 2 }],
    ['sender user', { senderUserId: aUuid() }],
    ['sender device', { senderDeviceId: aUuid() }],
    ['sender role', { senderRole: 'clinician' }],
    ['sender device sequence', { senderDeviceSeq: 2 }],
    ['client message id', { clientMsgId: aUuid() }],
    ['content type', { contentType: 'system' }],
  ])('fails as decrypt_failed when the %s column is changed', (_field, change) => {
    const { sender, epochKey, header, ciphertext, nonce } = aMessage();

    const action = () => decryptMessage({ ...header, ...change }, ciphertext, nonce, epochKey, sender.signPublicKey);

    expect(errorCodeOf(action)).toBe('decrypt_failed');
  });

  it('fails as decrypt_failed for a message moved to another conversation and patient', () => {
    const { sender, epochKey, header, ciphertext, nonce } = aMessage();
    const moved = { ...header, conversationId: aUuid(), patientId: aUuid() };

    expect(errorCodeOf(() => decryptMessage(moved, ciphertext, nonce, epochKey, sender.signPublicKey))).toBe('decrypt_failed');
  });

  it('treats an upper-case UUID column as the same id', () => {
    const { sender, epochKey, header, payload, ciphertext, nonce } = aMessage();

    const decrypted = decryptMessage({ ...header, conversationId: header.conversationId.toUpperCase() }, ciphertext, nonce, epochKey, sender.signPublicKey);

    expect(decrypted).toEqual(payload);
  });

  it.each([0, 100, -1])('fails as decrypt_failed when ciphertext byte %i is flipped', (index) => {
    const { sender, epochKey, header, ciphertext, nonce } = aMessage();

    expect(errorCodeOf(() => decryptMessage(header, flipped(ciphertext, index), nonce, epochKey, sender.signPublicKey))).toBe('decrypt_failed');
  });

  it('fails as decrypt_failed when a nonce byte is flipped', () => {
    const { sender, epochKey, header, ciphertext, nonce } = aMessage();

    expect(errorCodeOf(() => decryptMessage(header, ciphertext, flipped(nonce, 5), epochKey, sender.signPublicKey))).toBe('decrypt_failed');
  });

  it('fails as decrypt_failed under another epoch key', () => {
    const { sender, header, ciphertext, nonce } = aMessage();

    expect(errorCodeOf(() => decryptMessage(header, ciphertext, nonce, createEpochKey(), sender.signPublicKey))).toBe('decrypt_failed');
  });

  it('fails as bad_signature when the inner signature is by another key than the sender', () => {
    const sender = generateDeviceKeys();
    const impostor = generateDeviceKeys();
    const epochKey = createEpochKey();
    const header = aHeader();
    const { ciphertext, nonce } = encryptMessage(header, aPayload(), epochKey, impostor.signSecretKey);

    expect(errorCodeOf(() => decryptMessage(header, ciphertext, nonce, epochKey, sender.signPublicKey))).toBe('bad_signature');
  });

  it('fails as bad_signature when the inner signature covers another header', () => {
    const sender = generateDeviceKeys();
    const epochKey = createEpochKey();
    const header = aHeader();
    const signedForOther = messagePlaintext(
      messageAssociatedData(aHeader()),
      new TextEncoder().encode('{"body":"hi","attachments":[],"clientSentAt":"2026-01-02T09:30:00.000Z"}'),
      sender.signSecretKey,
    );
    const nonce = randomBytes(24);
    const ciphertext = aeadEncrypt(signedForOther, messageAssociatedData(header), nonce, epochKey);

    expect(errorCodeOf(() => decryptMessage(header, ciphertext, nonce, epochKey, sender.signPublicKey))).toBe('bad_signature');
  });

  it.each([
    ['extra whitespace', '{ "body":"hi","attachments":[],"clientSentAt":"2026-01-02T09:30:00.000Z"}'],
    ['another key order', '{"attachments":[],"body":"hi","clientSentAt":"2026-01-02T09:30:00.000Z"}'],
    ['an extra field', '{"body":"hi","attachments":[],"clientSentAt":"2026-01-02T09:30:00.000Z","x":1}'],
    ['an empty redFlags list', '{"body":"hi","attachments":[],"clientSentAt":"2026-01-02T09:30:00.000Z","redFlags":[]}'],
    ['redFlags before clientSentAt', '{"body":"hi","attachments":[],"redFlags":["stroke"],"clientSentAt":"2026-01-02T09:30:00.000Z"}'],
    ['a repeated red flag', '{"body":"hi","attachments":[],"clientSentAt":"2026-01-02T09:30:00.000Z","redFlags":["stroke","stroke"]}'],
    ['an invalid red-flag id', '{"body":"hi","attachments":[],"clientSentAt":"2026-01-02T09:30:00.000Z","redFlags":["Stroke!"]}'],
    ['redFlags that are not a list', '{"body":"hi","attachments":[],"clientSentAt":"2026-01-02T09:30:00.000Z","redFlags":"stroke"}'],
    ['redFlags null', '{"body":"hi","attachments":[],"clientSentAt":"2026-01-02T09:30:00.000Z","redFlags":null}'],
    ['not JSON', 'hello'],
  ])('fails as decrypt_failed for a signed payload with %s', (_case, json) => {
    const sender = generateDeviceKeys();
    const epochKey = createEpochKey();
    const header = aHeader();
    const ad = messageAssociatedData(header);
    const nonce = randomBytes(24);
    const ciphertext = aeadEncrypt(messagePlaintext(ad, new TextEncoder().encode(json), sender.signSecretKey), ad, nonce, epochKey);

    expect(errorCodeOf(() => decryptMessage(header, ciphertext, nonce, epochKey, sender.signPublicKey))).toBe('decrypt_failed');
  });

  it.each([
    ['a 23-byte nonce', { nonce: new Uint8Array(23) }],
    ['a 31-byte epoch key', { epochKey: new Uint8Array(31) }],
    ['a 33-byte sender key', { senderKey: new Uint8Array(33) }],
    ['an unpadded ciphertext length', { ciphertext: new Uint8Array(273) }],
    ['an empty ciphertext', { ciphertext: new Uint8Array(0) }],
  ])('refuses %s as invalid_length', (_case, change: { nonce?: Uint8Array; epochKey?: Uint8Array; senderKey?: Uint8Array; ciphertext?: Uint8Array }) => {
    const { sender, epochKey, header, ciphertext, nonce } = aMessage();

    const action = () =>
      decryptMessage(header, change.ciphertext ?? ciphertext, change.nonce ?? nonce, change.epochKey ?? epochKey, change.senderKey ?? sender.signPublicKey);

    expect(errorCodeOf(action)).toBe('invalid_length');
  });
});
