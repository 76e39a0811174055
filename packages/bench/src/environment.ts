import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { appendFile, mkdir, rm } from 'node:fs/promises';
import { createConnection } from 'node:net';
import { cpus, totalmem, release } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { createTestDatabase, redisKeyPrefix, startGatewayProcess, type GatewayProcess, type TestDatabase } from '@parley/testing';
import { ProbeClient } from './probe-client.js';

/** The repository root (this file is packages/bench/{src,dist}/environment.*). */
export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
/**
 * The gateway's build, as `npm start` runs it. `BENCH_GATEWAY_ENTRY` names another build (an older commit's, say, to see
 * a scenario catch a bug that is fixed here); such a run is not of this commit and never writes the doc (cli.ts).
 */
export const GATEWAY_ENTRY = process.env['BENCH_GATEWAY_ENTRY'] || join(REPO_ROOT, 'apps/gateway/dist/main.js');

/** The PostgreSQL server every database of the run lives on. */
export interface DatabaseServer {
  /** A superuser URL of the server (its `postgres` database). */
  url: string;
  /** `embedded PostgreSQL 18 (…)` or `TEST_DATABASE_URL (…)`, for the report. */
  description: string;
  /** TEST_DATABASE_URL's server may serve others too (only the bench's own databases' backends count for its CPU). */
  isShared: boolean;
  stop(): Promise<void>;
}

interface EmbeddedPostgresLike {
  url: string;
  start(): Promise<void>;
  stop(): Promise<void>;
}

/**
 * TEST_DATABASE_URL's server when set; otherwise an embedded PostgreSQL (the gateway's own launcher, from its build)
 * with its data in a throwaway folder of the checkout, removed on stop.
 */
