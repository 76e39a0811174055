// A small loopback load balancer for running several gateway nodes on one machine (`npm run cluster`)
// and for the multi-node tests. It does what infra/nginx/parley.conf does in production: health-checked
// backends, sticky sessions, WebSocket upgrades, X-Forwarded-For. Node's http and net only.
import { request as httpRequest, createServer, STATUS_CODES } from 'node:http';
import { connect } from 'node:net';

const STICKY_COOKIE = 'parley_node';
const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade', 'te', 'trailer']);

/**
 * Starts the balancer. Each backend is `{ name, host, port }`. A backend takes new connections only
 * while its `/health/ready` answers 200 (checked every `healthIntervalMs`) and it accepts TCP; a
 * refused connection is retried on the next backend, so a draining or stopped node loses no request.
 * Stickiness: an HTTP response sets the cookie `parley_node`; a request carrying it goes back to that
 * node while it is healthy. Otherwise the backend with the fewest open WebSockets is chosen.
 * @param {{ backends: { name: string, host: string, port: number }[], port?: number, host?: string, healthIntervalMs?: number }} options
 */
export async function startLoadBalancer(options) {
  const host = options.host ?? '127.0.0.1';
  const intervalMs = options.healthIntervalMs ?? 500;
  /** @type {Map<string, { name: string, host: string, port: number, isHealthy: boolean, sockets: number, upgrades: number }>} */
  const backends = new Map();
  const setBackends = (list) => {
    for (const backend of list) {
      const known = backends.get(backend.name);
      backends.set(backend.name, { isHealthy: true, sockets: 0, upgrades: 0, ...known, ...backend });
    }
    for (const name of [...backends.keys()]) if (!list.some((backend) => backend.name === name)) backends.delete(name);
  };
  setBackends(options.backends);

  const check = async (backend) => {
    try {
      const response = await fetch(`http://${backend.host}:${backend.port}/health/ready`, { signal: AbortSignal.timeout(Math.max(intervalMs, 1_000)) });
      await response.arrayBuffer();
      backend.isHealthy = response.status === 200;
    } catch {
      backend.isHealthy = false;
    }
  };
  const checkAll = () => Promise.all([...backends.values()].map(check));
  await checkAll();
  let isChecking = false;
  const timer = setInterval(() => {
    if (isChecking) return;
    isChecking = true;
    void checkAll().finally(() => (isChecking = false));
  }, intervalMs);
  timer.unref();

  /** Candidates in the order to try them: the sticky node first, then the healthy ones by load, then the rest. */
  const candidates = (cookieHeader) => {
    const sticky = /(?:^|;\s*)parley_node=([^;]+)/.exec(cookieHeader ?? '')?.[1];
    const all = [...backends.values()];
    const healthy = all.filter((backend) => backend.isHealthy).sort((a, b) => a.sockets - b.sockets || a.upgrades - b.upgrades);
    const preferred = healthy.find((backend) => backend.name === sticky);
    const ordered = preferred ? [preferred, ...healthy.filter((backend) => backend !== preferred)] : healthy;
    // Unhealthy ones last: better a node that may have recovered than a certain 502.
    return [...ordered, ...all.filter((backend) => !backend.isHealthy)];
  };

  const forwardedHeaders = (incoming, remoteAddress) => {
    const headers = {};
    for (const [key, value] of Object.entries(incoming)) if (!HOP_BY_HOP.has(key) && value !== undefined) headers[key] = value;
    const prior = incoming['x-forwarded-for'];
    headers['x-forwarded-for'] = prior ? `${prior}, ${remoteAddress}` : remoteAddress;
    headers['x-forwarded-proto'] ??= 'http';
    return headers;
  };

  const server = createServer((req, res) => {
    const chunks = [];
    req.on('data', (chunk) => chunks.push(chunk));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      const headers = forwardedHeaders(req.headers, req.socket.remoteAddress ?? '');
      const tryNext = (queue) => {
        const backend = queue.shift();
        if (!backend) {
          res.writeHead(502, { 'content-type': 'text/plain' }).end('no gateway node is available\n');
          return;
        }
        const upstream = httpRequest({ host: backend.host, port: backend.port, method: req.method, path: req.url, headers }, (answer) => {
          const outHeaders = { ...answer.headers };
          const stickyCookie = `${STICKY_COOKIE}=${backend.name}; Path=/; HttpOnly; SameSite=Lax`;
          const cookies = [answer.headers['set-cookie'] ?? []].flat();
          outHeaders['set-cookie'] = [...cookies, stickyCookie];
          res.writeHead(answer.statusCode ?? 502, answer.statusMessage ?? STATUS_CODES[answer.statusCode ?? 502], outHeaders);
          answer.pipe(res);
        });
        upstream.on('error', (error) => {
          // Nothing was answered yet: a refused or reset connection goes to the next node.
          if (res.headersSent) return res.destroy(error);
          backend.isHealthy = false;
          tryNext(queue);
        });
        upstream.end(body);
      };
      tryNext(candidates(req.headers.cookie));
    });
  });

  /** Upgraded connections leave the HTTP server's books: close() destroys them itself. */
  const tunnels = new Set();
  server.on('upgrade', (req, client, head) => {
    client.on('error', () => undefined);
    tunnels.add(client);
    client.once('close', () => tunnels.delete(client));
    const headers = forwardedHeaders(req.headers, req.socket.remoteAddress ?? '');
    const lines = [`${req.method} ${req.url} HTTP/1.1`, 'Connection: Upgrade', `Upgrade: ${req.headers.upgrade ?? 'websocket'}`];
    for (const [key, value] of Object.entries(headers)) for (const one of [value].flat()) lines.push(`${key}: ${one}`);
    const preamble = `${lines.join('\r\n')}\r\n\r\n`;
    const tryNext = (queue) => {
      const backend = queue.shift();
      if (!backend) {
        client.end('HTTP/1.1 502 Bad Gateway\r\nConnection: close\r\n\r\n');
        return;
      }
      const upstream = connect({ host: backend.host, port: backend.port });
      let isConnected = false;
      // Counted from the choice, not the connect, so sockets opened together still spread over the nodes.
      backend.sockets += 1;
      upstream.once('connect', () => {
        isConnected = true;
        backend.upgrades += 1;
        upstream.write(preamble);
        if (head.length > 0) upstream.write(head);
        upstream.pipe(client).pipe(upstream);
      });
      upstream.on('error', () => {
        if (isConnected) return client.destroy();
        backend.isHealthy = false;
        tryNext(queue);
      });
      upstream.once('close', () => {
        backend.sockets -= 1;
        if (isConnected) client.destroy();
      });
      client.once('close', () => upstream.destroy());
    };
    tryNext(candidates(req.headers.cookie));
  });

  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, host, () => resolve(undefined));
  });
  const { port } = /** @type {import('node:net').AddressInfo} */ (server.address());
  return {
    url: `http://${host}:${port}`,
    port,
    setBackends,
    /** Per backend: whether it is taking new connections, WebSockets open now, and WebSockets opened in all. */
    stats: () =>
      Object.fromEntries(
        [...backends.values()].map((backend) => [backend.name, { isHealthy: backend.isHealthy, sockets: backend.sockets, upgrades: backend.upgrades }]),
      ),
    checkNow: checkAll,
    close: () =>
      new Promise((resolve) => {
        clearInterval(timer);
        server.close(() => resolve(undefined));
        server.closeAllConnections();
        for (const tunnel of tunnels) tunnel.destroy();
      }),
  };
}
