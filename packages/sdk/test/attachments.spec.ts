import { randomUUID } from 'node:crypto';
import { MemoryFeedCursorStore, MemoryOutboxStore, Outbox, type HttpFailure, type HttpResult } from '@parley/client';
import {
  ATTACHMENT_TYPES as CRYPTO_ATTACHMENT_TYPES,
  CryptoError,
  encryptFile,
  fileCipherBytes,
  MAX_ATTACHMENTS,
  MAX_FILE_BYTES,
  ready,
  ReceiveGuard,
  describeFile,
} from '@parley/crypto';
import {
  ATTACHMENT_PART_BYTES,
  ATTACHMENT_TYPES,
  cipherBytesFor,
  MAX_ATTACHMENT_FILE_BYTES,
  MAX_ATTACHMENTS_PER_MESSAGE,
  type ConversationSend,
  type CreateUploadRequest,
  type UploadCreated,
  type UploadStatus,
} from '@parley/protocol';
import {
  AttachmentDownloadError,
  Conversation,
  downloadAttachment,
  safeAttachmentName,
  uploadEncryptedFile,
  type ConversationContext,
  type UploadApi,
} from '../src/index.js';
import { aPatientConversation, FakeConversationClient, sent } from './fake-conversation-client.js';

const FAST = { backoff: { baseMs: 1, maxMs: 2 } };

/** Polls until the condition holds (the feed runs on promises); fails with `what` after the deadline. */
async function waitFor(condition: () => boolean, what: string, timeoutMs = 3_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}
const network: HttpFailure = { code: 'network', message: 'the gateway could not be reached', status: null };

/**
 * The upload and download routes held in memory, with the gateway's rules that matter to a client (parts by index,
 * idempotent, complete counts what is missing, cancel), every call recorded, and failures a test injects per call.
 * The real routes are tested against the gateway (apps/gateway/test/e2e/attachments*.e2e.spec.ts).
 */
class FakeUploadApi implements UploadApi {
  readonly calls: string[] = [];
  readonly uploads = new Map<string, { request: CreateUploadRequest; parts: Map<number, Uint8Array>; isComplete: boolean }>();
  /** Answers a call with a failure instead (after storing, when `stored` says the answer was lost on the way back). */
  fail: (call: string) => { error: HttpFailure; isStored?: boolean } | undefined = () => undefined;

  async createUpload(request: CreateUploadRequest): Promise<HttpResult<UploadCreated>> {
    return this.answer('create', () => {
      const uploadId = randomUUID();
      this.uploads.set(uploadId, { request, parts: new Map(), isComplete: false });
      return { uploadId, chunkBytes: ATTACHMENT_PART_BYTES, chunkCount: this.countOf(request), expiresAt: new Date(0).toISOString() };
    });
  }

  async putUploadChunk(uploadId: string, index: number, bytes: Uint8Array): Promise<HttpResult<null>> {
    return this.answer(`put ${index}`, () => {
      this.uploads.get(uploadId)!.parts.set(index, bytes.slice());
      return null;
    });
  }

  async uploadStatus(uploadId: string): Promise<HttpResult<UploadStatus>> {
    return this.answer('status', () => this.statusOf(uploadId));
  }

  async completeUpload(uploadId: string): Promise<HttpResult<UploadStatus>> {
    const upload = this.uploads.get(uploadId)!;
    const missing = this.countOf(upload.request) - upload.parts.size;
    if (missing > 0) {
      this.calls.push('complete');
      return { ok: false, error: { code: 'conflict', message: 'parts are missing', status: 409, details: { missing } } };
    }
    return this.answer('complete', () => ((upload.isComplete = true), this.statusOf(uploadId)));
  }

  async cancelUpload(uploadId: string): Promise<HttpResult<null>> {
    return this.answer('cancel', () => (this.uploads.delete(uploadId), null));
  }

  /** The ciphertext stored for an upload, its parts in order. */
  ciphertextOf(uploadId: string): Buffer {
    const parts = this.uploads.get(uploadId)!.parts;
    return Buffer.concat([...parts.keys()].sort((a, b) => a - b).map((index) => parts.get(index)!));
  }