export async function startDatabaseServer(): Promise<DatabaseServer> {
  const external = process.env['TEST_DATABASE_URL'];
  if (external) {
    const version = await serverVersion(external);
    return { url: external, description: `TEST_DATABASE_URL (${version}), host ${new URL(external).host}`, isShared: true, stop: async () => undefined };
  }
  const launcher = join(REPO_ROOT, 'apps/gateway/dist/database/embedded-postgres.js');
  if (!existsSync(launcher)) throw new Error(`the gateway is not built (${launcher} is missing): run pnpm bench, which builds it`);
  const { EmbeddedPostgres } = (await import(pathToFileURL(launcher).href)) as {
    EmbeddedPostgres: new (options: { dataDir: string; port: number }) => EmbeddedPostgresLike;
  };
  const dataDir = join(REPO_ROOT, '.data', `bench-${process.pid}`);
  await mkdir(dataDir, { recursive: true });
  const server = new EmbeddedPostgres({ dataDir, port: 0 });
  await server.start();
  const version = await serverVersion(server.url);
  return {
    url: server.url,
    description: `embedded PostgreSQL (${version}), default settings, data under .data/`,
    isShared: false,
    stop: async () => {
      await server.stop();
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}

async function serverVersion(url: string): Promise<string> {
  const pg = (await import('pg')).default;
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const { rows } = await client.query<{ server_version: string }>('SHOW server_version');
    return `PostgreSQL ${rows[0]?.server_version ?? '?'}`;
  } finally {
    await client.end();
  }
}

/** A gateway process under test with its probe. */
export interface BenchGateway {
  process: GatewayProcess;
  probe: ProbeClient;
  url: string;
  pid: number;
  /** The group-commit batches so far (from the gateway's /metrics), or undefined when it does not expose them. */
  batches(): Promise<{ count: number; sum: number } | undefined>;
  stop(): Promise<void>;
}

/** What every gateway of the run shares: its database, its data folder (demo credentials), and Redis for two nodes. */
export interface GatewayOptions {
  databaseUrl: string;
  dataDir: string;
  redis?: { url: string; streamName: string };
}

/**
 * Starts the built gateway as a real process with the bench's probe loaded (event-loop delay, CPU profile), logging
 * warnings only, seeding the demo practice on first start, and keeping disconnected clinicians' work for an hour (the
 * load generators reconnect between scenarios).
 */
export async function startBenchGateway(options: GatewayOptions): Promise<BenchGateway> {
  const probe = new ProbeClient();
  const metricsToken = randomBytes(24).toString('hex');
  const gateway = await startGatewayProcess({
    entry: GATEWAY_ENTRY,
    env: {
      ...probe.env,
      NODE_ENV: 'production',
      LOG_LEVEL: 'warn',
      DATABASE_URL: options.databaseUrl,
      DATA_DIR: options.dataDir,
      DEMO_SEED: 'true',
      CLINICIAN_GRACE_SECONDS: '3600',
      METRICS_TOKEN: metricsToken,
      // Every load-generator socket comes from 127.0.0.1 and sends far faster than a person: the flood limits stay on
      // (their checks cost the same) but high enough not to refuse the benchmark itself.
      SOCKET_CONNECTIONS_PER_IP_PER_MINUTE: '1000000',
      SOCKET_EVENTS_PER_SECOND: '100000',
      SOCKET_EVENT_BURST: '100000',
      USER_EVENTS_PER_SECOND: '100000',
      USER_EVENT_BURST: '100000',
      ATTACHMENT_UPLOADS_PER_MINUTE: '10000',
      ...(options.redis ? { REDIS_URL: options.redis.url, REDIS_STREAM_NAME: options.redis.streamName } : {}),
    },
    readyTimeoutMs: 120_000,
  });
  const pid = gateway.child.pid!;
  probe.attach(pid);
  return {
    process: gateway,
    probe,
    url: gateway.url,
    pid,
    batches: async () => {
      try {
        const response = await fetch(`${gateway.url}/metrics`, { headers: { authorization: `Bearer ${metricsToken}` } });
        if (!response.ok) return undefined;
        const text = await response.text();
        const value = (name: string) => Number(text.match(new RegExp(`^${name}(?:\\{[^}]*\\})? ([0-9.e+-]+)$`, 'm'))?.[1]);
        const count = value('parley_record_batch_size_count');
        const sum = value('parley_record_batch_size_sum');
        return Number.isFinite(count) && Number.isFinite(sum) ? { count, sum } : undefined;
      } catch {
        return undefined;
      }
    },
    stop: async () => {
      await gateway.stop('SIGTERM');
      probe.remove();
      // Its warnings and errors (LOG_LEVEL=warn), for looking into a failed or slow run; not committed.
      await mkdir(join(REPO_ROOT, 'packages/bench/results'), { recursive: true });
      await appendFile(join(REPO_ROOT, 'packages/bench/results/gateway.log'), `--- gateway pid ${pid}\n${gateway.output()}\n`);
    },
  };
}

/** A fresh database on the server for the run (dropped at the end). */
export function createBenchDatabase(serverUrl: string): Promise<TestDatabase> {
  return createTestDatabase(serverUrl);
}

/** TEST_REDIS_URL or REDIS_URL, else a Redis answering PING on 127.0.0.1:6379, else undefined (two-node scenarios skipped). */
export async function findRedis(): Promise<{ url: string; streamName: string; source: string } | undefined> {
  const configured = process.env['TEST_REDIS_URL'] || process.env['REDIS_URL'];
  const url = configured || 'redis://127.0.0.1:6379';
  const isUp = await pingRedis(url);
  if (!isUp) return undefined;
  return {
    url,
    streamName: redisKeyPrefix().replace('parley-test', 'parley-bench'),
    source: configured ? (process.env['TEST_REDIS_URL'] ? 'TEST_REDIS_URL' : 'REDIS_URL') : 'found on 127.0.0.1:6379',
  };
}

function pingRedis(url: string): Promise<boolean> {
  const target = new URL(url);
  return new Promise((resolvePing) => {
    const socket = createConnection({ host: target.hostname, port: Number(target.port || 6379) });
    const done = (isUp: boolean) => {
      socket.destroy();
      resolvePing(isUp);
    };
    socket.setTimeout(1_000, () => done(false));
    socket.once('error', () => done(false));
    socket.once('connect', () => {
      if (target.password) socket.write(`AUTH ${decodeURIComponent(target.password)}\r\n`);
      socket.write('PING\r\n');
    });
    socket.on('data', (chunk) => {
      if (chunk.toString().includes('PONG')) done(true);
    });
  });
}

/** The machine, for the report. */
export function describeMachine(): { cpu: string; cores: number; memoryGb: number; node: string; os: string; load: string } {
  const cpuList = cpus();
  let osName = `Linux ${release()}`;
  try {
    osName = readFileSync('/etc/os-release', 'utf8').match(/PRETTY_NAME="([^"]+)"/)?.[1] ?? osName;
  } catch {
    // not Linux: keep the kernel release
  }
  let load: string;
  try {
    load = readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
  } catch {
    load = 'unknown';
  }
  return {
    cpu: cpuList[0]?.model.trim() ?? 'unknown',
    cores: cpuList.length,
    memoryGb: Math.round(totalmem() / 2 ** 30),
    node: process.version,
    os: osName,
    load,
  };
}

/**
 * The checked-out commit (`git rev-parse --short HEAD`) and whether the tree has uncommitted changes (`git status
 * --porcelain` lists anything: modified, staged or untracked files that are not ignored). A full run refuses a dirty tree.
 */
export function gitState(): { commit: string; isDirty: boolean } {
  try {
    const commit = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: REPO_ROOT, encoding: 'utf8' }).trim();
    const isDirty = execFileSync('git', ['status', '--porcelain'], { cwd: REPO_ROOT, encoding: 'utf8' }).trim() !== '';
    return { commit, isDirty };
  } catch {
    return { commit: 'unknown', isDirty: true };
  }
}
