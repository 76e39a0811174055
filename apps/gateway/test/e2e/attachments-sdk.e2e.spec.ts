import { randomBytes } from 'node:crypto';
import { CryptoError, ready } from '@parley/crypto';
import type { AttachmentSettings } from '@parley/protocol';
import type { AttachmentDescriptor, PendingSend, UploadProgress } from '@parley/sdk';
import { startTcpProxy, type TcpProxy } from '@parley/testing';
import { startTestApp, type TestApp } from '../app.js';
import { follow, patientChat, staffChat, waitForAssignment, type Chatter } from '../chat.js';
import { activatePatient, apiOk, connectAs, createPracticeWithStaff, type TestPractice } from '../factories.js';
import { waitUntil } from '../wait.js';

const MIB = 1_048_576;

/**
 * Issue #18 through the SDK the apps use (`Conversation.sendAttachments` / `fetchAttachment`) against the real gateway,
 * PostgreSQL and sockets: the patient's device encrypts and uploads, the clinician's downloads, checks and decrypts.
 * The patient connects through a TCP proxy, so a test can drop its connections in the middle of an upload.
 */
describe('attachments through the SDK (in-process gateway, real PostgreSQL, sockets through a TCP proxy)', () => {
  let gateway: TestApp;
  let proxy: TcpProxy;
  let practice: TestPractice;
  let clinician: Chatter;
  const chats: Chatter[] = [];

  const setSettings = (settings: Partial<AttachmentSettings>) =>
    apiOk<AttachmentSettings>(
      gateway.url,
      'PUT',
      '/api/practice/attachment-settings',
      {
        token: practice.manager.token,
        body: {
          patientUploads: 'always',
          acceptedTypes: ['image/jpeg', 'image/png', 'image/webp', 'application/pdf'],
          maxFileBytes: 10 * MIB,
          maxConversationBytes: 50 * MIB,
          maxPatientDailyBytes: 50 * MIB,
          ...settings,
        },
      },
      200,
    );

  /** A new patient (through the proxy) with an open conversation assigned to the clinician, both following it. */
  const newPatient = async () => {
    const account = await activatePatient(gateway.url, practice);
    const chat = await patientChat(proxy.url, practice, account);
    chats.push(chat);
    const conversationId = (await chat.session.openConversation('admin')).id;
    await follow(chat, conversationId);
    await waitForAssignment(chat);
    await follow(clinician, conversationId);
    return { chat, conversationId, conversation: chat.session.conversation(conversationId) };
  };

  const count = async (sql: string, parameters: unknown[]) => Number((await gateway.dataSource.query(sql, parameters))[0].n);
  const uploadsOf = (conversationId: string) => count('SELECT count(*)::int AS n FROM attachment_uploads WHERE conversation_id = $1', [conversationId]);
  const partsOf = (conversationId: string) =>
    count('SELECT count(*)::int AS n FROM attachment_chunks c JOIN attachment_uploads u ON u.id = c.upload_id WHERE u.conversation_id = $1', [conversationId]);
  const attachmentMessagesOf = (conversationId: string) =>
    count(`SELECT count(*)::int AS n FROM record_entries WHERE conversation_id = $1 AND content_type = 'attachment'`, [conversationId]);
  /** The messages with files a device opened in the conversation, in seq order. */
  const receivedBy = (who: Chatter, conversationId: string) =>
    who.session
      .conversation(conversationId)
      .entries.flatMap((entry) => (entry.ok && entry.value.kind === 'message' && entry.value.attachments.length > 0 ? [entry.value] : []));

  beforeAll(async () => {
    await ready();
    gateway = await startTestApp();
    proxy = await startTcpProxy({ target: { host: '127.0.0.1', port: Number(new URL(gateway.url).port) } });
    practice = await createPracticeWithStaff(gateway);
    clinician = await staffChat(gateway.url, practice, practice.clinician);
    const manager = await connectAs(gateway.url, practice.manager);
    await manager.request('capacity:set-clinician', { clinicianId: practice.clinician.userId, maxConcurrent: 50, dailyMax: null });
    manager.close();
    await setSettings({});
  }, 60_000);

  afterAll(async () => {
    for (const chat of [...chats, clinician]) await chat?.session.close();
    await proxy?.close();
    await gateway?.close();
  });

  it('sends a photo with a caption that the clinician downloads, checks and decrypts to the same bytes', async () => {
    const { conversationId, conversation } = await newPatient();
    const photo = randomBytes(2 * 65_536 + 1_234);
    const progress: UploadProgress[] = [];
    const pending: PendingSend[] = [];
    conversation.subscribe((change) => change.kind === 'pending' && pending.push(...conversation.pending));

    const result = await conversation.sendAttachments([{ bytes: photo, type: 'image/jpeg', name: 'rash.jpg', width: 640, height: 480 }], {
      caption: 'The rash this morning',
      onProgress: (step) => progress.push(step),
    });
    await waitUntil(() => receivedBy(clinician, conversationId).length === 1, 'the clinician to open the message');
    const [message] = receivedBy(clinician, conversationId);
    const bytes = await clinician.session.conversation(conversationId).fetchAttachment(message!.attachments[0]!);

    expect(result).toMatchObject({ ok: true, data: { isDuplicate: false } });
    expect(message).toMatchObject({ body: 'The rash this morning', senderRole: 'patient' });
    expect(message!.attachments).toEqual([expect.objectContaining({ type: 'image/jpeg', name: 'rash.jpg', size: photo.length, width: 640, height: 480 })]);
    expect(Buffer.from(bytes).equals(photo)).toBe(true);
    expect(progress.at(-1)).toEqual({ sentBytes: photo.length + 3 * 17, totalBytes: photo.length + 3 * 17 });
    expect(pending.some((item) => item.attachments?.[0]?.name === 'rash.jpg')).toBe(true);
    expect(await attachmentMessagesOf(conversationId)).toBe(1);
    expect(await uploadsOf(conversationId)).toBe(1);
  });

  it('resumes after its connections drop mid-upload, storing each part once and sending the message once', async () => {
    const { conversationId, conversation } = await newPatient();
    const photo = randomBytes(6 * 65_536);
    let cuts = 0;

    const result = await conversation.sendAttachments([{ bytes: photo, type: 'image/png', name: 'wound.png' }], {
      onProgress: ({ sentBytes }) => {
        // Twice: after the first part, and again after the resumed upload's first new part.
        if ((cuts === 0 && sentBytes > 0) || (cuts === 1 && sentBytes > 3 * 65_553)) {
          cuts += 1;
          proxy.cut();
        }
      },
    });
    await waitUntil(() => receivedBy(clinician, conversationId).length === 1, 'the clinician to open the message', 20_000);
    const [message] = receivedBy(clinician, conversationId);

    expect(cuts).toBe(2);
    expect(result).toMatchObject({ ok: true });
    expect(Buffer.from(await clinician.session.conversation(conversationId).fetchAttachment(message!.attachments[0]!)).equals(photo)).toBe(true);
    expect(await uploadsOf(conversationId)).toBe(1);
    expect(await partsOf(conversationId)).toBe(6);
    expect(await attachmentMessagesOf(conversationId)).toBe(1);
  }, 40_000);

  it('refuses an unrequested upload when the practice takes files only when asked, and takes it once the clinician asks', async () => {
    await setSettings({ patientUploads: 'when-asked' });
    try {
      const { conversationId, conversation } = await newPatient();
      const file = { bytes: randomBytes(1_000), type: 'application/pdf' as const, name: 'letter.pdf' };

      const refused = await conversation.sendAttachments([file]);
      const storedAfterRefusal = await uploadsOf(conversationId);
      const asked = await clinician.session.conversation(conversationId).requestAttachment('document');
      await waitUntil(() => conversation.openAttachmentRequest !== null, 'the patient to see the request');
      const request = conversation.openAttachmentRequest;
      const sent = await conversation.sendAttachments([file]);
      await waitUntil(() => conversation.openAttachmentRequest === null, 'the request to be answered');

      expect(refused).toMatchObject({ ok: false, error: { code: 'forbidden', details: { reason: 'not_requested' } } });
      expect(storedAfterRefusal).toBe(0);
      expect(conversation.pending).toEqual([]);
      expect(asked).toMatchObject({ ok: true });
      expect(request).toEqual({ kind: 'document', seq: expect.any(Number) });
      expect(sent).toMatchObject({ ok: true });
    } finally {
      await setSettings({});
    }
  });

  it('comes back with too_large for a file over the practice limit, storing nothing', async () => {
    await setSettings({ maxFileBytes: 65_536 });
    try {
      const { conversationId, conversation } = await newPatient();

      const result = await conversation.sendAttachments([{ bytes: randomBytes(65_537), type: 'image/jpeg', name: 'big.jpg' }]);

      expect(result).toMatchObject({ ok: false, error: { code: 'too_large', details: { limit: 'file', maxBytes: 65_536 } } });
      expect(await uploadsOf(conversationId)).toBe(0);
    } finally {
      await setSettings({});
    }
  });

  it('cancels the upload when the patient aborts, leaving nothing on the server', async () => {
    const { conversationId, conversation } = await newPatient();
    const abort = new AbortController();

    const result = await conversation.sendAttachments([{ bytes: randomBytes(5 * 65_536), type: 'image/jpeg', name: 'x.jpg' }], {
      signal: abort.signal,
      onProgress: () => abort.abort(),
    });

    expect(result).toMatchObject({ ok: false, error: { code: 'aborted' } });
    expect(conversation.pending).toEqual([]);
    await waitUntil(async () => (await uploadsOf(conversationId)) === 0, 'the upload to be cancelled');
    expect(await attachmentMessagesOf(conversationId)).toBe(0);
  });

  it('refuses a blob that is not the one the signed descriptor names (a swapped upload), never returning its bytes', async () => {
    const { conversationId, conversation } = await newPatient();
    await conversation.sendAttachments([{ bytes: randomBytes(3_000), type: 'image/jpeg', name: 'a.jpg' }]);
    await conversation.sendAttachments([{ bytes: randomBytes(3_000), type: 'image/jpeg', name: 'b.jpg' }]);
    await waitUntil(() => receivedBy(clinician, conversationId).length === 2, 'the clinician to open both messages');
    const [first, second] = receivedBy(clinician, conversationId).map((message) => message.attachments[0]!);
    const swapped: AttachmentDescriptor = { ...first!, id: second!.id };

    const outcome = await clinician.session
      .conversation(conversationId)
      .fetchAttachment(swapped)
      .then(
        () => 'decrypted',
        (error: unknown) => (error instanceof CryptoError ? error.code : String(error)),
      );

    expect(outcome).toBe('decrypt_failed');
  });
});
