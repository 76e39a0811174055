#!/usr/bin/env node
// `npm run cluster`: the production shape (infra/compose.yaml) from local processes, for trying several
// nodes and for the multi-node tests: one PostgreSQL (DATABASE_URL, or an embedded one in .data/cluster),
// Redis (REDIS_URL, default redis://127.0.0.1:6379), N gateway nodes on their own ports, and a load balancer in
// front: nginx running infra/nginx/parley.conf when nginx is installed (as in production), otherwise the loopback
// balancer of load-balancer.mjs (sticky sessions, WebSocket upgrades, health checks).
import { spawn } from 'node:child_process';
import { mkdir } from 'node:fs/promises';
import { createServer } from 'node:net';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startLoadBalancer } from './load-balancer.mjs';
import { findNginx, startNginx } from './nginx.mjs';

const repositoryRoot = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
/** The gateway's build, as `npm start` runs it. */
export const GATEWAY_ENTRY = join(repositoryRoot, 'apps/gateway/dist/main.js');

/** A free loopback port, so that a restarted node comes back where the balancer expects it. */
export function freePort() {
  return new Promise((resolvePort, reject) => {
    const probe = createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const { port } = /** @type {import('node:net').AddressInfo} */ (probe.address());
      probe.close(() => resolvePort(port));
    });
  });
}

/** The host name nginx's staff server answers to: the nodes' STAFF_PUBLIC_URL's (docs/operations.md, "Two origins"), else its default. */
function staffHostOf(staffPublicUrl) {
  return staffPublicUrl ? new URL(staffPublicUrl).hostname : undefined;
}

/**
 * Starts one gateway process on `port` and resolves once it printed its banner and `/health/ready` answers 200.
 * @param {{ entry: string, port: number, env: Record<string, string>, readyTimeoutMs?: number }} options
 */
async function startNode({ entry, port, env, readyTimeoutMs = 60_000 }) {
  const child = spawn(process.execPath, [entry], { env: { ...process.env, ...env, PORT: String(port), HOST: '127.0.0.1' }, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.setEncoding('utf8').on('data', (chunk) => (output += chunk));
  child.stderr.setEncoding('utf8').on('data', (chunk) => (output += chunk));
  const exited = new Promise((resolveExit) => child.once('exit', (code) => resolveExit(code)));
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + readyTimeoutMs;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`gateway on :${port} exited with ${child.exitCode} before ready:\n${output}`);
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`gateway on :${port} not ready in time:\n${output}`);
    }
    // The banner shows that this process, not one still stopping on the port, is the one answering.
    const isReady =
      output.includes('Parley is running.') &&
      (await fetch(`${url}/health/ready`).then(
        (response) => response.ok,
        () => false,
      ));
    if (isReady) break;
    await new Promise((wake) => setTimeout(wake, 100));
  }
  return {
    url,
    port,
    pid: child.pid,
    output: () => output,
    /** Sends `signal` and resolves with the exit code. */
    stop: (signal = 'SIGTERM') => {
      if (child.exitCode === null) child.kill(signal);
      return exited;
    },
  };
}

/**
 * Starts the cluster. Without `databaseUrl` (or DATABASE_URL) it starts an embedded PostgreSQL in
 * `dataDir` that every node shares; without `redisUrl` the nodes are not linked (facts stay on the
 * node they were emitted on; clients still see everything after a resync). `balancer: 'nginx'` puts nginx with
 * infra/nginx/parley.conf in front (its prefix in `nginxDir`, a temporary folder by default); `'node'` (the default)
 * the loopback balancer of load-balancer.mjs.
 * @param {{ nodes?: number, port?: number, balancer?: 'nginx' | 'node', nginxDir?: string, databaseUrl?: string, redisUrl?: string, env?: Record<string, string>, firstNodeEnv?: Record<string, string>, entry?: string, dataDir?: string, log?: (line: string) => void }} [options]
 */