  private countOf(request: CreateUploadRequest): number {
    return Math.ceil(request.cipherBytes / ATTACHMENT_PART_BYTES);
  }

  private statusOf(uploadId: string): UploadStatus {
    const upload = this.uploads.get(uploadId)!;
    return {
      uploadId,
      conversationId: upload.request.conversationId,
      contentType: upload.request.contentType,
      cipherBytes: upload.request.cipherBytes,
      chunkCount: this.countOf(upload.request),
      receivedChunks: [...upload.parts.keys()].sort((a, b) => a - b),
      isComplete: upload.isComplete,
      isReferenced: false,
    };
  }

  private answer<T>(call: string, act: () => T): HttpResult<T> {
    this.calls.push(call);
    const failure = this.fail(call);
    if (failure?.isStored) act();
    if (failure) return { ok: false, error: failure.error };
    return { ok: true, data: act() };
  }
}

await ready();

describe(uploadEncryptedFile.name, () => {
  const conversationId = randomUUID();
  const file = encryptFile(new Uint8Array(3 * 65_536 + 100).fill(7));
  const input = { conversationId, type: 'image/jpeg' as const, ciphertext: file.ciphertext };
  let api: FakeUploadApi;

  beforeEach(() => {
    api = new FakeUploadApi();
  });

  it('announces the ciphertext, sends each part once and completes it', async () => {
    const progress: number[] = [];

    const result = await uploadEncryptedFile(api, input, { ...FAST, onProgress: (sent) => progress.push(sent) });

    expect(result).toEqual({ ok: true, uploadId: expect.any(String) });
    const uploadId = (result as { uploadId: string }).uploadId;
    expect(api.uploads.get(uploadId)!.request).toEqual({ conversationId, contentType: 'image/jpeg', cipherBytes: file.ciphertext.length });
    expect(api.ciphertextOf(uploadId).equals(file.ciphertext)).toBe(true);
    expect(api.calls.filter((call) => call.startsWith('put')).sort()).toEqual(['put 0', 'put 1', 'put 2', 'put 3']);
    expect(api.calls.at(-1)).toBe('complete');
    expect(progress.at(-1)).toBe(file.ciphertext.length);
    expect(Math.max(...progress)).toBe(file.ciphertext.length);
  });

  it('after a dropped connection asks what the server holds and sends only the rest, once each', async () => {
    // Until the client asks for the status: part 1's answer is lost after the server stored it, part 2 never arrives.
    api.fail = (call) => {
      if (api.calls.includes('status')) return undefined;
      if (call === 'put 1') return { error: network, isStored: true };
      return call === 'put 2' ? { error: network } : undefined;
    };

    const result = await uploadEncryptedFile(api, input, FAST);

    expect(result).toMatchObject({ ok: true });
    const puts = api.calls.filter((call) => call.startsWith('put'));
    expect(puts.filter((call) => call === 'put 1')).toHaveLength(1);
    expect(puts.filter((call) => call === 'put 2')).toHaveLength(2);
    expect(api.calls).toContain('status');
    expect(api.ciphertextOf((result as { uploadId: string }).uploadId).equals(file.ciphertext)).toBe(true);
  });

  it('sends again the parts the server says are missing when it completes', async () => {
    // The server answers part 3 as stored the first time but loses it: only the completion tells.
    const put = api.putUploadChunk.bind(api);
    let isLost = false;
    api.putUploadChunk = async (uploadId, index, bytes) => {
      if (index !== 3 || isLost) return put(uploadId, index, bytes);
      isLost = true;
      api.calls.push('put 3');
      return { ok: true, data: null };
    };

    const result = await uploadEncryptedFile(api, input, FAST);

    expect(result).toMatchObject({ ok: true });
    expect(api.calls.filter((call) => call === 'complete')).toHaveLength(2);
    expect(api.calls.filter((call) => call === 'put 3')).toHaveLength(2);
  });

  it('waits out rate_limited and an internal error, then goes on', async () => {
    const failures = new Map<string, HttpFailure>([
      ['create', { code: 'rate_limited', message: 'slow down', status: 429, details: { retryAfterSeconds: 0 } }],
      ['put 0', { code: 'internal', message: 'oops', status: 500 }],
    ]);
    api.fail = (call) => {
      const error = failures.get(call);
      failures.delete(call);
      return error ? { error } : undefined;
    };

    const result = await uploadEncryptedFile(api, input, FAST);

    expect(result).toMatchObject({ ok: true });
    expect(api.calls.filter((call) => call === 'create')).toHaveLength(2);
  });

  it.each<[string, HttpFailure]>([
    ['too_large', { code: 'too_large', message: 'over the cap', status: 413, details: { limit: 'conversation', maxBytes: 65_536 } }],
    ['forbidden', { code: 'forbidden', message: 'not requested', status: 403, details: { reason: 'not_requested' } }],
  ])('returns a refusal of the upload (%s) at once, sending nothing', async (_code, error) => {
    api.fail = (call) => (call === 'create' ? { error } : undefined);

    const result = await uploadEncryptedFile(api, input, FAST);

    expect(result).toEqual({ ok: false, error });
    expect(api.calls).toEqual(['create']);
  });

  it('cancels the upload when a part is refused for good', async () => {
    const refusal: HttpFailure = { code: 'invalid_payload', message: 'wrong length', status: 400 };
    api.fail = (call) => (call === 'put 2' ? { error: refusal } : undefined);

    const result = await uploadEncryptedFile(api, input, FAST);

    expect(result).toEqual({ ok: false, error: refusal });
    expect(api.calls).toContain('cancel');
    expect(api.uploads.size).toBe(0);
  });

  it('gives up after maxFailures failures in a row without progress, and cancels', async () => {
    api.fail = (call) => (call.startsWith('put') || call === 'status' ? { error: network } : undefined);

    const result = await uploadEncryptedFile(api, input, { ...FAST, maxFailures: 3 });

    expect(result).toEqual({ ok: false, error: network });
    expect(api.calls.filter((call) => call === 'status')).toHaveLength(3);
    expect(api.calls.at(-1)).toBe('cancel');
  });

  it('stops and cancels when aborted', async () => {
    const abort = new AbortController();

    const result = await uploadEncryptedFile(api, input, { ...FAST, signal: abort.signal, onProgress: () => abort.abort() });

    expect(result).toMatchObject({ ok: false, error: { code: 'aborted' } });
    expect(api.uploads.size).toBe(0);
    expect(api.calls.filter((call) => call.startsWith('put')).length).toBeLessThan(4);
  });
});

