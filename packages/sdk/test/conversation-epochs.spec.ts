import { MemoryFeedCursorStore, MemoryOutboxStore, Outbox, type OutboxItem } from '@parley/client';
import { createRecordKey, generateDeviceKeys, keyId, ready, ReceiveGuard, toBase64 } from '@parley/crypto';
import type { ConversationSend, CurrentEpochState, JoinedConversation } from '@parley/protocol';
import { Conversation, EPOCH_MAX_AGE_MS, EPOCH_MAX_MESSAGES, newEpoch, type CurrentRecordKey } from '../src/index.js';
import { aPatientConversation, FakeConversationClient, sent, type TestDevice } from './fake-conversation-client.js';

async function waitFor(condition: () => boolean, what: string, timeoutMs = 3_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

const keyIdOf = (boxPublicKey: Uint8Array | string) => toBase64(keyId(typeof boxPublicKey === 'string' ? Buffer.from(boxPublicKey, 'base64') : boxPublicKey));

describe(`${Conversation.name}: new epochs`, () => {
  let world: ReturnType<typeof aPatientConversation>;
  let client: FakeConversationClient;
  let outbox: Outbox;
  let store: MemoryOutboxStore;
  let sut: Conversation;
  let listed: TestDevice[];
  let record: CurrentRecordKey;
  /** What a fresh fetch of the practice keys answers (a rotation the cached answer has not seen yet), when set. */
  let freshRecord: CurrentRecordKey | undefined;
  let state: CurrentEpochState;
  /** Envelopes the fake server lists in its join answers, after the first epoch's. */
  let envelopes: JoinedConversation['envelopes'];

  beforeAll(async () => {
    await ready();
  });

  /** The current epoch as sealed to `devices`, the account key and `recordKey`, started `startedAt`. */
  const sealedTo = (devices: TestDevice[], recordKey: CurrentRecordKey, startedAt = new Date().toISOString(), epoch = 1): CurrentEpochState => ({
    epoch,
    startedAt,
    recipients: [
      ...devices.map((device) => ({ recipient: { kind: 'device' as const, deviceId: device.member.id }, recipientKeyId: keyIdOf(device.member.boxPublicKey) })),
      { recipient: { kind: 'account', userId: world.summary.patientId }, recipientKeyId: keyIdOf(world.signedIn.account!.boxPublicKey) },
      { recipient: { kind: 'record', version: recordKey.version }, recipientKeyId: keyIdOf(recordKey.boxPublicKey) },
    ],
  });

  /** Devices the client's verified revocation list names (device id → revoked at). */
  let revoked: Map<string, number>;

  function model(outboxToUse: Outbox): Conversation {
    return new Conversation(
      {
        revocations: { revoked },
        client: client.asClient,
        outbox: outboxToUse,
        signedIn: world.signedIn,
        pinnedRoot: world.pinnedRoot,
        epochKeys: world.epochKeys,
        cursorStore: new MemoryFeedCursorStore(),
        guard: new ReceiveGuard(),
        currentRecordKey: async (fresh?: boolean) => (fresh ? (freshRecord ?? record) : record),
      },
      world.conversationId,
      world.summary,
    );
  }

  beforeEach(async () => {
    world = aPatientConversation();
    client = new FakeConversationClient();
    listed = [world.patientDevice, world.clinician];
    const recordKey = createRecordKey(1);
    record = { version: 1, boxPublicKey: recordKey.boxPublicKey };
    state = sealedTo([world.patientDevice], record);
    freshRecord = undefined;
    revoked = new Map();
    envelopes = [];
    client.handlers.set('conversation:join', () => ({
      ok: true,
      data: {
        ...world.joined(listed, client.record),
        envelopes,
        currentEpochState: state,
        conversation: { ...world.joined(listed, client.record).conversation, currentEpoch: state.epoch },
      },
    }));
    store = new MemoryOutboxStore();
    outbox = new Outbox({ client: client.asClient, store });
    await outbox.start();
    sut = model(outbox);
  });

  afterEach(async () => {
    sut.stop();
    await outbox.stop();
  });

  /** Another device of the patient, certified by the account key (or not). */
  function anotherPatientDevice(isCertified = true): TestDevice {
    const keys = generateDeviceKeys();
    const certificate = isCertified ? world.certifyPatientDevice(keys) : null;
    return {
      keys,
      member: {
        ...world.patientDevice.member,
        id: certificate?.id ?? crypto.randomUUID(),
        signPublicKey: toBase64(keys.signPublicKey),
        boxPublicKey: toBase64(keys.boxPublicKey),
        certificate: certificate?.signature ?? null,
      },
    };
  }

  describe('renewalReason (the triggers)', () => {
    it('asks for nothing while the epoch fits the members, the record key, the clinician, its age and its size', async () => {
      client.record.push(
        world.system(1, 'opened', { topic: 'admin' }),
        world.system(2, 'assigned', { clinicianId: world.clinician.member.userId, how: 'auto' }),
      );
      await sut.open();

      expect(await sut.renewalReason()).toBeNull();
    });

    it('asks for one when a certified patient device was added since the epoch was sealed, but not for an uncertified one', async () => {
      const uncertified = anotherPatientDevice(false);
      listed = [world.patientDevice, world.clinician, uncertified];
      await sut.open();
      const beforeAdding = await sut.renewalReason();
      listed = [...listed, anotherPatientDevice()];
      const second = model(outbox);
      await second.open();

      expect(beforeAdding).toBeNull();
      expect(await second.renewalReason()).toBe('device-added');
      second.stop();
    });

    it('asks for one when a device the epoch was sealed to is revoked', async () => {
      const other = anotherPatientDevice();
      state = sealedTo([world.patientDevice, other], record);
      listed = [world.patientDevice, world.clinician, { ...other, member: { ...other.member, revokedAt: new Date().toISOString() } }];
      await sut.open();

      expect(await sut.renewalReason()).toBe('device-revoked');
    });

    it('asks for one when the root vouches for a newer record key', async () => {
      await sut.open();
      const newer = createRecordKey(2);
      record = { version: 2, boxPublicKey: newer.boxPublicKey };

      expect(await sut.renewalReason()).toBe('record-key');
    });

    it('asks none when only its cached record key is older than the epoch’s (another member renewed right after a rotation)', async () => {
      const newer = createRecordKey(2);
      const current = { version: 2, boxPublicKey: newer.boxPublicKey };
      state = sealedTo([world.patientDevice], current);
      freshRecord = current;
      await sut.open();

      expect(await sut.renewalReason()).toBeNull();
    });

    it('asks for one at a handover to another clinician, not at the first assignment', async () => {
      client.record.push(world.system(1, 'assigned', { clinicianId: world.clinician.member.userId, how: 'auto' }));
      await sut.open();
      const first = await sut.renewalReason();

      client.relay(world.system(2, 'transferred', { fromClinicianId: world.clinician.member.userId, clinicianId: world.colleague.member.userId }));
      await waitFor(() => sut.entries.length === 2, 'the transfer');

      expect(first).toBeNull();
      expect(await sut.renewalReason()).toBe('handover');
    });

    it('does not count a handover the current epoch already followed', async () => {
      client.record.push(
        world.system(1, 'assigned', { clinicianId: world.clinician.member.userId, how: 'auto' }),
        world.system(2, 'transferred', { fromClinicianId: world.clinician.member.userId, clinicianId: world.colleague.member.userId }),
        world.system(3, 'keys.epoch', { epoch: 2, reason: 'handover' }),
      );
      state = sealedTo([world.patientDevice], record, new Date().toISOString(), 2);
      await sut.open();

      expect(await sut.renewalReason()).toBeNull();
    });

    it(`asks for one past ${EPOCH_MAX_AGE_MS / 86_400_000} days`, async () => {
      const startedAt = Date.parse('2026-11-01T09:00:00.000Z');
      state = sealedTo([world.patientDevice], record, new Date(startedAt).toISOString());
      await sut.open();

      expect(await sut.renewalReason(startedAt + EPOCH_MAX_AGE_MS)).toBeNull();
      expect(await sut.renewalReason(startedAt + EPOCH_MAX_AGE_MS + 1)).toBe('age');
    });

    it(`asks for one once the epoch carried ${EPOCH_MAX_MESSAGES} messages`, async () => {
      for (let seq = 1; seq < EPOCH_MAX_MESSAGES; seq += 1) client.record.push(world.message(seq, world.clinician, `m${seq}`));
      await sut.open();
      const below = await sut.renewalReason();

      client.relay(world.message(EPOCH_MAX_MESSAGES, world.clinician, 'one more'));
      await waitFor(() => sut.entries.length === EPOCH_MAX_MESSAGES, 'the last message');

      expect(below).toBeNull();
      expect(await sut.renewalReason()).toBe('age');
    });
  });

  describe('startEpoch', () => {
    it('seals the new key only to verified recipients: never to a patient device the account key did not certify', async () => {
      const attacker = anotherPatientDevice(false);
      const other = anotherPatientDevice();
      listed = [world.patientDevice, world.clinician, attacker, other];
      client.handlers.set('conversation:epoch', (payload) => ({
        ok: true,
        data: { conversation: { ...world.summary, currentEpoch: payload['epoch'] as number } },
      }));
      await sut.open();

      const epoch = await sut.startEpoch('device-added');

      const [request] = client.requestsOf('conversation:epoch');
      const sealed = (request!['envelopes'] as { recipient: { kind: string; deviceId?: string }; recipientKeyId: string }[]).map(
        (envelope) => envelope.recipient,
      );
      expect(epoch).toBe(2);
      expect(request).toMatchObject({ conversationId: world.conversationId, epoch: 2, reason: 'device-added' });
      expect(sealed).toEqual([
        { kind: 'device', deviceId: world.patientDevice.member.id },
        { kind: 'device', deviceId: other.member.id },
        { kind: 'account', userId: world.summary.patientId },
        { kind: 'record', version: 1 },
      ]);
    });

    it('seals nothing to a device the client’s verified revocation list names, though the server lists it as active', async () => {
      const lost = anotherPatientDevice();
      listed = [world.patientDevice, world.clinician, lost];
      revoked.set(lost.member.id, Date.now() - 1_000);
      client.handlers.set('conversation:epoch', (payload) => ({
        ok: true,
        data: { conversation: { ...world.summary, currentEpoch: payload['epoch'] as number } },
      }));
      await sut.open();

      await sut.startEpoch('device-revoked');

      const [request] = client.requestsOf('conversation:epoch');
      const devices = (request!['envelopes'] as { recipient: { kind: string; deviceId?: string } }[]).flatMap((envelope) =>
        envelope.recipient.kind === 'device' ? [envelope.recipient.deviceId] : [],
      );
      expect(devices).toEqual([world.patientDevice.member.id]);
    });

    it('seals to the record key as the practice keys say now, not as a cached answer said before a rotation', async () => {
      client.handlers.set('conversation:epoch', (payload) => ({
        ok: true,
        data: { conversation: { ...world.summary, currentEpoch: payload['epoch'] as number } },
      }));
      await sut.open();
      freshRecord = { version: 2, boxPublicKey: createRecordKey(2).boxPublicKey };

      await sut.startEpoch('offboarding');

      const [request] = client.requestsOf('conversation:epoch');
      const recipients = (request!['envelopes'] as { recipient: { kind: string; version?: number } }[]).map((envelope) => envelope.recipient);
      expect(recipients).toContainEqual({ kind: 'record', version: 2 });
      expect(recipients).not.toContainEqual({ kind: 'record', version: 1 });
    });

    it('resolves with the epoch another member started when it lost the race', async () => {
      client.handlers.set('conversation:epoch', () => ({ ok: false, error: { code: 'conflict', message: 'taken', details: { currentEpoch: 2 } } }));
      await sut.open();

      expect(await sut.startEpoch('age')).toBe(2);
      expect(client.requestsOf('conversation:epoch')).toHaveLength(1);
    });
  });

  describe('a send under an epoch a newer one replaced', () => {
    it('re-encrypts the same text under the current epoch, keeping its client message id and sequence, and is stored once', async () => {
      const next = newEpoch({
        conversationId: world.conversationId,
        epoch: 2,
        targets: [{ recipient: { kind: 'device', deviceId: world.patientDevice.member.id }, boxPublicKey: world.patientDevice.keys.boxPublicKey }],
        creatorSignSecretKey: world.clinician.keys.signSecretKey,
      });
      const sends: ConversationSend[] = [];
      client.handlers.set('conversation:send', (payload) => {
        const send = payload as unknown as ConversationSend;
        sends.push(send);
        if (send.epoch < 2) {
          // The clinician started epoch 2 meanwhile: the next join lists its envelope.
          state = { ...sealedTo([world.patientDevice], record), epoch: 2 };
          envelopes = next.envelopes.map((envelope) => ({ ...envelope, epoch: 2, creatorDeviceId: world.clinician.member.id }));
          return { ok: false, error: { code: 'conflict', message: 'newer epoch', details: { currentEpoch: 2 } } };
        }
        return sent(3);
      });
      await sut.open();

      const result = await sut.send('Still there?');

      expect(result).toEqual(sent(3));
      expect(sends.map((send) => [send.epoch, send.clientMessageId, send.senderDeviceSeq])).toEqual([
        [1, sends[0]!.clientMessageId, sends[0]!.senderDeviceSeq],
        [2, sends[0]!.clientMessageId, sends[0]!.senderDeviceSeq],
      ]);
      expect(outbox.itemsOf(world.conversationId)).toEqual([]);
    });

    it('shows a send an earlier run left in the outbox, refused for a newer epoch, with a clear reason instead of dropping it', async () => {
      sut.stop();
      await outbox.stop();
      const left: OutboxItem = {
        send: world.sendOf(7, 'written before the renewal'),
        order: 1,
        status: 'pending',
        attempts: 0,
        lastError: null,
        enqueuedAt: new Date(0).toISOString(),
      };
      store = new MemoryOutboxStore();
      await store.put(left);
      client.handlers.set('conversation:send', () => ({ ok: false, error: { code: 'conflict', message: 'newer epoch', details: { currentEpoch: 2 } } }));
      outbox = new Outbox({ client: client.asClient, store });
      sut = model(outbox);
      await outbox.start();
      await sut.open();

      await waitFor(() => sut.earlierFailed.length === 1, 'the earlier send to fail');

      expect(sut.earlierFailed).toEqual([
        {
          clientMessageId: left.send.clientMessageId,
          enqueuedAt: left.enqueuedAt,
          reason: expect.stringContaining('security keys of this conversation were renewed'),
        },
      ]);
      expect(await store.loadAll()).toHaveLength(1);
      expect(await sut.discardFailed(left.send.clientMessageId)).toBe(true);
      expect(sut.earlierFailed).toEqual([]);
    });
  });
});