export async function startCluster(options = {}) {
  const log = options.log ?? (() => undefined);
  const entry = options.entry ?? GATEWAY_ENTRY;
  let embedded;
  let databaseUrl = options.databaseUrl;
  if (!databaseUrl) {
    const { EmbeddedPostgres } = await import(join(repositoryRoot, 'apps/gateway/dist/database/embedded-postgres.js'));
    const dataDir = options.dataDir ?? join(repositoryRoot, '.data/cluster');
    await mkdir(dataDir, { recursive: true });
    embedded = new EmbeddedPostgres({ dataDir: join(dataDir, 'postgres'), port: 0, onWarn: log });
    await embedded.start();
    databaseUrl = embedded.url;
    log(`PostgreSQL: embedded, ${databaseUrl}`);
  }
  const env = {
    ...options.env,
    DATABASE_URL: databaseUrl,
    ...(options.redisUrl ? { REDIS_URL: options.redisUrl } : {}),
    // Behind the balancer the TCP peer is the balancer: take the client address from X-Forwarded-For it sets.
    TRUST_PROXY: options.env?.TRUST_PROXY ?? 'loopback',
  };
  const count = options.nodes ?? 2;
  const ports = await Promise.all(Array.from({ length: count }, () => freePort()));
  const names = ports.map((_, index) => `node${index + 1}`);
  /** @type {Awaited<ReturnType<typeof startNode>>[]} */
  const nodes = [];
  let balancer;
  const stopAll = async () => {
    await balancer?.close();
    await Promise.all(nodes.map((node) => node?.stop('SIGTERM')));
    await embedded?.stop();
  };
  try {
    // The first node migrates (and seeds, if asked) alone; the others start together after it.
    nodes[0] = await startNode({ entry, port: ports[0], env: { ...env, ...options.firstNodeEnv } });
    const others = await Promise.all(ports.slice(1).map((port) => startNode({ entry, port, env: { ...env, DEMO_SEED: 'false' } })));
    nodes.push(...others);
    const backends = ports.map((port, index) => ({ name: names[index], host: '127.0.0.1', port }));
    balancer =
      options.balancer === 'nginx'
        ? await startNginx({
            backends,
            port: options.port || (await freePort()),
            dir: options.nginxDir,
            staffHost: staffHostOf(env.STAFF_PUBLIC_URL ?? process.env.STAFF_PUBLIC_URL),
          })
        : await startLoadBalancer({ backends, port: options.port ?? 0 });
  } catch (error) {
    await stopAll().catch(() => undefined);
    throw error;
  }
  for (const [index, node] of nodes.entries()) log(`${names[index]}: ${node.url} (pid ${node.pid})`);
  log(`Load balancer: ${options.balancer === 'nginx' ? `nginx (pid ${balancer.pid}, prefix ${balancer.dir})` : 'loopback balancer'}, ${balancer.url}`);

  return {
    url: balancer.url,
    databaseUrl,
    nodes,
    balancer,
    /**
     * Restarts node `index` as a rolling restart does: SIGTERM (it drains), wait for its exit, start it
     * again on the same port, wait until ready. `whileDown` runs between the exit and the start (to let
     * clients settle on the other nodes first). Resolves with the old process's exit code and output.
     */
    async restartNode(index, signal = 'SIGTERM', { whileDown } = {}) {
      const old = nodes[index];
      const exitCode = await old.stop(signal);
      const output = old.output();
      await whileDown?.();
      nodes[index] = await startNode({ entry, port: ports[index], env: { ...env, DEMO_SEED: 'false' } });
      await balancer.checkNow();
      log(`${names[index]} restarted (exit ${exitCode})`);
      return { exitCode, output };
    },
    close: stopAll,
  };
}

function parseArguments(argv) {
  // nginx with the production configuration when it is installed; the loopback balancer otherwise (macOS, no nginx).
  const options = { nodes: 2, port: 8080, balancer: findNginx() ? 'nginx' : 'node' };
  for (let i = 0; i < argv.length; i += 1) {
    if (argv[i] === '--nodes') options.nodes = Number(argv[++i]);
    else if (argv[i] === '--port') options.port = Number(argv[++i]);
    else if (argv[i] === '--balancer') options.balancer = argv[++i];
    else throw new Error(`unknown argument ${argv[i]} (use --nodes N --port P --balancer nginx|node)`);
  }
  if (!Number.isInteger(options.nodes) || options.nodes < 1 || options.nodes > 16) throw new Error('--nodes must be 1 to 16');
  if (!['nginx', 'node'].includes(options.balancer)) throw new Error('--balancer must be nginx or node');
  if (options.balancer === 'nginx' && !findNginx()) throw new Error('--balancer nginx: nginx is not installed (apt-get install nginx)');
  return options;
}

async function main() {
  const { nodes, port, balancer } = parseArguments(process.argv.slice(2));
  const redisUrl = process.env.REDIS_URL || 'redis://127.0.0.1:6379';
  const log = (line) => process.stdout.write(`cluster: ${line}\n`);
  log(`starting ${nodes} gateway nodes linked by Redis at ${new URL(redisUrl).host}`);
  if (balancer === 'node')
    log(`using the loopback balancer of infra/local/load-balancer.mjs${findNginx() ? '' : ' (nginx is not installed: apt-get install nginx)'}`);
  const cluster = await startCluster({
    nodes,
    port,
    balancer,
    nginxDir: join(repositoryRoot, '.data/cluster/nginx'),
    redisUrl,
    databaseUrl: process.env.DATABASE_URL || undefined,
    // The demo practice is seeded once, by the first node, with its sign-ins in .data/cluster.
    firstNodeEnv: { DEMO_SEED: process.env.DEMO_SEED ?? 'true', DATA_DIR: join(repositoryRoot, '.data/cluster') },
    env: { LOG_LEVEL: process.env.LOG_LEVEL ?? 'warn', REDIS_STREAM_NAME: process.env.REDIS_STREAM_NAME ?? 'parley-cluster' },
    log,
  });
  log(`ready: patients ${cluster.url}/, staff ${cluster.url}/staff/, demo sign-ins in .data/cluster/demo-credentials.json`);
  log('Ctrl+C stops everything; `kill -TERM <pid>` of one node shows a drain and the balancer moving its clients.');
  if (balancer === 'nginx') log(`nginx's access log (client, request, status, upstream): ${join(cluster.balancer.dir, 'access.log')}`);
  let isStopping = false;
  for (const signal of ['SIGINT', 'SIGTERM']) {
    process.on(signal, () => {
      if (isStopping) return;
      isStopping = true;
      log('stopping');
      void cluster.close().then(() => process.exit(0));
    });
  }
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main().catch((error) => {
    process.stderr.write(`cluster: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exit(1);
  });
}