describe(downloadAttachment.name, () => {
  const plaintext = new Uint8Array(70_000).fill(3);
  const file = encryptFile(plaintext);
  const descriptor = describeFile(file, { id: randomUUID(), type: 'application/pdf', name: 'letter.pdf' });
  const serving = (result: HttpResult<Uint8Array>) => ({ downloadAttachment: async () => result });

  it('checks and decrypts the blob the descriptor names', async () => {
    await expect(downloadAttachment(serving({ ok: true, data: file.ciphertext }), descriptor)).resolves.toEqual(plaintext);
  });

  it('refuses another blob or a truncated one as decrypt_failed', async () => {
    const other = encryptFile(plaintext).ciphertext;

    for (const blob of [other, file.ciphertext.subarray(0, 65_553)]) {
      const outcome = await downloadAttachment(serving({ ok: true, data: blob }), descriptor).catch((error: unknown) => error);
      expect(outcome).toBeInstanceOf(CryptoError);
      expect((outcome as CryptoError).code).toBe('decrypt_failed');
    }
  });

  it('throws the server’s refusal as an AttachmentDownloadError with its code', async () => {
    const outcome = await downloadAttachment(serving({ ok: false, error: { code: 'not_found', message: 'no', status: 404 } }), descriptor).catch(
      (error: unknown) => error,
    );

    expect(outcome).toBeInstanceOf(AttachmentDownloadError);
    expect((outcome as AttachmentDownloadError).code).toBe('not_found');
  });
});

