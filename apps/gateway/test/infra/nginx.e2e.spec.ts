import { randomUUID } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { request, type IncomingHttpHeaders } from 'node:http';
import { brotliDecompressSync, gunzipSync } from 'node:zlib';
import { ParleyClient, type FeedEntry } from '@parley/client';
import { ready } from '@parley/crypto';
import type { ChatEntry } from '@parley/sdk';
import { redisKeyPrefix, startSourceAddressEntry, testRedisUrl, type SourceAddressEntry, type TestDatabase } from '@parley/testing';
import type { DataSource } from 'typeorm';
import { freePort, startCluster, type Cluster } from '../../../../infra/local/cluster.mjs';
import { DEFAULT_STAFF_HOST, findNginx, PARLEY_CONF, startNginx, type Nginx } from '../../../../infra/local/nginx.mjs';
import { openDatabase } from '../../src/database/data-source.js';
import { startTestApp, type TestApp } from '../app.js';
import { follow, patientChat, staffChat, waitForAssignment, type Chatter } from '../chat.js';
import { freshDatabase } from '../database.js';
import { activatePatient, anOdsCode, createPracticeWithManager, createPracticeWithStaff, type TestPractice, type TestStaff } from '../factories.js';
import { describeIf, missingRedis } from '../environment.js';
import { waitUntil } from '../wait.js';

// nginx from the distribution running infra/nginx/parley.conf (templated only for local addresses) in front of two
// gateway processes, Redis and PostgreSQL. Every test client would be 127.0.0.1 to nginx, and ip_hash would put them
// all on one node: each client therefore reaches nginx from its own loopback address (127.0.N.1, see
// startSourceAddressEntry), as clients on different machines would.
const nginxPath = findNginx();
const redisUrl = testRedisUrl();
const missingNginx = nginxPath ? undefined : 'nginx is not installed (apt-get install nginx; .ci/run installs it)';
const describeWithNginx = describeIf(missingNginx ?? missingRedis);

const METRICS_TOKEN = 'metrics-token-for-the-nginx-test';
/** A send stream's pace (a rate, not a wait: what the tests wait for are acknowledgements). */
const pace = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const messageBodies = (entries: FeedEntry<ChatEntry>[]) => entries.flatMap((entry) => (entry.ok && entry.value.kind === 'message' ? [entry.value.body] : []));

/** One HTTP request to `url` from `localAddress`; resolves with the status, the headers and the body (text, and the raw bytes). */
function httpFrom(
  url: string,
  localAddress: string,
  options: { method?: string; path: string; headers?: Record<string, string>; body?: string },
): Promise<{ status: number; headers: IncomingHttpHeaders; body: string; bytes: Buffer }> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const outgoing = request(
      { host: hostname, port, localAddress, method: options.method ?? 'GET', path: options.path, headers: options.headers, agent: false },
      (response) => {
        const chunks: Buffer[] = [];
        response.on('data', (chunk: Buffer) => chunks.push(chunk));
        response.once('end', () => {
          const bytes = Buffer.concat(chunks);
          resolve({ status: response.statusCode ?? 0, headers: response.headers, body: bytes.toString('utf8'), bytes });
        });
      },
    );
    outgoing.once('error', reject);
    outgoing.end(options.body);
  });
}

/** The port of the node nginx sent a probe from `address` to, read from nginx's access log (`upstream=` lists every node tried). */
async function nodePortFor(nginx: Nginx, address: string): Promise<number | undefined> {
  const probe = randomUUID();
  await httpFrom(nginx.url, address, { path: `/health/live?probe=${probe}` });
  const line = (await nginx.accessLog()).split('\n').find((entry) => entry.includes(probe));
  return Number(line?.match(/upstream=.*:(\d+)$/)?.[1]) || undefined;
}

