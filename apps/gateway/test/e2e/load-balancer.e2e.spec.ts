import { createServer, type IncomingMessage, type Server } from 'node:http';
import { connect, type AddressInfo, type Socket } from 'node:net';
import { startLoadBalancer, type LoadBalancer } from '../../../../infra/local/load-balancer.mjs';
import { startTestApp, type TestApp } from '../app.js';
import { anOdsCode, api } from '../factories.js';

/** A stand-in backend: `/health/ready` answers `ready`'s status, other paths echo who answered and the forwarded address; upgrades echo bytes. */
async function aBackend(
  name: string,
): Promise<{ name: string; port: number; ready: { status: number }; seen: string[]; server: Server; stop(): Promise<void> }> {
  const ready = { status: 200 };
  const seen: string[] = [];
  const server = createServer((request: IncomingMessage, response) => {
    if (request.url === '/health/ready') return void response.writeHead(ready.status).end();
    seen.push(String(request.headers['x-forwarded-for']));
    response.writeHead(200, { 'content-type': 'text/plain' }).end(name);
  });
  server.on('upgrade', (_request, socket) => {
    socket.write('HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n');
    socket.on('data', (chunk: Buffer) => socket.write(`${name}:${chunk.toString()}`));
  });
  // Upgraded sockets leave the server's books: keep them, so stop() can end every connection.
  const sockets = new Set<Socket>();
  server.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const stop = async () => {
    if (!server.listening) return;
    const closed = new Promise((resolve) => server.close(resolve));
    for (const socket of sockets) socket.destroy();
    await closed;
  };
  return { name, port: (server.address() as AddressInfo).port, ready, seen, server, stop };
}

describe('the loopback load balancer of infra/local (real sockets)', () => {
  let backends: Awaited<ReturnType<typeof aBackend>>[];
  let balancer: LoadBalancer;

  beforeAll(async () => {
    backends = [await aBackend('node1'), await aBackend('node2')];
    balancer = await startLoadBalancer({ backends: backends.map(({ name, port }) => ({ name, host: '127.0.0.1', port })), healthIntervalMs: 100 });
  });

  afterAll(async () => {
    await balancer?.close();
    for (const backend of backends) await backend.stop();
  });

  it('sets a stickiness cookie and sends requests that carry it back to the same node, with X-Forwarded-For', async () => {
    const first = await fetch(`${balancer.url}/anything`, { headers: { 'x-forwarded-for': '203.0.113.9' } });
    const name = await first.text();
    const cookie = first.headers.get('set-cookie') ?? '';
    const again = await Promise.all(
      Array.from({ length: 5 }, async () => (await fetch(`${balancer.url}/x`, { headers: { cookie: cookie.split(';')[0]! } })).text()),
    );

    expect(cookie).toMatch(new RegExp(`^parley_node=${name}; Path=/`));
    expect(again).toEqual(Array(5).fill(name));
    expect(backends.find((backend) => backend.name === name)!.seen[0]).toBe('203.0.113.9, 127.0.0.1');
  });

  it('relays a WebSocket upgrade both ways and spreads new sockets over the healthy nodes', async () => {
    const open = () =>
      new Promise<string>((resolve, reject) => {
        const socket = connect(balancer.port, '127.0.0.1', () =>
          socket.write('GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n'),
        );
        let received = '';
        socket.on('data', (chunk: Buffer) => {
          received += chunk.toString();
          if (received.includes('\r\n\r\n') && !received.includes(':ping')) socket.write('ping');
          if (received.includes(':ping')) {
            socket.destroy();
            resolve(received.split('\r\n\r\n')[1]!);
          }
        });
        socket.on('error', reject);
      });

    const answers = await Promise.all([open(), open()]);

    expect(answers.sort()).toEqual(['node1:ping', 'node2:ping']);
  });

  it('takes a node that is not ready out of rotation, and moves a sticky client when its node refuses connections', async () => {
    const [node1, node2] = backends as [Awaited<ReturnType<typeof aBackend>>, Awaited<ReturnType<typeof aBackend>>];
    node1.ready.status = 503;
    await balancer.checkNow();
    const whileDraining = await Promise.all(Array.from({ length: 4 }, async () => (await fetch(`${balancer.url}/x`)).text()));
    node1.ready.status = 200;
    await balancer.checkNow();
    await node2.stop();
    const stickyToStopped = await fetch(`${balancer.url}/x`, { headers: { cookie: 'parley_node=node2' } });

    expect(whileDraining).toEqual(Array(4).fill('node2'));
    expect(await stickyToStopped.text()).toBe('node1');
    expect(balancer.stats()['node2']!.isHealthy).toBe(false);
  });
});

describe('per-IP sign-in limits behind the balancer (TRUST_PROXY, in-process gateway)', () => {
  let gateway: TestApp;
  let balancer: LoadBalancer;

  beforeAll(async () => {
    gateway = await startTestApp({ TRUST_PROXY: 'loopback', SIGN_IN_MAX_FAILURES_PER_IP: '2' });
    balancer = await startLoadBalancer({ backends: [{ name: 'node1', host: '127.0.0.1', port: Number(new URL(gateway.url).port) }] });
  });

  afterAll(async () => {
    await balancer?.close();
    await gateway?.close();
  });

  it('counts failures per client address from X-Forwarded-For, not per balancer', async () => {
    const lookUp = (clientAddress: string, n: number) =>
      api(balancer.url, 'POST', '/api/auth/invitation', {
        body: { practice: anOdsCode(), code: `WRONGCODE${n}` },
        headers: { 'x-forwarded-for': clientAddress },
      });

    const first = [await lookUp('203.0.113.7', 1), await lookUp('203.0.113.7', 2), await lookUp('203.0.113.7', 3)];
    const other = await lookUp('198.51.100.4', 4);

    expect(first.map((response) => response.status)).toEqual([401, 401, 429]);
    expect(other.status).toBe(401);
  });
});