describe(safeAttachmentName.name, () => {
  it.each([
    ['IMG_0001.JPG', 'IMG_0001.JPG'],
    ['../../etc/passwd', '.._.._etc_passwd'],
    ['photo\u202Egpj.exe', 'photo_gpj.exe'],
    ['tab\there', 'tab_here'],
    ['   ', 'photo'],
    ['', 'photo'],
    [`${'a'.repeat(200)}.jpeg`, `${'a'.repeat(115)}.jpeg`],
    [`${'📷'.repeat(130)}`, '📷'.repeat(120)],
  ])('makes %p into %p', (name, expected) => {
    expect(safeAttachmentName(name, 'photo')).toBe(expected);
  });
});

it('the crypto package and the protocol agree on the file format’s numbers and types', () => {
  for (const size of [1, 65_535, 65_536, 65_537, 1_048_576, MAX_FILE_BYTES]) expect(fileCipherBytes(size)).toBe(cipherBytesFor(size));
  expect([...CRYPTO_ATTACHMENT_TYPES]).toEqual([...ATTACHMENT_TYPES]);
  expect(MAX_FILE_BYTES).toBe(MAX_ATTACHMENT_FILE_BYTES);
  expect(MAX_ATTACHMENTS).toBe(MAX_ATTACHMENTS_PER_MESSAGE);
});