/** The sockets a node reports for `role`, from its own /metrics (reached directly, as Prometheus does). */
async function socketsOn(url: string, role: 'patient' | 'clinician'): Promise<number> {
  const text = await (await fetch(`${url}/metrics`, { headers: { authorization: `Bearer ${METRICS_TOKEN}` } })).text();
  return Number(text.match(new RegExp(`^parley_connected_sockets\\{role="${role}"\\} (\\d+)`, 'm'))?.[1] ?? 0);
}

describeWithNginx('nginx with infra/nginx/parley.conf in front of two gateway nodes, Redis and PostgreSQL', () => {
  let database: TestDatabase;
  let dataSource: DataSource;
  let cluster: Cluster<Nginx>;
  const entries: SourceAddressEntry[] = [];
  const chats: Chatter[] = [];
  /** A client address nginx's ip_hash sends to each node: `addresses[i]` lands on `cluster.nodes[i]`. */
  const addresses: string[] = [];

  /** Waits until nginx sends `address` to node `index` again (after a failure it skips a node for fail_timeout = 5 s). */
  const waitForRoute = (address: string, index: number) =>
    waitUntil(
      async () => (await nodePortFor(cluster.balancer, address)) === cluster.nodes[index]!.port,
      `nginx to send ${address} to node ${index + 1}`,
      20_000,
    );

  /** A practice with a patient on node 1 and its clinician on node 2 (through nginx), in one assigned conversation. */
  async function patientAndClinicianOnDifferentNodes(): Promise<{ practice: TestPractice; patient: Chatter; clinician: Chatter; conversationId: string }> {
    await waitForRoute(addresses[0]!, 0);
    await waitForRoute(addresses[1]!, 1);
    const [patientEntry, clinicianEntry] = await Promise.all(
      addresses.map((address) => startSourceAddressEntry({ target: { host: '127.0.0.1', port: cluster.balancer.port }, sourceAddress: address })),
    );
    entries.push(patientEntry!, clinicianEntry!);
    const practice = await createPracticeWithStaff({ url: cluster.url, dataSource });
    const patient = await patientChat(patientEntry!.url, practice, await activatePatient(cluster.url, practice), 10_000);
    chats.push(patient);
    const clinician = await staffChat(clinicianEntry!.url, practice, practice.clinician);
    chats.push(clinician);
    const conversationId = (await patient.session.openConversation('admin')).id;
    await follow(patient, conversationId);
    await follow(clinician, conversationId);
    await waitForAssignment(clinician);
    return { practice, patient, clinician, conversationId };
  }

  const storedCounts = async (conversationId: string) =>
    (
      await dataSource.query(
        `SELECT count(*)::int AS n, count(DISTINCT client_message_id)::int AS distinct_ids FROM record_entries WHERE conversation_id = $1 AND kind = 'message'`,
        [conversationId],
      )
    )[0];

  /**
   * Sends `<prefix> <i>` every 40 ms until what `stop` returns resolves; `stop` is given `moreAcked(n)`, which resolves
   * once n more of those sends were acknowledged. Resolves with every send's result.
   */
  async function streamUntil(patient: Chatter, conversationId: string, prefix: string, stop: (moreAcked: (n: number) => Promise<void>) => Promise<unknown>) {
    let isStreaming = true;
    let acked = 0;
    const send = async (i: number) => {
      const result = await patient.session.conversation(conversationId).send(`${prefix} ${i}`);
      if (result.ok) acked += 1;
      return result;
    };
    const sends: ReturnType<typeof send>[] = [];
    const stream = (async () => {
      for (let i = 0; isStreaming; i += 1) {
        sends.push(send(i));
        await pace(40);
      }
    })();
    const moreAcked = (n: number) => {
      const target = acked + n;
      return waitUntil(
        () => acked >= target,
        () => `${n} more sends acknowledged (${acked} of ${target})`,
        30_000,
      );
    };
    await stop(moreAcked);
    isStreaming = false;
    await stream;
    const results = await Promise.all(sends);
    return { results, expected: results.map((_, i) => `${prefix} ${i}`) };
  }

  beforeAll(async () => {
    await ready();
    database = await freshDatabase();
    cluster = await startCluster({
      balancer: 'nginx',
      databaseUrl: database.url,
      redisUrl,
      // nginx reaches the nodes from 127.0.0.1 and the test clients come from other loopback addresses: trust exactly nginx.
      env: {
        LOG_LEVEL: 'info',
        REDIS_STREAM_NAME: redisKeyPrefix(),
        SHUTDOWN_GRACE_MS: '10000',
        TRUST_PROXY: '127.0.0.1',
        METRICS_TOKEN,
        SIGN_IN_MAX_FAILURES_PER_IP: '3',
      },
    });
    dataSource = await openDatabase(database.url);
    // ip_hash keys on the first three octets of the client address: find one address per node.
    for (let n = 1; n <= 40 && addresses.filter(Boolean).length < 2; n += 1) {
      const address = `127.0.${n}.1`;
      const port = await nodePortFor(cluster.balancer, address);
      const nodeIndex = cluster.nodes.findIndex((node) => node.port === port);
      if (nodeIndex >= 0 && !addresses[nodeIndex]) addresses[nodeIndex] = address;
    }
    if (!addresses[0] || !addresses[1])
      throw new Error(`no client addresses found for both nodes: ${JSON.stringify(addresses)}\n${await cluster.balancer.accessLog()}`);
  }, 90_000);

  // Each test counts the sockets on each node: the clients of the one before are gone first.
  const closeClients = async () => {
    for (const chat of chats.splice(0)) await chat.session.close();
    for (const entry of entries.splice(0)) await entry.close();
  };
  afterEach(closeClients);

  afterAll(async () => {
    await closeClients();
    await cluster?.close();
    await dataSource?.destroy();
    await database?.drop();
  });

  it('runs the production parley.conf: the rendered file differs only in the upstream servers, the listen addresses and the staff host name', async () => {
    const production = (await readFile(PARLEY_CONF, 'utf8')).split('\n');
    const rendered = (await readFile(`${cluster.balancer.dir}/parley.conf`, 'utf8')).split('\n');

    const changed = rendered.filter((line, i) => line !== production[i]).map((line) => line.trim());

    expect(rendered).toHaveLength(production.length);
    expect(changed).toEqual([
      // The template's ${PARLEY_STAFF_HOST}, in the header comment and the staff server's name.
      expect.stringContaining(`the staff app's own, ${DEFAULT_STAFF_HOST}, which`),
      `server 127.0.0.1:${cluster.nodes[0]!.port} max_fails=1 fail_timeout=5s;`,
      `server 127.0.0.1:${cluster.nodes[1]!.port} max_fails=1 fail_timeout=5s;`,
      `listen 127.0.0.1:${cluster.balancer.port} default_server;`,
      `listen 127.0.0.1:${cluster.balancer.port};`,
      `server_name ${DEFAULT_STAFF_HOST};`,
    ]);
  });

  it('relays between a patient and a clinician connected to different nodes', async () => {
    const { patient, clinician, conversationId } = await patientAndClinicianOnDifferentNodes();
    const [node1, node2] = cluster.nodes as [Cluster['nodes'][0], Cluster['nodes'][0]];

    const sent = [];
    for (let i = 0; i < 5; i += 1) {
      sent.push(await patient.session.conversation(conversationId).send(`patient ${i}`));
      sent.push(await clinician.session.conversation(conversationId).send(`clinician ${i}`));
    }
    const expected = Array.from({ length: 5 }, (_, i) => [`patient ${i}`, `clinician ${i}`]).flat();
    await waitUntil(
      () => messageBodies(patient.entries).length >= 10 && messageBodies(clinician.entries).length >= 10,
      'both sides to hold all 10 messages',
      15_000,
    );

    expect([await socketsOn(node1.url, 'patient'), await socketsOn(node2.url, 'patient')]).toEqual([1, 0]);
    expect([await socketsOn(node1.url, 'clinician'), await socketsOn(node2.url, 'clinician')]).toEqual([0, 1]);
    expect(sent.filter((result) => !result.ok)).toEqual([]);
    expect(messageBodies(patient.entries)).toEqual(expected);
    expect(messageBodies(clinician.entries)).toEqual(expected);
  }, 60_000);

  it('loses nothing in a rolling restart of both nodes under a steady send stream: every acked message is stored once and delivered', async () => {
    const { patient, clinician, conversationId } = await patientAndClinicianOnDifferentNodes();

    const restarts: { exitCode: number | null; output: string }[] = [];
    const { results, expected } = await streamUntil(patient, conversationId, 'rolling', async (moreAcked) => {
      await moreAcked(15);
      restarts.push(await cluster.restartNode(0));
      // As an operator would: the next node only once nginx sends to the restarted one again (passive checks, fail_timeout).
      await waitForRoute(addresses[0]!, 0);
      restarts.push(await cluster.restartNode(1));
      await moreAcked(15);
    });
    await waitUntil(
      () => messageBodies(clinician.entries).length >= expected.length,
      `the clinician's live feed to hold all ${expected.length} messages`,
      30_000,
    );

    expect(restarts.map((restart) => restart.exitCode)).toEqual([0, 0]);
    for (const { output } of restarts) expect(output).toMatch(/"unanswered":0,"closedSockets":[1-9]\d*.*"msg":"drained"/);
    expect(expected.length).toBeGreaterThan(40);
    expect(results.filter((result) => !result.ok)).toEqual([]);
    expect(await storedCounts(conversationId)).toEqual({ n: expected.length, distinct_ids: expected.length });
    expect(messageBodies(clinician.entries)).toEqual(expected);
    expect(clinician.entries.filter((entry) => !entry.ok)).toEqual([]);
  }, 120_000);

  it('moves the clients of a killed node to the other one through nginx, with nothing lost or stored twice', async () => {
    const { patient, clinician, conversationId } = await patientAndClinicianOnDifferentNodes();
    const node2 = cluster.nodes[1]!;

    // SIGKILL the patient's node mid-stream (no drain), then start it again as a supervisor would, once the patient
    // is back through nginx on the other node (a fast restart would otherwise let ip_hash take it home again).
    const { results, expected } = await streamUntil(patient, conversationId, 'killed', async (moreAcked) => {
      await moreAcked(15);
      await cluster.restartNode(0, 'SIGKILL', {
        whileDown: () => waitUntil(async () => (await socketsOn(node2.url, 'patient')) === 1, 'the patient on the other node', 20_000),
      });
      await moreAcked(15);
    });
    const reply = await clinician.session.conversation(conversationId).send('reply after the kill');
    await waitUntil(
      () => messageBodies(clinician.entries).length >= expected.length + 1,
      `the clinician's live feed to hold all ${expected.length + 1} messages`,
      30_000,
    );
    await waitUntil(() => messageBodies(patient.entries).includes('reply after the kill'), 'the reply to reach the patient', 15_000);

    expect(await socketsOn(node2.url, 'patient')).toBe(1);
    expect(results.filter((result) => !result.ok)).toEqual([]);
    expect(reply).toMatchObject({ ok: true });
    expect(await storedCounts(conversationId)).toEqual({ n: expected.length + 1, distinct_ids: expected.length + 1 });
    expect(messageBodies(clinician.entries)).toEqual([...expected, 'reply after the kill']);
  }, 120_000);

  it('counts sign-in failures per client address from the X-Forwarded-For nginx sets (TRUST_PROXY=127.0.0.1), and a forged one does not help', async () => {
    const [first, second] = addresses as [string, string];
    const lookUp = (address: string, forged: string) =>
      httpFrom(cluster.url, address, {
        method: 'POST',
        path: '/api/auth/invitation',
        headers: { 'content-type': 'application/json', 'x-forwarded-for': forged },
        body: JSON.stringify({ practice: anOdsCode(), code: `WRONG${randomUUID().slice(0, 8)}` }),
      });

    // Each attempt claims a new address in its own X-Forwarded-For; nginx appends the real one, which the gateway takes.
    const fromFirst = [];
    for (let i = 0; i < 4; i += 1) fromFirst.push((await lookUp(first, `203.0.113.${i + 1}`)).status);
    const fromSecond = (await lookUp(second, '203.0.113.1')).status;

    expect(fromFirst).toEqual([401, 401, 401, 429]);
    expect(fromSecond).toBe(401);
  });

  it('keeps /metrics off the public entry: 404 through nginx, with the token and in other spellings, while the node itself serves it', async () => {
    const authorization = `Bearer ${METRICS_TOKEN}`;
    const spellings = [
      '/metrics',
      '/metrics?format=text',
      '//metrics',
      '/./metrics',
      '/%6Detrics',
      '/metrics/',
      '/metrics%2F',
      '/METRICS',
      '/Metrics',
      '/x/../metrics',
    ];

    const throughNginx = await Promise.all(
      spellings.map(async (path) => [path, (await httpFrom(cluster.url, addresses[0]!, { path, headers: { authorization } })).status]),
    );
    const direct = await fetch(`${cluster.nodes[0]!.url}/metrics`, { headers: { authorization } });

    expect(Object.fromEntries(throughNginx)).toEqual(Object.fromEntries(spellings.map((path) => [path, 404])));
    expect(direct.status).toBe(200);
    expect(await direct.text()).toContain('parley_connected_sockets');
  });

  it('passes the web clients through as the nodes send them: brotli or gzip by Accept-Encoding with Vary, hashed assets cached for a year, index.html revalidated', async () => {
    const get = (path: string, encoding: string) => httpFrom(cluster.url, addresses[0]!, { path, headers: { 'accept-encoding': encoding } });
    const plainIndex = await get('/', 'identity');
    const script = plainIndex.body.match(/src="(\/assets\/index-[\w-]+\.js)"/)?.[1];
    const staffIndex = await get('/staff/', 'gzip, deflate, br');
    const [brotliIndex, brotliScript, gzipScript, plainScript] = await Promise.all([
      get('/', 'gzip, deflate, br'),
      get(script!, 'gzip, deflate, br'),
      get(script!, 'gzip'),
      get(script!, 'identity'),
    ]);

    expect(script).toBeDefined();
    expect(plainIndex.headers['content-encoding']).toBeUndefined();
    expect(brotliIndex.headers).toMatchObject({ 'content-encoding': 'br', vary: 'Accept-Encoding', 'cache-control': 'no-cache' });
    expect(brotliIndex.headers['content-security-policy']).toContain("frame-ancestors 'none'");
    expect(brotliDecompressSync(brotliIndex.bytes).toString('utf8')).toBe(plainIndex.body);
    expect(staffIndex.headers['content-encoding']).toBe('br');
    expect(brotliDecompressSync(staffIndex.bytes).toString('utf8')).toContain('src="./assets/');
    expect(brotliScript.headers).toMatchObject({ 'content-encoding': 'br', vary: 'Accept-Encoding', 'cache-control': 'public, max-age=31536000, immutable' });
    expect(brotliScript.bytes.length).toBeLessThan(plainScript.bytes.length / 2);
    expect(brotliDecompressSync(brotliScript.bytes)).toEqual(plainScript.bytes);
    expect(gzipScript.headers['content-encoding']).toBe('gzip');
    expect(gunzipSync(gzipScript.bytes)).toEqual(plainScript.bytes);
  });
});

