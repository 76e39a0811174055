import { MemoryFeedCursorStore, MemoryOutboxStore, Outbox } from '@parley/client';
import { ready, ReceiveGuard } from '@parley/crypto';
import type { ConversationSend } from '@parley/protocol';
import { AccountFlowError, Conversation, type ConversationChange } from '../src/index.js';
import { aPatientConversation, FakeConversationClient, sent, type TestDevice } from './fake-conversation-client.js';

/** Polls until the condition holds (the feed and the outbox run on promises and timers); fails with `what` after the deadline. */
async function waitFor(condition: () => boolean, what: string, timeoutMs = 3_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

describe(Conversation.name, () => {
  let world: ReturnType<typeof aPatientConversation>;
  let client: FakeConversationClient;
  let outbox: Outbox;
  let sut: Conversation;
  let changes: ConversationChange['kind'][];
  let listed: TestDevice[];

  beforeAll(async () => {
    await ready();
  });

  beforeEach(async () => {
    world = aPatientConversation();
    client = new FakeConversationClient();
    listed = [world.patientDevice, world.clinician];
    client.handlers.set('conversation:join', () => ({ ok: true, data: world.joined(listed, client.record) }));
    outbox = new Outbox({ client: client.asClient, store: new MemoryOutboxStore() });
    await outbox.start();
    sut = new Conversation(
      {
        client: client.asClient,
        outbox,
        signedIn: world.signedIn,
        pinnedRoot: world.pinnedRoot,
        epochKeys: world.epochKeys,
        cursorStore: new MemoryFeedCursorStore(),
        guard: new ReceiveGuard(),
      },
      world.conversationId,
      world.summary,
    );
    changes = [];
    sut.subscribe((change) => changes.push(change.kind));
  });

  afterEach(async () => {
    sut.stop();
    await outbox.stop();
  });

  const messageBodies = () => sut.entries.flatMap((entry) => (entry.ok && entry.value.kind === 'message' ? [entry.value.body] : []));

  it('joins once however often it is opened, and hands over the record decrypted and in order', async () => {
    client.record.push(
      world.system(1, 'opened', { topic: 'admin' }),
      world.system(2, 'assigned', { clinicianId: world.clinician.member.userId, how: 'auto' }),
      world.message(3, world.clinician, 'Hello, how can I help?'),
    );

    await Promise.all([sut.open(), sut.open()]);
    await sut.open();

    expect(client.requestsOf('conversation:join')).toHaveLength(1);
    expect(sut.entries.map((entry) => entry.seq)).toEqual([1, 2, 3]);
    expect(sut.entries[1]).toMatchObject({ ok: true, value: { kind: 'system', event: 'assigned', data: { clinicianId: world.clinician.member.userId } } });
    expect(sut.entries[2]).toMatchObject({ ok: true, value: { kind: 'message', body: 'Hello, how can I help?', senderName: 'Dr Alex Morgan', isMine: false } });
    expect(sut.members.get(world.clinician.member.userId)).toEqual({ userId: world.clinician.member.userId, name: 'Dr Alex Morgan', role: 'clinician' });
    expect(changes.filter((kind) => kind === 'entry')).toHaveLength(3);
  });

  it('moves the summary on with system events after its join answer, never back through the history the answer already reflects', async () => {
    const doctor = world.clinician.member.userId;
    client.record.push(
      world.system(1, 'opened', { topic: 'admin' }),
      world.system(2, 'requeued', { fromClinicianId: null }),
      world.system(3, 'assigned', { clinicianId: doctor, how: 'claim' }),
    );
    const summaries: string[] = [];
    sut.subscribe((change) => change.kind === 'summary' && summaries.push(sut.summary!.status));
    await sut.open();

    client.relay(world.system(4, 'held', { clinicianId: doctor }));
    await waitFor(() => sut.summary?.status === 'on_hold', 'the hold to reach the summary');
    client.relay(world.system(5, 'marked_urgent', {}));
    await waitFor(() => sut.summary?.urgentAt !== null, 'the urgent mark to reach the summary');

    expect(summaries).toEqual(['assigned', 'on_hold', 'on_hold']);
    expect(sut.summary).toMatchObject({ status: 'on_hold', assignedClinicianId: doctor, urgentAt: new Date(5000).toISOString() });
  });

  it('keeps a send pending until the record hands it back, and gives its seq once acknowledged', async () => {
    await sut.open();
    client.handlers.set('conversation:send', (payload) => {
      const send = payload as unknown as ConversationSend;
      const entry = world.message(1, world.patientDevice, 'placeholder');
      client.record.push({
        ...entry,
        message: { ...entry.message!, ...send, senderUserId: world.summary.patientId, senderDeviceId: world.patientDevice.member.id, senderRole: 'patient' },
      });
      return sent(1);
    });

    const result = await sut.send('Could I have my repeat prescription?');

    expect(result).toEqual(sent(1));
    expect(sut.pending).toEqual([expect.objectContaining({ body: 'Could I have my repeat prescription?', status: 'sending', seq: 1 })]);
    client.emit('message:relayed', client.record[0]);
    await waitFor(() => sut.entries.length === 1, 'the record copy');
    expect(sut.pending).toEqual([]);
    expect(sut.entries[0]).toMatchObject({ ok: true, value: { kind: 'message', isMine: true, body: 'Could I have my repeat prescription?' } });
  });

  it('takes a refused send out of pending and out of the outbox, answering with the refusal', async () => {
    await sut.open();
    client.handlers.set('conversation:send', () => ({
      ok: false,
      error: { code: 'outside_hours', message: 'closed', details: { nextOpening: new Date(0).toISOString() } },
    }));

    const result = await sut.send('Are you open?');

    expect(result).toMatchObject({ ok: false, error: { code: 'outside_hours' } });
    expect(sut.pending).toEqual([]);
    expect(outbox.itemsOf(world.conversationId)).toEqual([]);
  });

  it('refuses to send before it is opened', async () => {
    await expect(sut.send('too early')).rejects.toMatchObject({ code: 'not_following' });
    expect(client.requestsOf('conversation:send')).toEqual([]);
  });

  it('keeps each member’s newest receipts and who is typing; a member’s message ends their typing', async () => {
    await sut.open();
    const doctor = world.clinician.member.userId;

    client.emit('receipt:updated', { conversationId: world.conversationId, userId: doctor, deviceId: world.clinician.member.id, kind: 'read', upToSeq: 4 });
    client.emit('receipt:updated', {
      conversationId: world.conversationId,
      userId: doctor,
      deviceId: world.clinician.member.id,
      kind: 'delivered',
      upToSeq: 2,
    });
    client.emit('receipt:updated', { conversationId: 'another', userId: doctor, deviceId: world.clinician.member.id, kind: 'read', upToSeq: 9 });
    client.emit('conversation:typing', { conversationId: world.conversationId, userId: doctor, role: 'clinician', isTyping: true });
    client.emit('conversation:typing', { conversationId: world.conversationId, userId: world.summary.patientId, role: 'patient', isTyping: true });

    expect(sut.receipts.get(doctor)).toEqual({ read: 4, delivered: 4 });
    expect([...sut.typing]).toEqual([doctor]);
    client.relay(world.message(1, world.clinician, 'Typed and sent.'));
    await waitFor(() => sut.entries.length === 1, 'the clinician’s message');
    expect(sut.typing.size).toBe(0);
  });

  it('runs each lifecycle command and takes in its answer; a refusal throws with the gateway’s code', async () => {
    const colleague = world.colleague.member.userId;
    client.handlers.set('conversation:transfer', () => ({
      ok: true,
      data: { conversation: { ...world.summary, assignedClinicianId: colleague, lastSeq: 7 } },
    }));
    client.handlers.set('conversation:close', () => ({ ok: false, error: { code: 'forbidden', message: 'not yours' } }));

    const transferred = await sut.transfer({ clinicianId: colleague });
    const closing = sut.close('follow_up', { dueDate: '2026-12-12', ownerId: colleague });

    await expect(closing).rejects.toEqual(new AccountFlowError('forbidden', 'not yours'));
    expect(transferred.assignedClinicianId).toBe(colleague);
    expect(sut.summary?.assignedClinicianId).toBe(colleague);
    expect(client.requestsOf('conversation:transfer')).toEqual([{ conversationId: world.conversationId, to: { clinicianId: colleague } }]);
    expect(client.requestsOf('conversation:close')).toEqual([
      { conversationId: world.conversationId, outcome: 'follow_up', followUp: { dueDate: '2026-12-12', ownerId: colleague } },
    ]);
  });

  it('joins again only for a device its answer did not list, and then opens that member’s message', async () => {
    await sut.open();
    listed = [world.patientDevice, world.clinician, world.colleague];

    client.relay(world.message(1, world.colleague, 'Covering for Dr Morgan today.'));
    await waitFor(() => sut.entries.length === 1, 'the colleague’s message');
    client.relay(world.message(2, world.colleague, 'Anything else?'));
    await waitFor(() => sut.entries.length === 2, 'the second message');

    expect(client.requestsOf('conversation:join')).toHaveLength(2);
    expect(messageBodies()).toEqual(['Covering for Dr Morgan today.', 'Anything else?']);
    expect(sut.members.get(world.colleague.member.userId)?.name).toBe('Dr Sam Patel');
  });

  it('marks read no further than the entries it could open', async () => {
    client.record.push(world.message(1, world.clinician, 'readable'), {
      ...world.message(2, world.clinician, 'tampered'),
      hash: '01',
      message: { ...world.message(2, world.clinician, 'x').message!, nonce: 'AAAA' },
    });
    await sut.open();

    await sut.markRead(2);

    expect(sut.entries.map((entry) => entry.ok)).toEqual([true, false]);
    expect(client.requestsOf('conversation:receipt').filter((receipt) => receipt['kind'] === 'read')).toEqual([
      { conversationId: world.conversationId, kind: 'read', upToSeq: 1 },
    ]);
  });
});
