import { randomBytes, randomInt, randomUUID } from 'node:crypto';
import { ready } from '@parley/crypto';
import type { AttachmentSettings, AttachmentType, ErrorBody, UploadCreated, UploadStatus } from '@parley/protocol';
import { AttachmentsService } from '../../src/attachments/attachments.service.js';
import { FakeClock } from '../../src/common/clock.js';
import { startTestApp, type TestApp } from '../app.js';
import { patientChat, staffChat, waitForAssignment, follow, type Chatter } from '../chat.js';
import { activatePatient, api, apiOk, connectAs, createPracticeWithStaff, type TestPractice } from '../factories.js';

/** One secretstream chunk of ciphertext: the size of every upload part but the last. */
const PART = 65_553;
const MIB = 1_048_576;
const TTL_MS = 60_000;
/** Upload starts one user may make per minute in this suite (the flood test goes past it). */
const STARTS_PER_MINUTE = 6;

type Refusal = { error: ErrorBody };

/**
 * Issue #18: the upload and download routes, the claim by `conversation:send`, the request command, the sweep, driven
 * over raw HTTP and sockets (the SDK's round trip over the same routes is attachments-sdk.e2e.spec.ts).
 */
describe('attachments (in-process gateway, real PostgreSQL and sockets)', () => {
  const clock = new FakeClock();
  let gateway: TestApp;
  let practice: TestPractice;
  let otherPractice: TestPractice;
  let clinician: Chatter;
  const chats: Chatter[] = [];

  /** A new patient with an open conversation assigned to the clinician. */
  const newPatient = async (target: TestPractice = practice) => {
    const account = await activatePatient(gateway.url, target);
    const chat = await patientChat(gateway.url, target, account);
    chats.push(chat);
    const conversationId = (await chat.session.openConversation('admin')).id;
    await follow(chat, conversationId);
    if (target === practice) await waitForAssignment(chat);
    return { chat, conversationId, userId: account.userId, deviceId: account.deviceId, token: account.token };
  };
  type Patient = Awaited<ReturnType<typeof newPatient>>;

  const setSettings = (settings: Partial<AttachmentSettings>, target: TestPractice = practice) =>
    apiOk<AttachmentSettings>(
      gateway.url,
      'PUT',
      '/api/practice/attachment-settings',
      {
        token: target.manager.token,
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
  const create = (token: string, conversationId: string, cipherBytes: number, contentType: AttachmentType = 'image/jpeg') =>
    api<UploadCreated & Refusal>(gateway.url, 'POST', '/api/attachments/uploads', { token, body: { conversationId, contentType, cipherBytes } });
  const putPart = (token: string, uploadId: string, index: number, bytes: Uint8Array, contentType = 'application/octet-stream') =>
    api<Refusal>(gateway.url, 'PUT', `/api/attachments/uploads/${uploadId}/chunks/${index}`, {
      token,
      rawBody: bytes,
      headers: { 'content-type': contentType },
    });
  const statusOf = (token: string, uploadId: string) => api<UploadStatus & Refusal>(gateway.url, 'GET', `/api/attachments/uploads/${uploadId}`, { token });
  const complete = (token: string, uploadId: string) =>
    api<UploadStatus & Refusal>(gateway.url, 'POST', `/api/attachments/uploads/${uploadId}/complete`, { token });
  const download = (token: string, uploadId: string) => api<Refusal>(gateway.url, 'GET', `/api/attachments/${uploadId}`, { token });
  const partsOf = (ciphertext: Buffer) => Array.from({ length: Math.ceil(ciphertext.length / PART) }, (_, i) => ciphertext.subarray(i * PART, (i + 1) * PART));

  /** Creates, uploads every part of and completes `ciphertext`; returns the upload id. */
  const upload = async (who: Pick<Patient, 'token' | 'conversationId'>, ciphertext: Buffer, contentType: AttachmentType = 'image/jpeg') => {
    const created = await create(who.token, who.conversationId, ciphertext.length, contentType);
    expect(created.status).toBe(201);
    for (const [index, part] of partsOf(ciphertext).entries()) expect((await putPart(who.token, created.body.uploadId, index, part)).status).toBe(204);
    expect((await complete(who.token, created.body.uploadId)).status).toBe(200);
    return created.body.uploadId;
  };
  /** `conversation:send` of an attachment message as the patient's own socket would send it (the gateway never reads the ciphertext). */
  const sendWith = (
    who: { chat: Chatter; conversationId: string },
    attachmentIds: string[],
    // Far above the sequence numbers the SDK uses on the same device.
    message = { clientMessageId: randomUUID(), senderDeviceSeq: 1_000_000 + randomInt(1_000_000), ciphertext: randomBytes(400).toString('base64') },
  ) =>
    who.chat.session.client.request('conversation:send', {
      conversationId: who.conversationId,
      epoch: 1,
      contentType: 'attachment',
      attachmentIds,
      nonce: Buffer.alloc(24, 7).toString('base64'),
      ...message,
    });
  const count = async (table: 'attachment_uploads' | 'attachment_chunks' | 'record_entries', where = 'true', parameters: unknown[] = []) =>
    Number((await gateway.dataSource.query(`SELECT count(*)::int AS n FROM ${table} WHERE ${where}`, parameters))[0].n);
  const uploadsOf = (patient: Patient) => count('attachment_uploads', 'conversation_id = $1', [patient.conversationId]);

  beforeAll(async () => {
    await ready();
    gateway = await startTestApp({ ATTACHMENT_UNREFERENCED_TTL_MS: String(TTL_MS), ATTACHMENT_UPLOADS_PER_MINUTE: String(STARTS_PER_MINUTE) }, clock);
    practice = await createPracticeWithStaff(gateway);
    otherPractice = await createPracticeWithStaff(gateway);
    clinician = await staffChat(gateway.url, practice, practice.clinician);
    // Every conversation here goes to the one clinician: lift their cap (capacity is tested elsewhere).
    const manager = await connectAs(gateway.url, practice.manager);
    await manager.request('capacity:set-clinician', { clinicianId: practice.clinician.userId, maxConcurrent: 50, dailyMax: null });
    manager.close();
    await setSettings({});
  }, 60_000);

  afterAll(async () => {
    for (const chat of [...chats, clinician]) await chat?.session.close();
    await gateway?.close();
  });

  it('takes an upload in parts, lets the message claim it, and serves the ciphertext to the clinician with safe headers', async () => {
    const patient = await newPatient();
    const ciphertext = randomBytes(2 * PART + 1_000);

    const uploadId = await upload(patient, ciphertext);
    const beforeSend = await statusOf(patient.token, uploadId);
    const sent = await sendWith(patient, [uploadId]);
    const afterSend = await statusOf(patient.token, uploadId);
    const fetched = await download(practice.clinician.token, uploadId);
    const audited = await gateway.dataSource.query(
      `SELECT data FROM audit_events WHERE action = 'conversation.read' AND conversation_id = $1 AND data->>'via' = 'attachment'`,
      [patient.conversationId],
    );

    expect(beforeSend.body).toEqual({
      uploadId,
      conversationId: patient.conversationId,
      contentType: 'image/jpeg',
      cipherBytes: ciphertext.length,
      chunkCount: 3,
      receivedChunks: [0, 1, 2],
      isComplete: true,
      isReferenced: false,
    });
    expect(sent).toMatchObject({ ok: true, data: { isDuplicate: false } });
    expect(afterSend.body.isReferenced).toBe(true);
    expect(fetched.status).toBe(200);
    expect(fetched.raw.equals(ciphertext)).toBe(true);
    expect(fetched.headers.get('cache-control')).toBe('no-store');
    expect(fetched.headers.get('x-content-type-options')).toBe('nosniff');
    expect(fetched.headers.get('content-type')).toBe('application/octet-stream');
    expect(fetched.headers.get('content-disposition')).toBe(`attachment; filename="${uploadId}.bin"`);
    expect(fetched.headers.get('content-length')).toBe(String(ciphertext.length));
    expect(audited).toEqual([{ data: { via: 'attachment', uploadId } }]);
  });

  it('resumes after a failed part: the same bytes again are fine, other bytes are a conflict, and complete counts what is missing', async () => {
    const patient = await newPatient();
    const ciphertext = randomBytes(PART + 500);
    const created = await create(patient.token, patient.conversationId, ciphertext.length);
    const [first, last] = partsOf(ciphertext);

    await putPart(patient.token, created.body.uploadId, 0, first!);
    const early = await complete(patient.token, created.body.uploadId);
    const resumeFrom = await statusOf(patient.token, created.body.uploadId);
    const again = await putPart(patient.token, created.body.uploadId, 0, first!);
    const other = await putPart(patient.token, created.body.uploadId, 0, randomBytes(PART));
    await putPart(patient.token, created.body.uploadId, 1, last!);
    const done = await complete(patient.token, created.body.uploadId);
    const twice = await complete(patient.token, created.body.uploadId);
    const afterComplete = await putPart(patient.token, created.body.uploadId, 1, last!);
    const ownCopy = await download(patient.token, created.body.uploadId);
    const clinicianCopy = await download(practice.clinician.token, created.body.uploadId);

    expect(created.body).toMatchObject({ chunkBytes: PART, chunkCount: 2 });
    expect(Date.parse(created.body.expiresAt) - clock.now().getTime()).toBe(TTL_MS);
    expect(early.status).toBe(409);
    expect(early.body.error).toMatchObject({ code: 'conflict', details: { missing: 1 } });
    expect(resumeFrom.body).toMatchObject({ receivedChunks: [0], isComplete: false });
    expect(again.status).toBe(204);
    expect(other.body.error.code).toBe('conflict');
    expect(done.body).toMatchObject({ isComplete: true, receivedChunks: [0, 1] });
    expect(twice.status).toBe(200);
    expect(afterComplete.body.error.code).toBe('conflict');
    // The uploader may read its own upload before any message references it; nobody else may.
    expect(ownCopy.raw.equals(ciphertext)).toBe(true);
    expect(clinicianCopy.body.error.code).toBe('not_found');
  });

  it('refuses malformed parts (wrong length, index out of range, too long, not octet-stream) and stores none of them', async () => {
    const patient = await newPatient();
    const created = await create(patient.token, patient.conversationId, PART + 100);
    const id = created.body.uploadId;

    const answers = [
      await putPart(patient.token, id, 0, randomBytes(PART - 1)),
      await putPart(patient.token, id, 1, randomBytes(99)),
      await putPart(patient.token, id, 2, randomBytes(100)),
      await putPart(patient.token, id, 0, randomBytes(PART + 1)),
      await putPart(patient.token, id, 1, randomBytes(100), 'application/json'),
      await api<Refusal>(gateway.url, 'PUT', `/api/attachments/uploads/${id}/chunks/-1`, { token: patient.token, rawBody: randomBytes(100) }),
      await api<Refusal>(gateway.url, 'PUT', `/api/attachments/uploads/${id}/chunks/01`, { token: patient.token, rawBody: randomBytes(100) }),
    ];

    expect(answers.map((answer) => [answer.status, answer.body?.error.code])).toEqual(Array(7).fill([400, 'invalid_payload']));
    expect(await count('attachment_chunks', 'upload_id = $1', [id])).toBe(0);
  });

  it('refuses a type the practice does not accept, and files over the file, conversation and daily caps, storing nothing', async () => {
    await setSettings({ acceptedTypes: ['image/jpeg'], maxFileBytes: 2 * MIB, maxConversationBytes: 3 * MIB, maxPatientDailyBytes: 4 * MIB });
    const patient = await newPatient();
    const cipherOf = (plain: number) => plain + 17 * Math.max(1, Math.ceil(plain / 65_536));

    const wrongType = await create(patient.token, patient.conversationId, 1_000, 'application/pdf');
    const overFile = await create(patient.token, patient.conversationId, cipherOf(2 * MIB + 1));
    const atFile = await create(patient.token, patient.conversationId, cipherOf(2 * MIB));
    const overConversation = await create(patient.token, patient.conversationId, cipherOf(MIB + 1));
    const uploadsBefore = await uploadsOf(patient);
    await setSettings({});
    await apiOk(
      gateway.url,
      'POST',
      '/api/attachments/uploads',
      { token: patient.token, body: { conversationId: patient.conversationId, contentType: 'image/png', cipherBytes: 1_000 } },
      201,
    );
    await setSettings({ maxPatientDailyBytes: 2 * MIB + MIB / 2 });
    const overDaily = await create(patient.token, patient.conversationId, cipherOf(MIB / 2));
    await setSettings({});

    expect(wrongType.status).toBe(400);
    expect(wrongType.body.error).toMatchObject({ code: 'invalid_payload', details: { reason: 'type_not_accepted' } });
    expect(overFile.status).toBe(413);
    expect(overFile.body.error).toMatchObject({ code: 'too_large', details: { limit: 'file', maxBytes: 2 * MIB } });
    expect(atFile.status).toBe(201);
    expect(overConversation.body.error).toMatchObject({ code: 'too_large', details: { limit: 'conversation', maxBytes: 3 * MIB } });
    expect(uploadsBefore).toBe(1);
    expect(overDaily.body.error).toMatchObject({ code: 'too_large', details: { limit: 'daily', maxBytes: 2 * MIB + MIB / 2 } });
    expect(await uploadsOf(patient)).toBe(2);
  });

  it('lets parallel upload starts no further than the conversation cap', async () => {
    await setSettings({ maxConversationBytes: 3 * MIB });
    const patient = await newPatient();
    const oneMib = MIB + 17 * 16;

    const answers = await Promise.all(Array.from({ length: 5 }, () => create(patient.token, patient.conversationId, oneMib)));
    await setSettings({});

    expect(answers.map((answer) => answer.status).sort()).toEqual([201, 201, 201, 413, 413]);
    expect(await uploadsOf(patient)).toBe(3);
  });

  it("follows the practice's rule for patients: only with an open request when asked, never when never, and staff are not held to it", async () => {
    await setSettings({ patientUploads: 'when-asked' });
    const patient = await newPatient();

    const unasked = await create(patient.token, patient.conversationId, 1_000);
    const byPatient = await patient.chat.session.client.request('conversation:request-attachment', { conversationId: patient.conversationId, kind: 'photo' });
    const requested = await clinician.session.client.request('conversation:request-attachment', { conversationId: patient.conversationId, kind: 'photo' });
    const stored = await gateway.dataSource.query(
      `SELECT system_data FROM record_entries WHERE conversation_id = $1 AND system_event = 'attachment.requested'`,
      [patient.conversationId],
    );
    const asked = await upload(patient, randomBytes(1_000));
    expect(await sendWith(patient, [asked])).toMatchObject({ ok: true });
    // The request is answered: the next upload waits for another one.
    const afterAnswer = await create(patient.token, patient.conversationId, 1_000);
    await setSettings({ patientUploads: 'never' });
    const never = await create(patient.token, patient.conversationId, 1_000);
    const byClinician = await create(practice.clinician.token, patient.conversationId, 1_000);
    await setSettings({});

    expect(unasked.status).toBe(403);
    expect(unasked.body.error).toMatchObject({ code: 'forbidden', details: { reason: 'not_requested' } });
    expect(byPatient).toMatchObject({ ok: false, error: { code: 'forbidden' } });
    expect(requested).toMatchObject({ ok: true, data: { seq: expect.any(Number) } });
    expect(stored).toEqual([{ system_data: { kind: 'photo', clinicianId: practice.clinician.userId } }]);
    expect(afterAnswer.body.error).toMatchObject({ code: 'forbidden', details: { reason: 'not_requested' } });
    expect(never.body.error).toMatchObject({ code: 'forbidden', details: { reason: 'not_accepted' } });
    expect(byClinician.status).toBe(201);
    expect(await uploadsOf(patient)).toBe(2);
  });

  it('refuses a flood of upload starts with rate_limited and a time to wait, storing nothing more', async () => {
    const patient = await newPatient();

    const answers = [];
    for (let i = 0; i < STARTS_PER_MINUTE + 2; i += 1) answers.push(await create(patient.token, patient.conversationId, 1_000));

    const refused = answers.filter((answer) => answer.status === 429);
    expect(answers.filter((answer) => answer.status === 201)).toHaveLength(STARTS_PER_MINUTE);
    expect(refused).toHaveLength(2);
    expect(refused[0]!.body.error).toMatchObject({ code: 'rate_limited', details: { retryAfterSeconds: expect.any(Number) } });
    expect(await uploadsOf(patient)).toBe(STARTS_PER_MINUTE);
  });

  it('keeps uploads to their conversation and uploader: other patients, other practices and bad credentials get nothing', async () => {
    const patient = await newPatient();
    const stranger = await newPatient();
    const foreign = await newPatient(otherPractice);
    const uploadId = await upload(patient, randomBytes(3_000));
    await sendWith(patient, [uploadId]);
    const storedBefore = await count('attachment_uploads');

    const intoOthers = await create(stranger.token, patient.conversationId, 1_000);
    const fromOtherPractice = await create(foreign.token, patient.conversationId, 1_000);
    const reads = await Promise.all([
      download(stranger.token, uploadId),
      download(foreign.token, uploadId),
      download(otherPractice.manager.token, uploadId),
      statusOf(stranger.token, uploadId),
      statusOf(practice.clinician.token, uploadId),
      statusOf(foreign.token, uploadId),
      complete(stranger.token, uploadId),
      putPart(stranger.token, uploadId, 0, randomBytes(3_000)),
      api<Refusal>(gateway.url, 'DELETE', `/api/attachments/uploads/${uploadId}`, { token: practice.clinician.token }),
      download(patient.token, randomUUID()),
    ]);
    const unsigned = await Promise.all([
      download('', uploadId),
      download('forged.token.value', uploadId),
      create(`${patient.token.slice(0, -4)}AAAA`, patient.conversationId, 1_000),
    ]);
    const malformedId = await download(patient.token, 'not-a-uuid');
    const unknownField = await api<Refusal>(gateway.url, 'POST', '/api/attachments/uploads', {
      token: patient.token,
      body: { conversationId: patient.conversationId, contentType: 'image/jpeg', cipherBytes: 1_000, name: 'photo.jpg' },
    });
    const tooSmall = await create(patient.token, patient.conversationId, 16);
    // A last part shorter than a chunk's overhead: no ciphertext has that size.
    const noSuchSize = await create(patient.token, patient.conversationId, PART + 16);

    expect([intoOthers, fromOtherPractice].map((answer) => answer.body.error.code)).toEqual(['not_found', 'not_found']);
    expect(reads.map((answer) => answer.body.error.code)).toEqual(Array(10).fill('not_found'));
    expect(unsigned.map((answer) => answer.status)).toEqual([401, 401, 401]);
    expect([malformedId, unknownField, tooSmall, noSuchSize].map((answer) => answer.body.error.code)).toEqual(Array(4).fill('invalid_payload'));
    expect(await count('attachment_uploads')).toBe(storedBefore);
    // A member reads it once a message references it: the patient, the assigned clinician, any staff of the practice.
    expect((await download(practice.manager.token, uploadId)).status).toBe(200);
  });

  it("refuses a revoked device's session every route", async () => {
    const patient = await newPatient();
    const uploadId = (await create(patient.token, patient.conversationId, 1_000)).body.uploadId;
    await apiOk(gateway.url, 'POST', `/api/devices/${patient.deviceId}/revoke`, { token: patient.token }, 204);

    const answers = [
      await create(patient.token, patient.conversationId, 1_000),
      await putPart(patient.token, uploadId, 0, randomBytes(1_000)),
      await statusOf(patient.token, uploadId),
      await download(patient.token, uploadId),
    ];

    expect(answers.map((answer) => answer.status)).toEqual([401, 401, 401, 401]);
    expect(await count('attachment_chunks', 'upload_id = $1', [uploadId])).toBe(0);
  });

  it('lets a message claim only complete uploads of its own device and conversation, once; a retry of the same message is fine', async () => {
    const patient = await newPatient();
    const other = await newPatient();
    const complete1 = await upload(patient, randomBytes(1_000));
    const incomplete = (await create(patient.token, patient.conversationId, 1_000)).body.uploadId;
    const othersUpload = await upload(other, randomBytes(1_000));
    const recordBefore = await count('record_entries', 'conversation_id = $1', [patient.conversationId]);

    const answers = [await sendWith(patient, [othersUpload]), await sendWith(patient, [randomUUID()]), await sendWith(patient, [complete1, incomplete])];
    const afterRefusals = await count('record_entries', 'conversation_id = $1', [patient.conversationId]);
    const [claimedBy] = await gateway.dataSource.query(`SELECT client_message_id FROM attachment_uploads WHERE id = $1`, [complete1]);
    const message = { clientMessageId: randomUUID(), senderDeviceSeq: 2_500_000, ciphertext: randomBytes(400).toString('base64') };
    const first = await sendWith(patient, [complete1], message);
    const retry = await sendWith(patient, [complete1], message);
    const stolen = await sendWith(patient, [complete1]);
    const textWithFiles = await patient.chat.session.client.request('conversation:send', {
      conversationId: patient.conversationId,
      clientMessageId: randomUUID(),
      epoch: 1,
      senderDeviceSeq: 3_000_000,
      contentType: 'text',
      attachmentIds: [complete1],
      ciphertext: randomBytes(100).toString('base64'),
      nonce: randomBytes(24).toString('base64'),
    });
    const cancelClaimed = await api<Refusal>(gateway.url, 'DELETE', `/api/attachments/uploads/${complete1}`, { token: patient.token });

    expect(answers.map((answer) => (answer.ok ? 'ok' : answer.error.code))).toEqual(['not_found', 'not_found', 'conflict']);
    expect(afterRefusals).toBe(recordBefore);
    // All or none: the refused message with two uploads claimed neither.
    expect(claimedBy).toEqual({ client_message_id: null });
    expect(first).toMatchObject({ ok: true, data: { isDuplicate: false } });
    expect(retry).toMatchObject({ ok: true, data: { isDuplicate: true } });
    expect(stolen).toMatchObject({ ok: false, error: { code: 'conflict' } });
    expect(textWithFiles).toMatchObject({ ok: false, error: { code: 'invalid_payload' } });
    expect(cancelClaimed.body.error.code).toBe('conflict');
    expect(await count('record_entries', 'conversation_id = $1', [patient.conversationId])).toBe(recordBefore + 1);
  });

  it('cancels an upload with its parts', async () => {
    const patient = await newPatient();
    const created = await create(patient.token, patient.conversationId, 1_000);
    await putPart(patient.token, created.body.uploadId, 0, randomBytes(1_000));

    const cancelled = await api(gateway.url, 'DELETE', `/api/attachments/uploads/${created.body.uploadId}`, { token: patient.token });

    expect(cancelled.status).toBe(204);
    expect(await count('attachment_uploads', 'id = $1', [created.body.uploadId])).toBe(0);
    expect(await count('attachment_chunks', 'upload_id = $1', [created.body.uploadId])).toBe(0);
  });

  it('sweeps unreferenced uploads past their time, once however many nodes sweep, never one a stored message claims', async () => {
    const patient = await newPatient();
    const claimed = await upload(patient, randomBytes(2_000));
    await sendWith(patient, [claimed]);
    const abandoned = await upload(patient, randomBytes(2_000));
    const unfinished = (await create(patient.token, patient.conversationId, 1_000)).body.uploadId;
    const sweeps = gateway.app.get(AttachmentsService);

    const early = await sweeps.sweep();
    clock.advance(TTL_MS + 1_000);
    // Every upload of the suite so far is past its time now: those no stored message claims go.
    const unreferenced = await count('attachment_uploads', 'NOT attachment_is_referenced(id)');
    // Two sweeps at once, as two nodes run them: each upload is removed by one of them.
    const removed = await Promise.all([sweeps.sweep(), sweeps.sweep()]);
    const remaining = await gateway.dataSource.query(`SELECT id FROM attachment_uploads WHERE conversation_id = $1`, [patient.conversationId]);
    clock.set(new Date());

    expect(early).toBe(0);
    expect(unreferenced).toBeGreaterThanOrEqual(2);
    expect(removed[0]! + removed[1]!).toBe(unreferenced);
    expect(await count('attachment_uploads', 'NOT attachment_is_referenced(id)')).toBe(0);
    expect(remaining).toEqual([{ id: claimed }]);
    expect(await count('attachment_chunks', 'upload_id = ANY($1::uuid[])', [[abandoned, unfinished]])).toBe(0);
    expect((await download(practice.clinician.token, claimed)).status).toBe(200);
  });

  it('keeps the parts and row of a claimed upload: the database refuses to change or delete them', async () => {
    const patient = await newPatient();
    const uploadId = await upload(patient, randomBytes(2_000));
    await sendWith(patient, [uploadId]);

    const attempts = await Promise.all([
      gateway.dataSource.query(`UPDATE attachment_chunks SET bytes = $2 WHERE upload_id = $1`, [uploadId, randomBytes(2_000)]).catch((error: Error) => error),
      gateway.dataSource.query(`DELETE FROM attachment_chunks WHERE upload_id = $1`, [uploadId]).catch((error: Error) => error),
      gateway.dataSource.query(`DELETE FROM attachment_uploads WHERE id = $1`, [uploadId]).catch((error: Error) => error),
      gateway.dataSource.query(`UPDATE attachment_uploads SET client_message_id = $2 WHERE id = $1`, [uploadId, randomUUID()]).catch((error: Error) => error),
      gateway.dataSource.query(`UPDATE attachment_uploads SET cipher_bytes = 17 WHERE id = $1`, [uploadId]).catch((error: Error) => error),
    ]);

    expect(attempts.map((attempt) => attempt instanceof Error)).toEqual([true, true, true, true, true]);
    expect((await download(patient.token, uploadId)).raw.length).toBe(2_000);
  });

  it('serves the attachment settings to anyone of the practice, and lets only managers change them (audited)', async () => {
    const patient = await newPatient();

    const read = await apiOk<AttachmentSettings>(gateway.url, 'GET', '/api/practice/attachment-settings', { token: patient.token });
    const byClinician = await api<Refusal>(gateway.url, 'PUT', '/api/practice/attachment-settings', { token: practice.clinician.token, body: read });
    const invalid = await api<Refusal>(gateway.url, 'PUT', '/api/practice/attachment-settings', {
      token: practice.manager.token,
      body: { ...read, maxFileBytes: 30 * MIB },
    });
    const changed = await setSettings({ acceptedTypes: ['image/jpeg', 'image/png'] });
    const audited = await gateway.dataSource.query(`SELECT count(*)::int AS n FROM audit_events WHERE action = 'practice.attachment_settings_changed'`);
    await setSettings({});

    expect(read.patientUploads).toBe('always');
    expect(byClinician.body.error.code).toBe('forbidden');
    expect(invalid.body.error.code).toBe('invalid_payload');
    expect(changed.acceptedTypes).toEqual(['image/jpeg', 'image/png']);
    expect(audited[0].n).toBeGreaterThan(0);
  });
});