describeWithNginx('nginx with infra/nginx/parley.conf in front of a gateway without TRUST_PROXY', () => {
  let gateway: TestApp;
  let nginx: Nginx;

  beforeAll(async () => {
    gateway = await startTestApp({ SIGN_IN_MAX_FAILURES_PER_IP: '2' });
    nginx = await startNginx({ backends: [{ host: '127.0.0.1', port: Number(new URL(gateway.url).port) }], port: await freePort() });
  });

  afterAll(async () => {
    await nginx?.close();
    await gateway?.close();
  });

  it('ignores X-Forwarded-For: every client behind nginx shares nginx’s address and its failure limit', async () => {
    const lookUp = (address: string) =>
      httpFrom(nginx.url, address, {
        method: 'POST',
        path: '/api/auth/invitation',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ practice: anOdsCode(), code: `WRONG${randomUUID().slice(0, 8)}` }),
      });

    const fromFirst = [(await lookUp('127.0.1.1')).status, (await lookUp('127.0.1.1')).status];
    const fromSecond = (await lookUp('127.0.2.1')).status;

    expect(fromFirst).toEqual([401, 401]);
    expect(fromSecond).toBe(429);
  });
});

describeIf(missingNginx)('nginx with infra/nginx/parley.conf in front of a gateway with its own staff origin (STAFF_PUBLIC_URL)', () => {
  const PATIENT_HOST = 'chat.parley.test';
  const STAFF_HOST = 'staff.parley.test';
  let gateway: TestApp;
  let nginx: Nginx;
  let port: number;
  let manager: TestStaff;
  const clients: ParleyClient[] = [];
  const get = (host: string, path: string) => httpFrom(nginx.url, '127.0.0.1', { path, headers: { host: `${host}:${port}`, 'accept-encoding': 'identity' } });

  beforeAll(async () => {
    await ready();
    // Origins with nginx's port, as a browser would name them: nginx passes the Host on without it ($host).
    port = await freePort();
    gateway = await startTestApp({ PUBLIC_URL: `http://${PATIENT_HOST}:${port}`, STAFF_PUBLIC_URL: `http://${STAFF_HOST}:${port}`, TRUST_PROXY: '127.0.0.1' });
    nginx = await startNginx({ backends: [{ host: '127.0.0.1', port: Number(new URL(gateway.url).port) }], port, staffHost: STAFF_HOST });
    manager = (await createPracticeWithManager(gateway)).manager;
  });

  afterAll(async () => {
    for (const client of clients) client.close();
    await nginx?.close();
    await gateway?.close();
  });

  it('takes the staff host in its staff server and passes its name on: the staff app at /, and no /staff/ on the patient host', async () => {
    const staffRoot = await get(STAFF_HOST, '/');
    const patientRoot = await get(PATIENT_HOST, '/');
    const patientStaffPath = await get(PATIENT_HOST, '/staff/');
    const staffMetrics = await get(STAFF_HOST, '/metrics');
    const log = await nginx.accessLog();

    expect(staffRoot.status).toBe(200);
    expect(staffRoot.body).toBe(await readFile(join(import.meta.dirname, '../../../staff/dist/index.html'), 'utf8'));
    expect(patientRoot.body).toBe(await readFile(join(import.meta.dirname, '../../../patient/dist/index.html'), 'utf8'));
    expect(patientStaffPath.status).toBe(404);
    expect(staffMetrics.status).toBe(404);
    expect(log).toMatch(new RegExp(`"GET / HTTP/1.1" 200 server=${STAFF_HOST.replaceAll('.', '\\.')} `));
    expect(log).toMatch(/"GET \/staff\/ HTTP\/1.1" 404 server=_ /);
  });

  it('accepts a socket from the staff origin through nginx (its Host without the port) and refuses one from an unknown origin', async () => {
    const connect = async (origin: string) => {
      const client = await ParleyClient.connect({
        url: nginx.url,
        token: manager.token,
        extraHeaders: { origin, host: `${STAFF_HOST}:${port}` },
        requestTimeoutMs: 2_000,
      });
      clients.push(client);
      return client;
    };

    const staff = await connect(`http://${STAFF_HOST}:${port}`);

    await expect(connect(`http://evil.parley.test:${port}`)).rejects.toThrow();
    expect(staff.isConnected).toBe(true);
  });
});
