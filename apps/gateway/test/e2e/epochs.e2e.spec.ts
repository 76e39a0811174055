/**
 * New key epochs (`conversation:epoch`, issue #17) against the real gateway, PostgreSQL and sockets: who may start one,
 * what the server checks and stores, the record's `keys.epoch` entry, and a send under an older epoch.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import type { ParleyClient } from '@parley/client';
import { ready } from '@parley/crypto';
import type { ConversationEpoch, Envelope } from '@parley/protocol';
import { encryptForSend, newEpoch, type EnvelopeTarget } from '@parley/sdk';
import { startTestApp, type TestApp } from '../app.js';
import { follow, patientChat, staffChat, type Chatter } from '../chat.js';
import { activatePatient, apiOk, connectAs, createPracticeWithStaff, signIn, type TestPatient, type TestPractice } from '../factories.js';
import { waitUntil } from '../wait.js';

describe('conversation:epoch (in-process gateway, real PostgreSQL and sockets)', () => {
  let gateway: TestApp;
  let practice: TestPractice;
  let clinician: Chatter;
  const open: { close(): void }[] = [];

  beforeAll(async () => {
    await ready();
    gateway = await startTestApp();
    practice = await createPracticeWithStaff(gateway);
    clinician = await staffChat(gateway.url, practice, practice.clinician);
    open.push({ close: () => void clinician.session.close() });
    // Every conversation here goes to the one clinician: lift their cap (capacity is tested elsewhere).
    const manager = await connectAs(gateway.url, practice.manager);
    await manager.request('capacity:set-clinician', { clinicianId: practice.clinician.userId, maxConcurrent: 50, dailyMax: null });
    manager.close();
  });

  afterAll(async () => {
    for (const item of open) item.close();
    await gateway.close();
  });

  /** The recipients a patient's client verified: its device, its account key and record key v1. */
  const targetsOf = (patient: Pick<TestPatient, 'deviceId' | 'device' | 'account' | 'userId'>): EnvelopeTarget[] => [
    { recipient: { kind: 'device', deviceId: patient.deviceId }, boxPublicKey: patient.device.boxPublicKey },
    { recipient: { kind: 'account', userId: patient.userId }, boxPublicKey: patient.account.boxPublicKey },
    { recipient: { kind: 'record', version: 1 }, boxPublicKey: practice.recordKey.boxPublicKey },
  ];
  const epochPayload = (conversationId: string, epoch: number, envelopes: Envelope[]): ConversationEpoch => ({
    conversationId,
    epoch,
    envelopes,
    reason: 'device-revoked',
  });
  const sealed = (conversationId: string, epoch: number, patient: TestPatient, signer = patient.device.signSecretKey) =>
    newEpoch({ conversationId, epoch, targets: targetsOf(patient), creatorSignSecretKey: signer });
  const stateOf = async (conversationId: string) => {
    const [row] = await gateway.dataSource.query(
      `SELECT c.current_epoch, c.last_seq::int AS last_seq,
              (SELECT count(*)::int FROM conversation_envelopes WHERE conversation_id = c.id) AS envelopes,
              (SELECT count(*)::int FROM audit_events WHERE conversation_id = c.id AND action = 'conversation.epoch_started') AS audited
         FROM conversations c WHERE c.id = $1`,
      [conversationId],
    );
    return row as { current_epoch: number; last_seq: number; envelopes: number; audited: number };
  };
  /** A patient with an open conversation, followed by them, and assigned to the clinician (its `assigned` entry written). */
  async function conversationWithPatient(): Promise<{ patient: TestPatient; id: string; socket: ParleyClient; chat: Chatter }> {
    const patient = await activatePatient(gateway.url, practice);
    const { chat, id } = await openByNewPatientAs(patient);
    const socket = await connectAs(gateway.url, patient);
    open.push({ close: () => socket.close() });
    await assigned(id);
    return { patient, id, socket, chat };
  }
  /** Resolves once the conversation is assigned to the clinician and its `assigned` entry written (the shared clinician's entries mix conversations). */
  const assigned = (id: string) =>
    waitUntil(async () => {
      const [row] = await gateway.dataSource.query(`SELECT assigned_clinician_id, last_seq::int AS last_seq FROM conversations WHERE id = $1`, [id]);
      return row.assigned_clinician_id === practice.clinician.userId && row.last_seq >= 3;
    }, 'the assignment');
  async function openByNewPatientAs(patient: TestPatient): Promise<{ chat: Chatter; id: string }> {
    const chat = await patientChat(gateway.url, practice, patient);
    open.push({ close: () => void chat.session.close() });
    const id = (await chat.session.openConversation('admin')).id;
    await follow(chat, id);
    return { chat, id };
  }

  it('starts epoch 2: envelopes stored, current epoch moved, audited, and a keys.epoch entry relayed to the members', async () => {
    const { patient, id, socket } = await conversationWithPatient();
    await follow(clinician, id);
    await assigned(id);
    const before = await stateOf(id);

    const answer = await socket.request('conversation:epoch', epochPayload(id, 2, sealed(id, 2, patient).envelopes));
    await waitUntil(
      () => clinician.entries.some((entry) => entry.ok && entry.value.kind === 'system' && entry.value.event === 'keys.epoch'),
      'keys.epoch at the clinician',
    );

    expect(answer).toMatchObject({ ok: true, data: { conversation: { id, currentEpoch: 2, lastSeq: before.last_seq + 1 } } });
    expect(await stateOf(id)).toEqual({ current_epoch: 2, last_seq: before.last_seq + 1, envelopes: before.envelopes + 3, audited: 1 });
    const [entry] = await gateway.dataSource.query(`SELECT system_event, system_data FROM record_entries WHERE conversation_id = $1 AND seq = $2`, [
      id,
      before.last_seq + 1,
    ]);
    expect(entry).toEqual({ system_event: 'keys.epoch', system_data: { epoch: 2, reason: 'device-revoked' } });
    const [audit] = await gateway.dataSource.query(
      `SELECT actor_device_id, data FROM audit_events WHERE conversation_id = $1 AND action = 'conversation.epoch_started'`,
      [id],
    );
    expect(audit).toEqual({ actor_device_id: patient.deviceId, data: { epoch: 2, reason: 'device-revoked' } });
  });

  it('answers a retried start (its ack lost) like the first, writing nothing again', async () => {
    const { patient, id, socket } = await conversationWithPatient();
    const payload = epochPayload(id, 2, sealed(id, 2, patient).envelopes);

    const first = await socket.request('conversation:epoch', payload);
    const after = await stateOf(id);
    const retried = await socket.request('conversation:epoch', payload);

    expect(first).toMatchObject({ ok: true, data: { conversation: { currentEpoch: 2 } } });
    expect(retried).toMatchObject({ ok: true, data: { conversation: { currentEpoch: 2 } } });
    expect(await stateOf(id)).toEqual(after);
  });

  it('refuses an epoch that is not the current one + 1 as conflict with the current epoch, changing nothing', async () => {
    const { patient, id, socket } = await conversationWithPatient();
    const before = await stateOf(id);

    const skipped = await socket.request('conversation:epoch', epochPayload(id, 3, sealed(id, 3, patient).envelopes));
    const again = await socket.request('conversation:epoch', epochPayload(id, 1, sealed(id, 1, patient).envelopes));

    expect(skipped).toMatchObject({ ok: false, error: { code: 'conflict', details: { currentEpoch: 1 } } });
    expect(again).toMatchObject({ ok: false, error: { code: 'conflict', details: { currentEpoch: 1 } } });
    expect(await stateOf(id)).toEqual(before);
  });

  it('refuses envelopes to anyone but the patient’s active devices, account key and a record key of the practice, changing nothing', async () => {
    const { patient, id, socket } = await conversationWithPatient();
    const other = await activatePatient(gateway.url, practice);
    const { envelopes } = sealed(id, 2, patient);
    const [device, account, record] = envelopes as [Envelope, Envelope, Envelope];
    const stray = (recipient: Envelope['recipient']): Envelope => ({ ...device, recipient, recipientKeyId: Buffer.from(randomBytes(16)).toString('base64') });
    const before = await stateOf(id);

    const answers = await Promise.all(
      [
        [device, record],
        [device, account],
        [device, account, record, record],
        [device, account, record, stray({ kind: 'device', deviceId: other.deviceId })],
        [device, account, record, stray({ kind: 'account', userId: other.userId })],
        [device, account, record, stray({ kind: 'record', version: 9 })],
        [device, account, record, stray({ kind: 'device', deviceId: randomUUID() })],
      ].map((list) => socket.request('conversation:epoch', epochPayload(id, 2, list))),
    );

    expect(answers.map((answer) => (answer.ok ? 'ok' : answer.error.code))).toEqual(Array(7).fill('invalid_payload'));
    expect(await stateOf(id)).toEqual(before);
  });

  it('refuses a revoked device of the patient as a recipient, and the start of a revoked device itself', async () => {
    const { patient, id, socket } = await conversationWithPatient();
    const spare = await signIn(gateway.url, { practice: practice.odsCode, login: patient.nhsNumber });
    await apiOk(gateway.url, 'POST', `/api/devices/${spare.session.deviceId}/revoke`, { token: patient.token });
    const { envelopes } = newEpoch({
      conversationId: id,
      epoch: 2,
      targets: [...targetsOf(patient), { recipient: { kind: 'device', deviceId: spare.session.deviceId }, boxPublicKey: spare.device!.boxPublicKey }],
      creatorSignSecretKey: patient.device.signSecretKey,
    });
    const before = await stateOf(id);

    const answer = await socket.request('conversation:epoch', epochPayload(id, 2, envelopes));

    expect(answer).toMatchObject({ ok: false, error: { code: 'invalid_payload' } });
    expect(await stateOf(id)).toEqual(before);
  });

  it('lets the patient, the assigned clinician and a manager start one; not another patient of the practice', async () => {
    const { patient, id } = await conversationWithPatient();
    const stranger = await activatePatient(gateway.url, practice);
    const strangerSocket = await connectAs(gateway.url, stranger);
    const managerSocket = await connectAs(gateway.url, practice.manager);
    const clinicianSocket = await connectAs(gateway.url, practice.clinician);
    open.push({ close: () => strangerSocket.close() }, { close: () => managerSocket.close() }, { close: () => clinicianSocket.close() });

    const byStranger = await strangerSocket.request('conversation:epoch', epochPayload(id, 2, sealed(id, 2, patient, stranger.device.signSecretKey).envelopes));
    const byClinician = await clinicianSocket.request(
      'conversation:epoch',
      epochPayload(id, 2, sealed(id, 2, patient, practice.clinician.device.signSecretKey).envelopes),
    );
    const byManager = await managerSocket.request(
      'conversation:epoch',
      epochPayload(id, 3, sealed(id, 3, patient, practice.manager.device.signSecretKey).envelopes),
    );

    expect(byStranger).toMatchObject({ ok: false, error: { code: 'forbidden' } });
    expect(byClinician).toMatchObject({ ok: true, data: { conversation: { currentEpoch: 2 } } });
    expect(byManager).toMatchObject({ ok: true, data: { conversation: { currentEpoch: 3 } } });
    const creators = await gateway.dataSource.query(
      `SELECT DISTINCT epoch, creator_device_id FROM conversation_envelopes WHERE conversation_id = $1 ORDER BY epoch`,
      [id],
    );
    expect(creators.map((row: { creator_device_id: string }) => row.creator_device_id)).toEqual([
      patient.deviceId,
      practice.clinician.deviceId,
      practice.manager.deviceId,
    ]);
  });

  it('refuses a new epoch in a closed conversation as conflict', async () => {
    const { patient, id, socket } = await conversationWithPatient();
    const managerSocket = await connectAs(gateway.url, practice.manager);
    open.push({ close: () => managerSocket.close() });
    expect(await managerSocket.request('conversation:close', { conversationId: id, outcome: 'resolved' })).toMatchObject({ ok: true });
    const before = await stateOf(id);

    const answer = await socket.request('conversation:epoch', epochPayload(id, 2, sealed(id, 2, patient).envelopes));

    expect(answer).toMatchObject({ ok: false, error: { code: 'conflict' } });
    expect(await stateOf(id)).toEqual(before);
  });

  it('refuses a send under an older epoch as conflict naming the current one; the same message under it is stored once', async () => {
    const { patient, id, socket } = await conversationWithPatient();
    await socket.request('conversation:join', { conversationId: id });
    const { epochKey: oldKey } = sealed(id, 1, patient);
    const next = sealed(id, 2, patient);
    expect(await socket.request('conversation:epoch', epochPayload(id, 2, next.envelopes))).toMatchObject({ ok: true });
    const summary = { id, practiceOdsCode: practice.odsCode, patientId: patient.userId };
    const sender = { userId: patient.userId, deviceId: patient.deviceId, role: 'patient' as const, signSecretKey: patient.device.signSecretKey };
    const clientMessageId = randomUUID();
    const under = (epoch: number, epochKey: Uint8Array) =>
      encryptForSend({ conversation: summary, epoch, epochKey, sender, senderDeviceSeq: 1, clientMessageId, body: 'hello' });

    const stale = await socket.request('conversation:send', under(1, oldKey));
    const current = await socket.request('conversation:send', under(2, next.epochKey));

    expect(stale).toMatchObject({ ok: false, error: { code: 'conflict', details: { currentEpoch: 2 } } });
    expect(current).toMatchObject({ ok: true, data: { isDuplicate: false } });
    const stored = await gateway.dataSource.query(`SELECT epoch FROM record_entries WHERE conversation_id = $1 AND kind = 'message'`, [id]);
    expect(stored).toEqual([{ epoch: 2 }]);
  });
});
