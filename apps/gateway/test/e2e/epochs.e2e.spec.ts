/**
 * New key epochs (`conversation:epoch`, issue #17) against the real gateway, PostgreSQL and sockets: who may start one,
 * what the server checks and stores, the record's `keys.epoch` entry, and a send under an older epoch.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import type { ParleyClient } from '@parley/client';
import { certifyDevice, openEpochKey, ready, toBase64 } from '@parley/crypto';
import type { ConversationEpoch, Envelope } from '@parley/protocol';
import { decryptEntry, encryptForSend, newEpoch, type EnvelopeTarget } from '@parley/sdk';
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

  describe('with the real sdk: new epochs started by clients', () => {
    /** Another device of the patient, signed in and certified by their account key (as the sdk's enrolment does). */
    async function certifiedDevice(patient: TestPatient): Promise<TestPatient> {
      const signedIn = await signIn(gateway.url, { practice: practice.odsCode, login: patient.nhsNumber });
      const deviceId = signedIn.session.deviceId;
      const keys = signedIn.device!;
      const certificate = certifyDevice(
        { userId: patient.userId, deviceId, signPublicKey: keys.signPublicKey, boxPublicKey: keys.boxPublicKey },
        patient.account.signSecretKey,
      );
      await apiOk(
        gateway.url,
        'PUT',
        `/api/devices/${deviceId}/certificate`,
        { token: signedIn.token, body: { certificate: toBase64(certificate.signature) } },
        204,
      );
      return { ...patient, ...signedIn, deviceId, device: keys };
    }
    const bodiesOf = (who: Chatter) => who.bodies();
    const messageRow = async (conversationId: string, body: string, who: Chatter) => {
      const entry = who.entries.find((candidate) => candidate.ok && candidate.value.kind === 'message' && candidate.value.body === body);
      const [row] = await gateway.dataSource.query(
        `SELECT conversation_id, seq, epoch, sender_user_id, sender_device_id, sender_role, sender_device_seq, client_message_id, content_type, ciphertext, nonce, created_at
           FROM record_entries WHERE conversation_id = $1 AND seq = $2`,
        [conversationId, entry!.seq],
      );
      return row as {
        epoch: number;
        seq: string;
        sender_user_id: string;
        sender_device_id: string;
        sender_role: 'patient';
        sender_device_seq: string;
        client_message_id: string;
        ciphertext: Buffer;
        nonce: Buffer;
        created_at: Date;
      };
    };

    it('after a patient device is revoked, the next message is under a new epoch the revoked device cannot open; the other device and the clinician read on', async () => {
      const patient = await activatePatient(gateway.url, practice);
      const lost = await certifiedDevice(patient);
      const other = await certifiedDevice(patient);
      const phone = await patientChat(gateway.url, practice, patient);
      open.push({ close: () => void phone.session.close() });
      const id = (await phone.session.openConversation('admin')).id;
      await follow(phone, id);
      const tablet = await patientChat(gateway.url, practice, other);
      open.push({ close: () => void tablet.session.close() });
      await follow(tablet, id);
      await follow(clinician, id);
      await assigned(id);
      await phone.session.conversation(id).send('Before the phone was lost.');
      await waitUntil(() => bodiesOf(tablet).length === 1 && bodiesOf(clinician).includes('Before the phone was lost.'), 'the first message everywhere');
      // The lost device's copy of the first epoch key, as a thief holding the phone would have it.
      const [lostEnvelope] = await gateway.dataSource.query(
        `SELECT recipient_key_id, sealed_key, signature FROM conversation_envelopes WHERE conversation_id = $1 AND epoch = 1 AND recipient_device_id = $2`,
        [id, lost.deviceId],
      );
      const lostEpochOneKey = openEpochKey({
        conversationId: id,
        epoch: 1,
        envelope: { recipientKeyId: lostEnvelope.recipient_key_id, sealedKey: lostEnvelope.sealed_key, signature: lostEnvelope.signature },
        recipient: lost.device,
        creator: { signPublicKey: patient.device.signPublicKey, isTrusted: true, isMember: true },
      });

      await apiOk(gateway.url, 'POST', `/api/devices/${lost.deviceId}/revoke`, { token: patient.token });
      const sent = await phone.session.conversation(id).send('After the phone was lost.');
      await waitUntil(
        () => bodiesOf(tablet).includes('After the phone was lost.') && bodiesOf(clinician).includes('After the phone was lost.'),
        'the second message',
      );

      expect(sent).toMatchObject({ ok: true });
      const row = await messageRow(id, 'After the phone was lost.', phone);
      expect(row.epoch).toBe(2);
      const epochTwo: { recipient_kind: string; recipient_device_id: string | null; recipient_key_id: Buffer; sealed_key: Buffer; signature: Buffer }[] =
        await gateway.dataSource.query(
          `SELECT recipient_kind, recipient_device_id, recipient_key_id, sealed_key, signature FROM conversation_envelopes WHERE conversation_id = $1 AND epoch = 2`,
          [id],
        );
      expect(
        epochTwo
          .map((envelope) => envelope.recipient_device_id)
          .filter(Boolean)
          .sort(),
      ).toEqual([patient.deviceId, other.deviceId].sort());
      // No envelope of the new epoch opens with the revoked device's keys...
      for (const envelope of epochTwo) {
        expect(() =>
          openEpochKey({
            conversationId: id,
            epoch: 2,
            envelope: { recipientKeyId: envelope.recipient_key_id, sealedKey: envelope.sealed_key, signature: envelope.signature },
            recipient: lost.device,
            creator: { signPublicKey: patient.device.signPublicKey, isTrusted: true, isMember: true },
          }),
        ).toThrow();
      }
      // ...and the first epoch's key it kept does not open the new message.
      const entry = {
        conversationId: id,
        seq: Number(row.seq),
        kind: 'message' as const,
        serverTime: row.created_at.toISOString(),
        hash: '',
        message: {
          epoch: row.epoch,
          senderUserId: row.sender_user_id,
          senderDeviceId: row.sender_device_id,
          senderRole: row.sender_role,
          senderDeviceSeq: Number(row.sender_device_seq),
          clientMessageId: row.client_message_id,
          contentType: 'text' as const,
          ciphertext: toBase64(row.ciphertext),
          nonce: toBase64(row.nonce),
        },
      };
      const conversation = { id, practiceOdsCode: practice.odsCode, patientId: patient.userId };
      expect(() => decryptEntry({ conversation, entry, epochKey: lostEpochOneKey, senderSignPublicKey: patient.device.signPublicKey })).toThrow();
      expect(bodiesOf(tablet)).toEqual(['Before the phone was lost.', 'After the phone was lost.']);
      expect(tablet.entries.some((candidate) => candidate.ok && candidate.value.kind === 'system' && candidate.value.event === 'keys.epoch')).toBe(true);
      expect(tablet.entries.every((candidate) => candidate.ok)).toBe(true);
      expect(clinician.entries.filter((candidate) => candidate.ok === false)).toEqual([]);
    });

    it('re-encrypts a send made under an epoch another member replaced, keeping its client message id and sequence, and stores it once', async () => {
      const patient = await activatePatient(gateway.url, practice);
      const { chat, id } = await openByNewPatientAs(patient);
      await follow(clinician, id);
      await assigned(id);
      // The clinician's model stops following (and staff re-join only every few minutes), so it has not heard of the new epoch when it sends.
      clinician.session.conversation(id).stop();
      await chat.session.conversation(id).startEpoch('device-added');
      const sends: { epoch: number; clientMessageId: string; senderDeviceSeq: number }[] = [];
      const client = clinician.session.client;
      const request = client.request.bind(client);
      client.request = ((event: string, payload: { conversationId?: string; epoch: number; clientMessageId: string; senderDeviceSeq: number }) => {
        if (event === 'conversation:send' && payload.conversationId === id)
          sends.push({ epoch: payload.epoch, clientMessageId: payload.clientMessageId, senderDeviceSeq: payload.senderDeviceSeq });
        return request(event as never, payload as never);
      }) as typeof client.request;
      const clientMessageId = randomUUID();

      const sent = await clinician.session
        .conversation(id)
        .send('Written before I heard of the new keys.', { clientMessageId })
        .finally(() => (client.request = request));
      await waitUntil(() => bodiesOf(chat).includes('Written before I heard of the new keys.'), 'the message at the patient');

      expect(sent).toMatchObject({ ok: true, data: { isDuplicate: false } });
      expect(sends).toEqual([
        { epoch: 1, clientMessageId, senderDeviceSeq: sends[0]!.senderDeviceSeq },
        { epoch: 2, clientMessageId, senderDeviceSeq: sends[0]!.senderDeviceSeq },
      ]);
      const stored = await gateway.dataSource.query(`SELECT epoch FROM record_entries WHERE conversation_id = $1 AND client_message_id = $2`, [
        id,
        clientMessageId,
      ]);
      expect(stored).toEqual([{ epoch: 2 }]);
      expect(clinician.session.outbox.itemsOf(id)).toEqual([]);
    });

    it('two members starting the next epoch at once: exactly one wins, the other is refused conflict and carries on under the winner’s epoch', async () => {
      const patient = await activatePatient(gateway.url, practice);
      const { chat, id } = await openByNewPatientAs(patient);
      await follow(clinician, id);
      await assigned(id);
      const socket = await connectAs(gateway.url, patient);
      open.push({ close: () => socket.close() });
      const raw = [sealed(id, 2, patient), sealed(id, 2, patient, practice.clinician.device.signSecretKey)];

      // The gateway's part: the same epoch asked for twice at once.
      const clinicianSocket = await connectAs(gateway.url, practice.clinician);
      open.push({ close: () => clinicianSocket.close() });
      const answers = await Promise.all([
        socket.request('conversation:epoch', epochPayload(id, 2, raw[0]!.envelopes)),
        clinicianSocket.request('conversation:epoch', epochPayload(id, 2, raw[1]!.envelopes)),
      ]);
      // The clients' part: both start epoch 3 at once, each through its own sdk.
      const [patientEpoch, clinicianEpoch] = await Promise.all([
        chat.session.conversation(id).startEpoch('age'),
        clinician.session.conversation(id).startEpoch('age'),
      ]);
      await chat.session.conversation(id).send('Under whichever epoch won.');
      await waitUntil(() => bodiesOf(clinician).includes('Under whichever epoch won.'), 'the message at the clinician');

      expect(answers.filter((answer) => answer.ok)).toHaveLength(1);
      expect(answers.filter((answer) => !answer.ok)).toEqual([
        { ok: false, error: expect.objectContaining({ code: 'conflict', details: { currentEpoch: 2 } }) },
      ]);
      const creators = await gateway.dataSource.query(
        `SELECT epoch, count(DISTINCT creator_device_id)::int AS creators FROM conversation_envelopes WHERE conversation_id = $1 GROUP BY epoch ORDER BY epoch`,
        [id],
      );
      const current = (await stateOf(id)).current_epoch;
      expect(creators.every((row: { creators: number }) => row.creators === 1)).toBe(true);
      expect([patientEpoch, clinicianEpoch].sort()).toEqual(current === 3 ? [3, 3] : [3, 4]);
      const epochEntries = await gateway.dataSource.query(
        `SELECT system_data FROM record_entries WHERE conversation_id = $1 AND system_event = 'keys.epoch' ORDER BY seq`,
        [id],
      );
      expect(epochEntries.map((row: { system_data: { epoch: number } }) => row.system_data.epoch)).toEqual(
        Array.from({ length: current - 1 }, (_, i) => i + 2),
      );
    });

    it('a manager renews the epochs of several conversations at once (offboarding), each sealed by the manager’s client', async () => {
      const manager = await staffChat(gateway.url, practice, practice.manager);
      open.push({ close: () => void manager.session.close() });
      const first = await conversationWithPatient();
      const second = await conversationWithPatient();

      const result = await manager.session.renewEpochs([first.id, second.id, randomUUID()], 'offboarding');

      expect(result.renewed).toEqual([
        { conversationId: first.id, epoch: 2 },
        { conversationId: second.id, epoch: 2 },
      ]);
      expect(result.failed).toEqual([expect.objectContaining({ code: 'not_found' })]);
      for (const { id } of [first, second]) {
        const [row] = await gateway.dataSource.query(`SELECT DISTINCT creator_device_id FROM conversation_envelopes WHERE conversation_id = $1 AND epoch = 2`, [
          id,
        ]);
        expect(row.creator_device_id).toBe(practice.manager.deviceId);
      }
      await first.chat.session.conversation(first.id).send('Still readable after the renewal.');
      await waitUntil(() => bodiesOf(first.chat).includes('Still readable after the renewal.'), 'the patient’s own copy');
    });
  });
});
