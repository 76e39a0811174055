import type { ConversationSync } from '@parley/protocol';
import type { Socket } from 'socket.io';
import { ConversationFeed, MemoryFeedCursorStore, ParleyClient, type EntryCodec, type FeedEntry, type FeedError } from '../src/index.js';
import { aConversationId, aSend, aTextCodec, settle, waitFor } from './factories.js';
import { FakeGateway } from './fake-gateway.js';

const FAST = { requestTimeoutMs: 300, reconnectionDelayMs: 20, reconnectionDelayMaxMs: 40 };
const FAST_BACKOFF = { baseMs: 10, maxMs: 40 };

describe(ConversationFeed.name, () => {
  let gateway: FakeGateway;
  let client: ParleyClient;
  let cursorStore: MemoryFeedCursorStore;
  let conversationId: string;
  let received: FeedEntry<string>[];
  const feeds: ConversationFeed<string>[] = [];
  const aFeed = (codec: EntryCodec<string> = aTextCodec(), over: ParleyClient = client) => {
    const feed = new ConversationFeed({
      client: over,
      conversationId,
      codec,
      cursorStore,
      onEntry: (entry) => received.push(entry),
      onError: (error) => errors.push(error),
      receiptIntervalMs: 20,
      backoff: FAST_BACKOFF,
    });
    feeds.push(feed);
    return feed;
  };
  let errors: FeedError[];
  /** Runs before the fake gateway sees each command, on every socket; returning false swallows the command (no handler, no ack). */
  const intercept = (hook: (event: string, args: unknown[]) => boolean) => {
    const install = (socket: Socket) => socket.use(([event, ...args], next) => (hook(event, args) ? next() : undefined));
    for (const socket of gateway.io.sockets.sockets.values()) install(socket);
    gateway.io.on('connection', install);
  };
  const joins = () => gateway.commandsNamed('conversation:join').length;
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
    errors = [];
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

  // One test per transition of the table in ConversationFeed's doc comment, through real sockets (feed-state.spec.ts checks the table itself).
  describe('transitions', () => {
    it('idle, stop: a feed stopped before it started resolves start() as stopped and sends nothing', async () => {
      post('one');
      const feed = aFeed();

      feed.stop();
      const outcome = await feed.start();

      expect(outcome).toEqual({ ok: false, error: { code: 'stopped', message: 'the feed was stopped' } });
      expect(gateway.commands).toEqual([]);
      expect(received).toEqual([]);
    });

    it('loading, stop: a feed stopped while its cursor loads never subscribes nor joins', async () => {
      post('one');
      const feed = aFeed();

      const started = feed.start();
      feed.stop();
      post('two');
      await settle(50);

      expect(await started).toEqual({ ok: false, error: { code: 'stopped', message: 'the feed was stopped' } });
      expect(gateway.commands).toEqual([]);
      expect(received).toEqual([]);
    });

    it('loading, loaded (not online), then offline, online: a feed started before the client connects joins once when it does', async () => {
      post('one', 'two');
      const late = ParleyClient.create({ url: gateway.url, ...FAST });
      try {
        const feed = aFeed(aTextCodec(), late);

        const outcome = await feed.start();
        await settle(50);

        expect(outcome).toEqual({ ok: true });
        expect(texts()).toEqual(['one', 'two']);
        // The connection raises state-changed and resync-needed in one turn: the queued pass takes both.
        expect(joins()).toBe(1);
      } finally {
        late.close();
      }
    });

    it('queued, resync: resync() calls made in one turn are one pass, and each resolves when it ends', async () => {
      post('one');
      const feed = aFeed();
      await feed.start();

      const first = feed.resync();
      const second = feed.resync();
      post('two');
      await Promise.all([first, second]);
      await waitFor(() => received.length === 2);

      expect(joins()).toBe(2);
      expect(texts()).toEqual(['one', 'two']);
    });

    it('syncing, resync: a resync asked during a sync is one more pass with a join after it', async () => {
      post('one');
      const feed = aFeed();
      await feed.start();
      let resyncsAsked = 0;
      gateway.beforeSyncAnswer = () => {
        gateway.beforeSyncAnswer = () => undefined;
        resyncsAsked += 1;
        post('two');
        void feed.resync();
      };

      await feed.resync();

      expect(resyncsAsked).toBe(1);
      expect(joins()).toBe(3);
      expect(texts()).toEqual(['one', 'two']);
    });

    it('syncing, synced with a gap left: a live entry relayed past a missed one during the backfill is followed by another sync', async () => {
      post('one', 'two');
      gateway.beforeSyncAnswer = () => {
        gateway.beforeSyncAnswer = () => undefined;
        postUnrelayed('three (missed)');
        post('four');
      };
      const feed = aFeed();

      await feed.start();
      await waitFor(() => received.length === 4);

      expect(texts()).toEqual(['one', 'two', 'three (missed)', 'four']);
      expect(syncs().map((sync) => sync.afterSeq)).toEqual([0, 2]);
      expect(joins()).toBe(1);
    });

    it('live, gap: a relayed entry that skips a seq starts a sync without a join', async () => {
      const feed = aFeed();
      await feed.start();
      post('one');
      await waitFor(() => received.length === 1);

      postUnrelayed('two (missed)');
      post('three');
      await waitFor(() => received.length === 3);

      expect(texts()).toEqual(['one', 'two (missed)', 'three']);
      expect(joins()).toBe(1);
    });

    it('live: an entry relayed again, delivered or still held, is handed over once', async () => {
      const [one, two] = post('one', 'two');
      const feed = aFeed();
      await feed.start();

      if (one && two) [one, two, one].forEach((entry) => gateway.relay(entry));
      const [three] = post('three');
      if (three) gateway.relay(three);
      post('four');
      await waitFor(() => received.length >= 4);

      expect(texts()).toEqual(['one', 'two', 'three', 'four']);
    });

    it('live, online: a reconnection socket.io recovered neither re-joins nor loses what was relayed', async () => {
      await gateway.close();
      client.close();
      gateway = await FakeGateway.start({ isRecovering: true });
      client = await ParleyClient.connect({ url: gateway.url, ...FAST });
      let resyncs = 0;
      client.on('resync-needed', () => (resyncs += 1));
      const feed = aFeed();
      await feed.start();
      post('one');
      await waitFor(() => received.length === 1);

      gateway.cutTransports();
      await waitFor(() => client.connectionState === 'offline');
      await waitFor(() => client.connectionState === 'online');
      post('two');
      await waitFor(() => received.length === 2);

      expect(resyncs).toBe(0);
      expect(joins()).toBe(1);
      expect(texts()).toEqual(['one', 'two']);
    });

    it('syncing, lost or faulted: a reconnection during the sync re-joins and hands over each entry once, in order', async () => {
      post('one', 'two');
      gateway.beforeSyncAnswer = () => {
        gateway.beforeSyncAnswer = () => undefined;
        gateway.cutTransports();
        postUnrelayed('three');
      };
      const feed = aFeed();

      const outcome = await feed.start();
      await waitFor(() => received.length === 3);

      expect(outcome).toEqual({ ok: true });
      expect(texts()).toEqual(['one', 'two', 'three']);
      expect(joins()).toBe(2);
    });

    it('joining, faulted, retrying, backoff-over: a join that times out is tried again after the backoff', async () => {
      post('one');
      let joinsSeen = 0;
      intercept((event) => event !== 'conversation:join' || (joinsSeen += 1) > 1);
      const feed = aFeed();

      const outcome = await feed.start();

      expect(outcome).toEqual({ ok: true });
      expect(joinsSeen).toBe(2);
      expect(texts()).toEqual(['one']);
      expect(errors).toEqual([]);
    });

    it('joining, refused, then online: a refused join settles start() with the refusal, and the next reconnection tries again', async () => {
      post('one');
      let joinsSeen = 0;
      intercept((event, args) => {
        if (event !== 'conversation:join' || (joinsSeen += 1) > 1) return true;
        const ack = args.at(-1) as (answer: unknown) => void;
        ack({ ok: false, error: { code: 'not_found', message: 'no such conversation' } });
        return false;
      });
      const feed = aFeed();

      const outcome = await feed.start();
      gateway.cutTransports();
      await waitFor(() => received.length === 1);

      expect(outcome).toEqual({ ok: false, error: { code: 'not_found', message: 'no such conversation' } });
      expect(errors).toEqual([{ code: 'not_found', message: 'no such conversation' }]);
      expect(joinsSeen).toBe(2);
      expect(texts()).toEqual(['one']);
    });

    it('syncing, stop: a feed stopped during its sync hands nothing over, sends no receipt and settles start() as stopped', async () => {
      post('one', 'two');
      const feed = aFeed();
      gateway.beforeSyncAnswer = () => feed.stop();

      const outcome = await feed.start();
      post('three');
      gateway.cutTransports();
      await waitFor(() => client.connectionState === 'online');
      await settle(50);

      expect(outcome).toEqual({ ok: false, error: { code: 'stopped', message: 'the feed was stopped' } });
      expect(received).toEqual([]);
      expect(gateway.receipts).toEqual([]);
      expect(gateway.commands.map((command) => command.event)).toEqual(['conversation:join', 'conversation:sync']);
    });
  });
});
