import { randomUUID } from 'node:crypto';
import {
  ATTACHMENT_TYPES,
  AttachmentSettings,
  chunkCountFor,
  cipherBytesFor,
  ConversationRequestAttachment,
  ConversationSend,
  CreateUploadRequest,
  DEFAULT_ATTACHMENT_SETTINGS,
  ERROR_CODES,
  RecordSystemEvent,
  UploadChunkRef,
} from '../src/index.js';

describe('cipherBytesFor and chunkCountFor', () => {
  it.each([
    [1, 18, 1],
    [65_535, 65_552, 1],
    [65_536, 65_553, 1],
    [65_537, 65_571, 2],
    [3 * 65_536, 3 * 65_553, 3],
    [26_214_400, 26_214_400 + 17 * 400, 400],
  ])('a file of %i bytes is %i bytes of ciphertext in %i parts', (plain, cipher, parts) => {
    expect(cipherBytesFor(plain)).toBe(cipher);
    expect(chunkCountFor(cipher)).toBe(parts);
  });
});

describe('AttachmentSettings', () => {
  it('accepts the defaults: when asked, every type, 10 MiB a file, 50 MiB a conversation and a day', () => {
    expect(AttachmentSettings.safeParse(DEFAULT_ATTACHMENT_SETTINGS).success).toBe(true);
    expect(DEFAULT_ATTACHMENT_SETTINGS).toEqual({
      patientUploads: 'when-asked',
      acceptedTypes: [...ATTACHMENT_TYPES],
      maxFileBytes: 10_485_760,
      maxConversationBytes: 52_428_800,
      maxPatientDailyBytes: 52_428_800,
    });
  });

  it.each<[string, Record<string, unknown>]>([
    ['an unknown upload rule', { patientUploads: 'sometimes' }],
    ['no accepted type', { acceptedTypes: [] }],
    ['a repeated type', { acceptedTypes: ['image/png', 'image/png'] }],
    ['a type the format does not know', { acceptedTypes: ['image/gif'] }],
    ['a file limit below one chunk', { maxFileBytes: 65_535 }],
    ['a file limit above 25 MiB', { maxFileBytes: 26_214_401 }],
    ['a conversation limit above 250 MiB', { maxConversationBytes: 262_144_001 }],
    ['a fractional daily limit', { maxPatientDailyBytes: 100_000.5 }],
    ['an unknown field', { maxFiles: 3 }],
  ])('refuses %s', (_case, change) => {
    expect(AttachmentSettings.safeParse({ ...DEFAULT_ATTACHMENT_SETTINGS, ...change }).success).toBe(false);
  });
});

describe('CreateUploadRequest', () => {
  const valid = { conversationId: randomUUID(), contentType: 'image/jpeg', cipherBytes: 18 };

  it('accepts an upload of one byte up to the largest file any setting allows', () => {
    expect(CreateUploadRequest.safeParse(valid).success).toBe(true);
    expect(CreateUploadRequest.safeParse({ ...valid, cipherBytes: cipherBytesFor(26_214_400) }).success).toBe(true);
  });

  it.each<[string, Record<string, unknown>]>([
    ['fewer bytes than one chunk’s overhead', { cipherBytes: 16 }],
    ['more than the largest file', { cipherBytes: cipherBytesFor(26_214_400) + 1 }],
    ['a type the format does not know', { contentType: 'text/html' }],
    ['a conversation id that is not a UUID', { conversationId: 'abc' }],
    ['an unknown field (a file name the server must not see)', { name: 'rash.jpg' }],
  ])('refuses %s', (_case, change) => {
    expect(CreateUploadRequest.safeParse({ ...valid, ...change }).success).toBe(false);
  });
});

describe('UploadChunkRef', () => {
  it('reads the part index from the path as a number', () => {
    const uploadId = randomUUID();

    expect(UploadChunkRef.parse({ uploadId, index: '0' })).toEqual({ uploadId, index: 0 });
    expect(UploadChunkRef.parse({ uploadId, index: '399' })).toEqual({ uploadId, index: 399 });
  });

  it.each(['-1', '01', '1.5', '1e3', '', '1234567', 'NaN'])('refuses the index %p', (index) => {
    expect(UploadChunkRef.safeParse({ uploadId: randomUUID(), index }).success).toBe(false);
  });
});

describe('ConversationSend.attachmentIds', () => {
  const send = {
    conversationId: randomUUID(),
    clientMessageId: randomUUID(),
    epoch: 1,
    senderDeviceSeq: 1,
    ciphertext: Buffer.alloc(300).toString('base64'),
    nonce: Buffer.alloc(24).toString('base64'),
  };

  it('requires 1 to 4 distinct upload ids for an attachment message', () => {
    const ids = [randomUUID(), randomUUID(), randomUUID(), randomUUID()];

    expect(ConversationSend.safeParse({ ...send, contentType: 'attachment', attachmentIds: ids.slice(0, 1) }).success).toBe(true);
    expect(ConversationSend.safeParse({ ...send, contentType: 'attachment', attachmentIds: ids }).success).toBe(true);
    expect(ConversationSend.safeParse({ ...send, contentType: 'attachment' }).success).toBe(false);
    expect(ConversationSend.safeParse({ ...send, contentType: 'attachment', attachmentIds: [] }).success).toBe(false);
    expect(ConversationSend.safeParse({ ...send, contentType: 'attachment', attachmentIds: [...ids, randomUUID()] }).success).toBe(false);
    expect(ConversationSend.safeParse({ ...send, contentType: 'attachment', attachmentIds: [ids[0], ids[0]!.toUpperCase()] }).success).toBe(false);
    expect(ConversationSend.safeParse({ ...send, contentType: 'attachment', attachmentIds: ['not-a-uuid'] }).success).toBe(false);
  });

  it('refuses upload ids on a text message, and accepts a text without them', () => {
    expect(ConversationSend.safeParse({ ...send, contentType: 'text' }).success).toBe(true);
    expect(ConversationSend.safeParse({ ...send, contentType: 'text', attachmentIds: [randomUUID()] }).success).toBe(false);
  });

  it('names attachmentIds in the refusal', () => {
    const result = ConversationSend.safeParse({ ...send, contentType: 'attachment' });

    expect(result.success || result.error.issues.map((issue) => issue.path.join('.'))).toEqual(['attachmentIds']);
  });
});

describe('ConversationRequestAttachment and attachment.requested', () => {
  it('asks for a photo or a document in a conversation, nothing else', () => {
    const conversationId = randomUUID();

    expect(ConversationRequestAttachment.safeParse({ conversationId, kind: 'photo' }).success).toBe(true);
    expect(ConversationRequestAttachment.safeParse({ conversationId, kind: 'document' }).success).toBe(true);
    expect(ConversationRequestAttachment.safeParse({ conversationId, kind: 'video' }).success).toBe(false);
    expect(ConversationRequestAttachment.safeParse({ conversationId, kind: 'photo', note: 'your rash' }).success).toBe(false);
  });

  it('records the request as metadata only: the kind and the clinician', () => {
    const event = { event: 'attachment.requested', data: { kind: 'photo', clinicianId: randomUUID() } };

    expect(RecordSystemEvent.safeParse(event).success).toBe(true);
    expect(RecordSystemEvent.safeParse({ ...event, data: { ...event.data, text: 'a photo of the rash' } }).success).toBe(false);
  });
});

it('too_large is an error code', () => {
  expect(ERROR_CODES).toContain('too_large');
});
