import type { ConversationSend } from '@parley/protocol';
import { MemoryOutboxStore, Outbox, ParleyClient, type OutboxResult } from '../src/index.js';
import { aConversationId, aSend, textOf, waitFor } from './factories.js';
import { FakeGateway } from './fake-gateway.js';

const FAST = { requestTimeoutMs: 150, reconnectionDelayMs: 20, reconnectionDelayMaxMs: 40 };
const FAST_BACKOFF = { baseMs: 20, maxMs: 100 };

describe(Outbox.name, () => {
  let gateway: FakeGateway;
  let client: ParleyClient;
  let store: MemoryOutboxStore;
  const outboxes: Outbox[] = [];
  const anOutbox = (over: ParleyClient = client) => {
    const outbox = new Outbox({ client: over, store, backoff: FAST_BACKOFF });
    outboxes.push(outbox);
    return outbox;
  };
  const sentIds = () => (gateway.commandsNamed('conversation:send') as ConversationSend[]).map((send) => send.clientMessageId);

  beforeEach(async () => {
    gateway = await FakeGateway.start();
    client = await ParleyClient.connect({ url: gateway.url, ...FAST });
    store = new MemoryOutboxStore();
  });

  afterEach(async () => {
    for (const outbox of outboxes.splice(0)) outbox.stop();
    client.close();
    await gateway.close();
  });

  it('stores a message before sending it and removes it once the server committed it', async () => {
    const outbox = anOutbox();
    const conversationId = aConversationId();
    const send = aSend(conversationId, 'hello');
    let storedWhenSent: string[] = [];
    gateway.beforeSend = () => {
      void store.loadAll().then((items) => (storedWhenSent = items.map((item) => item.send.clientMessageId)));
      return true;
    };

    const result = await outbox.enqueue(send);

    expect(result).toEqual({ ok: true, data: { seq: 1, serverTime: expect.any(String), isDuplicate: false } });
    expect(storedWhenSent).toEqual([send.clientMessageId]);
    expect(await store.loadAll()).toEqual([]);
    expect(outbox.itemsOf(conversationId)).toEqual([]);
  });

  it('retries with the same client message id and ciphertext when the first ack is lost', async () => {
    const outbox = anOutbox();
    const conversationId = aConversationId();
    const send = aSend(conversationId, 'did you get this?');
    gateway.sendAcksToDrop = 1;

    const result = await outbox.enqueue(send);

    expect(result).toMatchObject({ ok: true, data: { seq: 1, isDuplicate: true } });
    expect(gateway.commandsNamed('conversation:send')).toEqual([send, send]);
    expect(gateway.entriesOf(conversationId)).toHaveLength(1);
  });

  it('keeps the order of a conversation: a message waits until the one before it is acked', async () => {
    const outbox = anOutbox();
    const conversationId = aConversationId();
    const sends = ['one', 'two', 'three', 'four'].map((text) => aSend(conversationId, text));
    let sendsSeen = 0;
    gateway.beforeSend = () => {
      sendsSeen += 1;
      if (sendsSeen === 2) gateway.sendAcksToDrop = 1;
      return true;
    };

    const results = await Promise.all(sends.map((send) => outbox.enqueue(send)));

    expect(results.map((result) => result.ok && result.data.seq)).toEqual([1, 2, 3, 4]);
    expect(gateway.entriesOf(conversationId).map(textOf)).toEqual(['one', 'two', 'three', 'four']);
    const [one, two, three, four] = sends.map((send) => send.clientMessageId);
    expect(sentIds()).toEqual([one, two, two, three, four]);
  });

  it('re-sends the queue after a reconnection, each message once and in order', async () => {
    const outbox = anOutbox();
    const conversationId = aConversationId();
    const sends = ['one', 'two', 'three'].map((text) => aSend(conversationId, text));
    let isCut = false;
    gateway.beforeSend = (payload) => {
      if (payload.clientMessageId !== sends[1]?.clientMessageId || isCut) return true;
      isCut = true;
      gateway.cutTransports();
      return false;
    };

    const results = await Promise.all(sends.map((send) => outbox.enqueue(send)));

    expect(results.every((result) => result.ok)).toBe(true);
    expect(gateway.entriesOf(conversationId).map(textOf)).toEqual(['one', 'two', 'three']);
    expect(gateway.handshakes).toHaveLength(2);
  });

  it('sends what a previous outbox left in the store', async () => {
    const conversationId = aConversationId();
    const offline = ParleyClient.create({ url: 'http://127.0.0.1:1', reconnectionDelayMs: 10_000 });
    const first = anOutbox(offline);
    const pending = first.enqueue(aSend(conversationId, 'written offline'));
    await waitFor(() => first.itemsOf(conversationId).length === 1);
    first.stop();
    offline.close();

    const second = anOutbox();
    await second.start();
    await waitFor(() => gateway.entriesOf(conversationId).length === 1);
    await waitFor(() => second.itemsOf(conversationId).length === 0);

    expect(await pending).toMatchObject({ ok: false, error: { code: 'stopped' } });
    expect(gateway.entriesOf(conversationId).map(textOf)).toEqual(['written offline']);
    expect(await store.loadAll()).toEqual([]);
  });

  it('marks a conflicting message failed and keeps it, and still sends the next one', async () => {
    const outbox = anOutbox();
    const conversationId = aConversationId();
    const original = aSend(conversationId, 'original');
    gateway.append(conversationId, original);
    const clash = aSend(conversationId, 'other content', { clientMessageId: original.clientMessageId });
    const next = aSend(conversationId, 'next');

    const [clashResult, nextResult] = await Promise.all([outbox.enqueue(clash), outbox.enqueue(next)]);

    expect(clashResult).toEqual({ ok: false, error: { code: 'conflict', message: 'different content' } });
    expect(nextResult).toMatchObject({ ok: true, data: { seq: 2 } });
    expect(outbox.itemsOf(conversationId)).toEqual([
      expect.objectContaining({ send: clash, status: 'failed', lastError: { code: 'conflict', message: 'different content' } }),
    ]);
    expect((await store.loadAll()).map((item) => item.status)).toEqual(['failed']);
  });

  it('keeps the facts of a refusal for the UI (outside_hours with the next opening)', async () => {
    const outbox = anOutbox();
    const conversationId = aConversationId();
    const refusal = { code: 'outside_hours' as const, message: 'The practice is closed.', details: { nextOpening: '2026-12-07T08:00:00.000Z' } };
    gateway.sendRefusal = refusal;

    const result = await outbox.enqueue(aSend(conversationId, 'one more question'));

    expect(result).toEqual({ ok: false, error: refusal });
    expect(outbox.itemsOf(conversationId)).toEqual([expect.objectContaining({ status: 'failed', lastError: refusal })]);
  });

  it('removes a failed message only when asked to', async () => {
    const outbox = anOutbox();
    const conversationId = aConversationId();
    const original = aSend(conversationId, 'original');
    gateway.append(conversationId, original);
    await outbox.enqueue(aSend(conversationId, 'clash', { clientMessageId: original.clientMessageId }));

    const isDiscarded = await outbox.discard(original.clientMessageId);

    expect(isDiscarded).toBe(true);
    expect(outbox.itemsOf(conversationId)).toEqual([]);
    expect(await store.loadAll()).toEqual([]);
  });

  it('refuses a payload that breaks the protocol schema without storing or sending it', async () => {
    const outbox = anOutbox();
    const conversationId = aConversationId();

    const result: OutboxResult = await outbox.enqueue(aSend(conversationId, 'x', { nonce: 'too-short' }));

    expect(result).toMatchObject({ ok: false, error: { code: 'invalid_payload' } });
    expect(await store.loadAll()).toEqual([]);
    expect(sentIds()).toEqual([]);
  });
});
