import type { ConversationSync } from '@parley/protocol';
import { ConversationFeed, MemoryFeedCursorStore, ParleyClient, type EntryCodec, type FeedEntry } from '../src/index.js';
import { aConversationId, aSend, aTextCodec, waitFor } from './factories.js';
import { FakeGateway } from './fake-gateway.js';

const FAST = { requestTimeoutMs: 300, reconnectionDelayMs: 20, reconnectionDelayMaxMs: 40 };

describe(ConversationFeed.name, () => {
  let gateway: FakeGateway;
  let client: ParleyClient;
  let cursorStore: MemoryFeedCursorStore;
  let conversationId: string;
  let received: FeedEntry<string>[];
  const feeds: ConversationFeed<string>[] = [];
  const aFeed = (codec: EntryCodec<string> = aTextCodec()) => {
    const feed = new ConversationFeed({ client, conversationId, codec, cursorStore, onEntry: (entry) => received.push(entry), receiptIntervalMs: 20 });
    feeds.push(feed);
    return feed;
  };
  const post = (...texts: string[]) => texts.map((text) => gateway.append(conversationId, aSend(conversationId, text)));
  const postUnrelayed = (...texts: string[]) => texts.map((text) => gateway.append(conversationId, aSend(conversationId, text), { isRelayed: false }));
  const seqs = () => received.map((entry) => entry.seq);
  const texts = () => received.map((entry) => (entry.ok ? entry.value : `!${entry.error.code}`));
  const syncs = () => gateway.commandsNamed('conversation:sync') as ConversationSync[];

  beforeEach(async () => {
    gateway = await FakeGateway.start();
    client = await ParleyClient.connect({ url: gateway.url, ...FAST });
    cursorStore = new MemoryFeedCursorStore();
    conversationId = aConversationId();
    received = [];
  });

  afterEach(async () => {
    for (const feed of feeds.splice(0)) feed.stop();
    client.close();
    await gateway.close();
  });

  it('joins before it syncs, hands over the history then relayed messages in order, and records how far it got', async () => {
    post('one', 'two');
    const feed = aFeed();

    const outcome = await feed.start();
    post('three');
    await waitFor(() => received.length === 3);
    await waitFor(() => gateway.receipts.at(-1)?.upToSeq === 3);

    expect(outcome).toEqual({ ok: true });
    expect(gateway.commands.map((command) => command.event).slice(0, 2)).toEqual(['conversation:join', 'conversation:sync']);
    expect(texts()).toEqual(['one', 'two', 'three']);
    expect(feed.lastSeq).toBe(3);
    expect(await cursorStore.load(conversationId)).toBe(3);
    expect(gateway.receipts.at(-1)).toEqual({ conversationId, kind: 'delivered', upToSeq: 3 });
  });

  it('pages through a long history', async () => {
    post(...Array.from({ length: 7 }, (_, index) => `m${index + 1}`));
    const feed = new ConversationFeed({ client, conversationId, codec: aTextCodec(), cursorStore, onEntry: (entry) => received.push(entry), pageSize: 3 });
    feeds.push(feed);

    await feed.start();

    expect(seqs()).toEqual([1, 2, 3, 4, 5, 6, 7]);
    expect(syncs().map((sync) => sync.afterSeq)).toEqual([0, 3, 6]);
  });

  it('merges messages relayed while the first sync is under way, each once', async () => {
    const [, two] = post('one', 'two');
    gateway.beforeSyncAnswer = () => {
      gateway.beforeSyncAnswer = () => undefined;
      post('three');
      if (two) gateway.relay(two);
    };
    const feed = aFeed();

    await feed.start();
    await waitFor(() => received.length === 3);

    expect(texts()).toEqual(['one', 'two', 'three']);
  });

  it('syncs when a relayed message reveals a gap', async () => {
    const feed = aFeed();
    await feed.start();
    post('one');
    await waitFor(() => received.length === 1);

    postUnrelayed('two (missed)');
    post('three');
    await waitFor(() => received.length === 3);

    expect(texts()).toEqual(['one', 'two (missed)', 'three']);
    expect(syncs().map((sync) => sync.afterSeq)).toEqual([0, 1]);
  });

  it('re-joins and syncs after a reconnection, handing over what it missed exactly once and in order', async () => {
    post('one', 'two');
    const feed = aFeed();
    await feed.start();

    gateway.cutTransports();
    post('three', 'four', 'five');
    await waitFor(() => received.length === 5);
    post('six');
    await waitFor(() => received.length === 6);

    expect(seqs()).toEqual([1, 2, 3, 4, 5, 6]);
    expect(gateway.commandsNamed('conversation:join')).toHaveLength(2);
  });

  it('reports an entry the codec cannot open and still hands over the later ones', async () => {
    post('one', 'forged', 'three');
    const feed = aFeed(aTextCodec(['forged']));

    await feed.start();

    expect(received).toEqual([
      expect.objectContaining({ ok: true, seq: 1, value: 'one' }),
      expect.objectContaining({ ok: false, seq: 2, error: { code: 'open_failed', message: 'bad_signature', cause: expect.any(Error) } }),
      expect.objectContaining({ ok: true, seq: 3, value: 'three' }),
    ]);
  });

  it('never claims delivery past an entry it could not open', async () => {
    post('one', 'forged', 'three');
    const feed = aFeed(aTextCodec(['forged']));

    await feed.start();
    await waitFor(() => gateway.receipts.length > 0);
    await new Promise((resolve) => setTimeout(resolve, 100));

    expect(received).toHaveLength(3);
    expect(gateway.receipts.map((receipt) => receipt.upToSeq)).toEqual([1]);
  });

  it('keeps readableSeq before an entry it could not open, so a read receipt can be clamped to it', async () => {
    post('one', 'two', 'forged', 'four');
    const feed = aFeed(aTextCodec(['forged']));

    await feed.start();
    const beforeFailure = feed.readableSeq;
    post('five');
    await waitFor(() => received.length === 5);

    expect(beforeFailure).toBe(2);
    expect(feed.lastSeq).toBe(5);
    expect(feed.readableSeq).toBe(2);
  });

  it('stores its cursor before an entry it could not open, so a restart tries it again and claims nothing past it', async () => {
    post('one', 'forged', 'three');
    await aFeed(aTextCodec(['forged'])).start();
    await waitFor(() => gateway.receipts.length > 0);
    received = [];

    const restarted = aFeed(aTextCodec(['forged']));
    await restarted.start();
    await new Promise((resolve) => setTimeout(resolve, 100));

    expect(await cursorStore.load(conversationId)).toBe(1);
    expect(seqs()).toEqual([2, 3]);
    expect(restarted.readableSeq).toBe(1);
    expect(Math.max(...gateway.receipts.map((receipt) => receipt.upToSeq))).toBe(1);
  });

  it('moves readableSeq with every entry opened in order', async () => {
    post('one', 'two');
    const feed = aFeed();

    await feed.start();
    post('three');
    await waitFor(() => received.length === 3);

    expect(feed.readableSeq).toBe(3);
  });

  it('resumes after the stored last seq', async () => {
    post('one', 'two', 'three', 'four');
    await cursorStore.save(conversationId, 2);
    const feed = aFeed();

    await feed.start();

    expect(seqs()).toEqual([3, 4]);
    expect(syncs().map((sync) => sync.afterSeq)).toEqual([2]);
  });

  it('reports entries the server withholds as missing instead of waiting for them', async () => {
    post('one', 'two', 'three', 'four');
    gateway.withheld.add(2).add(3);
    const feed = aFeed();

    await feed.start();

    expect(received[1]).toEqual({ ok: false, seq: 2, throughSeq: 3, entry: null, error: { code: 'missing', message: 'the server has no entries 2..3' } });
    expect(texts()).toEqual(['one', '!missing', 'four']);
    expect(feed.lastSeq).toBe(4);
  });
});