describe('Conversation attachments', () => {
  let world: ReturnType<typeof aPatientConversation>;
  let client: FakeConversationClient;
  let outbox: Outbox;
  let api: FakeUploadApi;
  let sut: Conversation;

  beforeEach(async () => {
    world = aPatientConversation();
    client = new FakeConversationClient();
    client.handlers.set('conversation:join', () => ({ ok: true, data: world.joined([world.patientDevice, world.clinician], client.record) }));
    outbox = new Outbox({ client: client.asClient, store: new MemoryOutboxStore() });
    await outbox.start();
    api = new FakeUploadApi();
    const context: ConversationContext = {
      client: client.asClient,
      outbox,
      api: { ...bound(api), downloadAttachment: async (id: string) => ({ ok: true, data: new Uint8Array(api.ciphertextOf(id)) }) },
      signedIn: world.signedIn,
      pinnedRoot: world.pinnedRoot,
      epochKeys: world.epochKeys,
      cursorStore: new MemoryFeedCursorStore(),
      guard: new ReceiveGuard(),
    };
    sut = new Conversation(context, world.conversationId, world.summary);
    await sut.open();
  });

  afterEach(async () => {
    sut.stop();
    await outbox.stop();
  });

  /** Stores each send in the record as the gateway would (the sender's columns beside the payload) and relays it. */
  const recordSends = () =>
    client.handlers.set('conversation:send', (payload) => {
      const send = payload as unknown as ConversationSend;
      const seq = client.record.length + 1;
      const entry = world.message(seq, world.patientDevice, 'placeholder');
      const { attachmentIds: _ids, ...columns } = send;
      client.relay({
        ...entry,
        message: { ...entry.message!, ...columns, senderUserId: world.summary.patientId, senderDeviceId: world.patientDevice.member.id, senderRole: 'patient' },
      });
      return sent(seq);
    });
  const photo = (size = 100_000) => ({ bytes: new Uint8Array(size).fill(9), type: 'image/jpeg' as const, name: 'rash.jpg', width: 640, height: 480 });

  it('uploads the files, then sends one attachment message naming them, which reads back with its caption and files', async () => {
    recordSends();
    const pdf = { bytes: new Uint8Array(2_000).fill(1), type: 'application/pdf' as const, name: 'letter.pdf', width: 10, height: 10 };

    const result = await sut.sendAttachments([photo(), pdf], { caption: 'Both here' });
    await waitFor(() => sut.entries.length === 1, 'the record copy');

    expect(result).toMatchObject({ ok: true });
    const [send] = client.requestsOf('conversation:send') as unknown as ConversationSend[];
    expect(send).toMatchObject({ contentType: 'attachment', attachmentIds: [...api.uploads.keys()] });
    const entry = sut.entries.at(-1)!;
    expect(entry).toMatchObject({ ok: true, value: { kind: 'message', body: 'Both here', isMine: true } });
    const attachments = entry.ok && entry.value.kind === 'message' ? entry.value.attachments : [];
    expect(attachments.map(({ id, type, name, size, width, height }) => ({ id, type, name, size, width, height }))).toEqual([
      { id: send!.attachmentIds![0], type: 'image/jpeg', name: 'rash.jpg', size: 100_000, width: 640, height: 480 },
      // A PDF carries no dimensions, whatever the app passed.
      { id: send!.attachmentIds![1], type: 'application/pdf', name: 'letter.pdf', size: 2_000, width: undefined, height: undefined },
    ]);
    await expect(sut.fetchAttachment(attachments[0]!)).resolves.toEqual(photo().bytes);
    expect(sut.pending).toEqual([]);
  });

  it('shows the send as pending with its files and progress until the record hands it back', async () => {
    const seen: { names: string[]; sentBytes: number; totalBytes: number }[] = [];
    sut.subscribe((change) => {
      const item = sut.pending[0];
      if (change.kind === 'pending' && item?.progress) seen.push({ names: item.attachments!.map((file) => file.name), ...item.progress });
    });
    recordSends();

    await sut.sendAttachments([photo(200_000)]);

    const total = cipherBytesFor(200_000);
    expect(seen[0]).toEqual({ names: ['rash.jpg'], sentBytes: 0, totalBytes: total });
    expect(seen.at(-1)).toMatchObject({ sentBytes: total, totalBytes: total });
  });

  it('comes back with the message’s refusal, cancelling the uploads it made', async () => {
    client.handlers.set('conversation:send', () => ({ ok: false, error: { code: 'conflict', message: 'claimed by another message' } }));

    const result = await sut.sendAttachments([photo()]);

    expect(result).toMatchObject({ ok: false, error: { code: 'conflict' } });
    expect(api.uploads.size).toBe(0);
    expect(sut.pending).toEqual([]);
  });

  it('refuses no file, five files and a file above MAX_FILE_BYTES before uploading anything', async () => {
    const five = Array.from({ length: 5 }, () => photo(10));

    await expect(sut.sendAttachments([])).resolves.toMatchObject({ ok: false, error: { code: 'invalid_payload' } });
    await expect(sut.sendAttachments(five)).resolves.toMatchObject({ ok: false, error: { code: 'invalid_payload' } });
    await expect(sut.sendAttachments([{ ...photo(10), bytes: new Uint8Array(MAX_FILE_BYTES + 1) }])).resolves.toMatchObject({
      ok: false,
      error: { code: 'too_large', details: { limit: 'file', maxBytes: MAX_FILE_BYTES } },
    });
    expect(api.calls).toEqual([]);
  });

  it('knows the open request for a file: the newest one the patient has not answered with files', async () => {
    const doctor = world.clinician.member.userId;
    client.relay(world.system(1, 'attachment.requested', { kind: 'photo', clinicianId: doctor }));
    await waitFor(() => sut.entries.length === 1, 'the request');
    const afterRequest = sut.openAttachmentRequest;
    client.relay(world.message(2, world.clinician, 'A clear photo in daylight, please'));
    await waitFor(() => sut.entries.length === 2, 'the clinician’s text');
    const afterClinicianText = sut.openAttachmentRequest;
    recordSends();
    await sut.sendAttachments([photo()]);
    await waitFor(() => sut.entries.length === 3, 'the patient’s photo');

    expect(afterRequest).toEqual({ kind: 'photo', seq: 1 });
    expect(afterClinicianText).toEqual({ kind: 'photo', seq: 1 });
    expect(sut.openAttachmentRequest).toBeNull();
  });

  it('asks for a photo with conversation:request-attachment', async () => {
    client.handlers.set('conversation:request-attachment', () => ({ ok: true, data: { seq: 7 } }));

    const result = await sut.requestAttachment('photo');

    expect(result).toEqual({ ok: true, data: { seq: 7 } });
    expect(client.requestsOf('conversation:request-attachment')).toEqual([{ conversationId: world.conversationId, kind: 'photo' }]);
  });
});

/** The fake's methods bound to it, as a plain object (the context takes the routes, not the class). */
function bound(api: FakeUploadApi): UploadApi {
  return {
    createUpload: api.createUpload.bind(api),
    putUploadChunk: (...args) => api.putUploadChunk(...args),
    uploadStatus: api.uploadStatus.bind(api),
    completeUpload: api.completeUpload.bind(api),
    cancelUpload: api.cancelUpload.bind(api),
  };
}
