import { randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { startTcpProxy, type TcpProxy } from '../src/index.js';
import { connectTo, pause, trackTimers, startEchoServer, type EchoServer, type TestClient } from './sockets.js';

/** How long a test waits to be sure that something does not happen. */
const QUIET_MS = 250;

describe(startTcpProxy.name, () => {
  let backendA: EchoServer;
  let backendB: EchoServer;
  let proxy: TcpProxy;
  const clients: TestClient[] = [];
  const connect = async () => {
    const client = await connectTo(proxy.port);
    clients.push(client);
    return client;
  };

  beforeEach(async () => {
    backendA = await startEchoServer('a');
    backendB = await startEchoServer('b');
    proxy = await startTcpProxy({ target: { host: '127.0.0.1', port: backendA.port } });
  });

  afterEach(async () => {
    for (const client of clients.splice(0)) client.socket.destroy();
    await proxy.close();
    await backendA.close();
    await backendB.close();
  });

  it('listens on a loopback port and forwards bytes both ways, unchanged', async () => {
    const payload = randomBytes(1024 * 1024).toString('latin1');
    const client = await connect();

    client.socket.write(payload, 'latin1');
    await client.receive(payload, 5_000);

    expect(proxy.url).toBe(`http://127.0.0.1:${proxy.port}`);
    expect(backendA.received()).toBe(payload);
    expect(client.received()).toBe(`a\n${payload}`);
    expect(proxy.connectionCount).toBe(1);
  });

  it('cut() closes every connection on both sides and still accepts new ones', async () => {
    const first = await connect();
    const second = await connect();
    await Promise.all([first.receive('a\n'), second.receive('a\n')]);

    proxy.cut();
    await Promise.all([first.closed, second.closed]);
    const third = await connect();
    third.socket.write('again');
    await third.receive('again');

    expect(third.received()).toBe('a\nagain');
    expect(backendA.accepted).toBe(3);
    expect(backendA.openCount).toBe(1);
    expect(proxy.connectionCount).toBe(1);
  });

  describe('blackhole()', () => {
    it('drops bytes both ways without closing the connection, and lets new data through once off', async () => {
      const client = await connect();
      await client.receive('a\n');

      proxy.blackhole(true);
      client.socket.write('lost');
      const isEchoed = await client.receive('lost', QUIET_MS).then(
        () => true,
        () => false,
      );
      const isClosed = client.socket.destroyed;
      proxy.blackhole(false);
      client.socket.write('found');
      await client.receive('found');

      expect(isEchoed).toBe(false);
      expect(isClosed).toBe(false);
      expect(client.received()).toBe('a\nfound');
      expect(backendA.openCount).toBe(1);
    });

    it('drops the bytes still delayed when it opens', async () => {
      const client = await connect();
      await client.receive('a\n');
      proxy.delay(QUIET_MS);

      client.socket.write('in flight');
      await pause(QUIET_MS / 2);
      proxy.blackhole(true);
      await pause(QUIET_MS * 2);
      proxy.blackhole(false);

      expect(backendA.received()).toBe('');
      expect(client.received()).toBe('a\n');
      expect(proxy.connectionCount).toBe(1);
    });

    it('accepts new connections but never forwards them', async () => {
      proxy.blackhole(true);

      const client = await connect();
      client.socket.write('hello?');
      const isGreeted = await client.receive('a\n', QUIET_MS).then(
        () => true,
        () => false,
      );
      proxy.blackhole(false);
      const isGreetedAfter = await client.receive('a\n', QUIET_MS).then(
        () => true,
        () => false,
      );

      expect(isGreeted).toBe(false);
      expect(isGreetedAfter).toBe(false);
      expect(backendA.accepted).toBe(0);
      expect(proxy.connectionCount).toBe(1);
    });

    it('hides a close from the other side, and resets that side once off', async () => {
      const client = await connect();
      await client.receive('a\n');

      proxy.blackhole(true);
      client.socket.destroy();
      await client.closed;
      await pause(QUIET_MS);
      const isBackendStillOpen = backendA.openCount === 1;
      proxy.blackhole(false);
      await waitUntil(() => backendA.openCount === 0);

      expect(isBackendStillOpen).toBe(true);
      expect(proxy.connectionCount).toBe(0);
    });
  });

  describe('delay()', () => {
    const DELAY_MS = 150;

    it('holds each chunk for at least the delay, in each direction', async () => {
      const client = await connect();
      await client.receive('a\n');
      proxy.delay(DELAY_MS);

      const sentAt = performance.now();
      client.socket.write('ping');
      await client.receive('ping');
      const roundTripMs = performance.now() - sentAt;

      // there and back: twice the delay (less a millisecond of clock granularity)
      expect(roundTripMs).toBeGreaterThanOrEqual(2 * DELAY_MS - 1);
    });

    it('keeps the order when the delay is shortened', async () => {
      const client = await connect();
      await client.receive('a\n');

      proxy.delay(DELAY_MS);
      client.socket.write('first,');
      await pause(20);
      proxy.delay(0);
      client.socket.write('second');
      await client.receive('second');

      expect(client.received()).toBe('a\nfirst,second');
    });
  });

  it('setTarget() cuts current connections and sends new ones to the new backend', async () => {
    const before = await connect();
    await before.receive('a\n');

    proxy.setTarget({ host: '127.0.0.1', port: backendB.port });
    await before.closed;
    const after = await connect();
    after.socket.write('hi');
    await after.receive('hi');

    expect(after.received()).toBe('b\nhi');
    expect(backendA.accepted).toBe(1);
    expect(backendB.accepted).toBe(1);
    await waitUntil(() => backendA.openCount === 0);
  });

  it('closes the client connection when the backend refuses it', async () => {
    await backendA.close();

    const client = await connect();

    await client.closed;
    expect(proxy.connectionCount).toBe(0);
  });

  it('close() stops listening and leaves no socket or timer behind', async () => {
    const baseline = await activeSockets();
    const timers = trackTimers('/src/tcp-proxy.ts');
    const other = await startTcpProxy({ target: { host: '127.0.0.1', port: backendA.port } });
    const forwarded = await connectTo(other.port);
    await forwarded.receive('a\n');
    other.delay(10_000);
    forwarded.socket.write('never delivered');
    await pause(50); // the chunk now waits in the proxy, on a timer
    other.blackhole(true);
    const hanging = await connectTo(other.port);

    await other.close();
    await Promise.all([forwarded.closed, hanging.closed]);
    await waitUntil(() => backendA.openCount === 0);
    const refused = await connectTo(other.port).then(
      (client) => (client.socket.destroy(), false),
      () => true,
    );

    expect(refused).toBe(true);
    expect(other.connectionCount).toBe(0);
    const sockets = await activeSockets(); // also lets the destroy hooks of cleared timers run
    timers.stop();
    expect(sockets).toEqual(baseline);
    expect(timers.pendingCount()).toBe(0);
  });
});

/** Polls until `condition` holds; rejects after `timeoutMs`. */
async function waitUntil(condition: () => boolean, timeoutMs = 2_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/**
 * Kinds of the live TCP handles (sockets and servers) in this process, sorted, once those closing have gone. Timers
 * are left out: when jest runs one file it runs it in its own process, next to its reporters' timers.
 */
async function activeSockets(): Promise<string[]> {
  // Closed handles leave in the event loop's close phase, which comes after the check phase of setImmediate.
  for (let turn = 0; turn < 2; turn++) await new Promise((resolve) => setImmediate(resolve));
  return process
    .getActiveResourcesInfo()
    .filter((kind) => kind.startsWith('TCP'))
    .sort();
}
