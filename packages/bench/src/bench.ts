import { fork, type ChildProcess } from 'node:child_process';
import { execFileSync } from 'node:child_process';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { TestDatabase } from '@parley/testing';
import {
  createBenchDatabase,
  describeMachine,
  findRedis,
  gitState,
  REPO_ROOT,
  startBenchGateway,
  startDatabaseServer,
  type BenchGateway,
  type DatabaseServer,
} from './environment.js';
import { attachmentsScenario, type AttachmentsFigure } from './attachments.js';
import { measureBundle, measureCrypto, type BundleFigures, type CryptoFigures } from './local-scenarios.js';
import { includes, type BenchOptions } from './options.js';
import { NO_ANOMALIES, addCounts, type PipelinedCounts } from './pipelined.js';
import { PostgresCpu } from './postgres-cpu.js';
import { cpuMsOf, ProbeClient } from './probe-client.js';
import { summariseProfile, type CpuProfile, type ProfileSummary } from './profile.js';
import {
  allowPatientUploads,
  createClinicians,
  createPatients,
  openPairs,
  openRecordKey,
  queueClinicianSpecs,
  queuePatientSpecs,
  setCaps,
  setUpPractice,
  type Account,
  type BenchPractice,
} from './setup.js';
import { median, medianPercentiles, monoMs, percentiles, sleep, type Percentiles } from './stats.js';
import type { LoadResult, PairSpec } from './types.js';
import type { PipelinedResult } from './worker.js';
import { callAll, forkWorkers, split, stopWorkers, type Worker } from './workers.js';

/** How often each chatting socket of the idle scenario sends: a person typing fast. */
export const CHAT_INTERVAL_MS = 5_000;
const BASELINE_ENTRY = join(dirname(fileURLToPath(import.meta.url)), 'baseline-server.js');

/** One load run as the report keeps it. */
export interface LoadRun {
  offeredRate: number | null;
  ratePerSec: number;
  sent: number;
  acked: number;
  delivered: number;
  errors: Record<string, number>;
  /** `rate_limited` refusals, retried (an older result has none). */
  shed?: number;
  ack: Percentiles;
  delivery: Percentiles;
  exhaustedSenders: number;
  /** CPU of the server process(es) under test (the gateway, or the baseline's process). */
  serverCpuMs: number;
  /** CPU of PostgreSQL's processes during the run (undefined when its processes cannot be read from here). */
  pgCpuMs?: number;
  clientCpuMs: number;
  durationMs: number;
  verified: number;
  verifyFailures: number;
  /** Mean size of the gateway's group-commit batches during the run (undefined for the baselines). */
  meanBatch?: number;
}

/** Median of several runs of one load. */
export interface LoadFigure {
  runs: LoadRun[];
  ratePerSec: number;
  ack: Percentiles;
  delivery: Percentiles;
  /** Server and client CPU per 1,000 acked messages (ms; the same number is µs per message). */
  serverCpuPerKMsg: number;
  /** PostgreSQL's CPU per 1,000 acked messages, and the server's plus PostgreSQL's (undefined without PostgreSQL figures). */
  pgCpuPerKMsg?: number;
  totalCpuPerKMsg?: number;
  clientCpuPerKMsg: number;
}

/** One window of the pipelined scenario, summed over its senders. */
export interface PipelinedWindow {
  window: number;
  senders: number;
  messagesPerSender: number;
  disconnects: number;
  sent: number;
  acked: number;
  resent: number;
  reconnects: number;
  unacked: number;
  errors: Record<string, number>;
  durationMs: number;
  counts: PipelinedCounts;
}

/** Everything a bench run measured. */
export interface BenchResults {
  meta: {
    date: string;
    command: string;
    mode: BenchOptions['mode'];
    /** `git rev-parse --short HEAD` when the run started. */
    commit: string;
    /** Whether `git status --porcelain` listed anything then (a full run refuses unless `--allow-dirty`). */
    isDirty: boolean;
    machine: ReturnType<typeof describeMachine>;
    database: string;
    redis: string;
    workers: number;
    pairs: number;
    runs: number;
    durationS: number;
    fdLimit: number;
    options: Omit<BenchOptions, 'comparePath' | 'outPath'>;
  };
  setup?: { seconds: number; clinicians: number; patients: number; pairs: number };
  crypto?: CryptoFigures;
  baselines?: { relay: LoadFigure; pgInsert: LoadFigure };
  maxRate?: LoadFigure & { batchNote: string };
  fixedRate?: {
    offered: number;
    label: string;
    figure: LoadFigure;
    /** Set when the rate is a fraction of the bare relay's maximum. */ relayFraction?: number;
  }[];
  pipelined?: PipelinedWindow[];
  idle?: {
    requested: number;
    connected: number;
    failed: number;
    note: string;
    /** How long the freshly started gateway had run before the sockets opened. */
    freshGatewayAgeMs: number;
    rssBeforeBytes: number;
    rssAfterBytes: number;
    rssPerSocketBytes: number;
    lagIdle: { p50: number; p99: number; max: number };
    chatting: { sockets: number; ratePerSec: number; ack: Percentiles; lag: { p50: number; p99: number; max: number } };
  };
  queue?: QueueFigure;
  queueTwoNodes?: QueueFigure;
  twoNodes?: LoadFigure & { note: string };
  /** Scenario 9 (issue #18): uploads through the gateway beside a plain HTTP upload to the baseline server. */
  attachments?: AttachmentsFigure;
  bundle?: BundleFigures;
  profile?: ProfileSummary & {
    profiledRatePerSec: number;
    file: string;
    /** Gateway CPU per message at max rate (median of the unprofiled runs), which the shares split; PostgreSQL's beside it. */
    gatewayUsPerMsg: number;
    postgresUsPerMsg?: number;
  };
  queueProfile?: ProfileSummary & { file: string };
  skipped: { scenario: string; reason: string }[];
}

export interface QueueFigure {
  patients: number;
  clinicians: number;
  capPerClinician: number;
  spreadMs: number;
  runs: { openAck: Percentiles; openAssigned: Percentiles; assigned: number; failedOpens: Record<string, number>; capViolations: number }[];
  openAck: Percentiles;
  openAssigned: Percentiles;
  capViolations: number;
  assignedShare: number;
}

/** Runs the selected scenarios and returns the results; everything it started is stopped before it returns. */
export async function runBench(options: BenchOptions, log: (line: string) => void): Promise<BenchResults> {
  const started = Date.now();
  const fdLimit = fileDescriptorLimit();
  const git = gitState();
  const results: BenchResults = {
    meta: {
      date: new Date().toISOString(),
      command: `pnpm bench${process.argv.slice(2).length ? ` ${process.argv.slice(2).join(' ')}` : ''}`,
      mode: options.mode,
      commit: git.commit,
      isDirty: git.isDirty,
      machine: describeMachine(),
      database: '',
      redis: '',
      workers: options.workers,
      pairs: options.pairs,
      runs: options.runs,
      durationS: 0,
      fdLimit,
      options: { ...options, comparePath: undefined, outPath: undefined } as BenchResults['meta']['options'],
    },
    skipped: [],
  };
  const cleanup: (() => Promise<void>)[] = [];
  const stopAll = async () => {
    for (const step of cleanup.splice(0).reverse()) await step().catch((error: unknown) => log(`cleanup: ${String(error)}`));
  };
  // Ctrl+C or a kill stops the gateways, PostgreSQL and the workers before exiting: nothing may outlive the bench.
  const onSignal = (signal: NodeJS.Signals) => {
    log(`${signal}: stopping everything the bench started`);
    void stopAll().finally(() => process.exit(130));
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    if (includes(options, 'crypto')) {
      log('crypto: encrypt+sign, verify+decrypt, passphrase derivation (in this process, before any load)');
      results.crypto = await measureCrypto(options.cryptoIterations, options.runs);
    }
    const needsGateway = (['baselines', 'max-rate', 'fixed-rate', 'pipelined', 'idle', 'queue', 'two-nodes', 'attachments'] as const).some((name) =>
      includes(options, name),
    );
    if (needsGateway) await runServerScenarios(options, results, cleanup, log);
    if (includes(options, 'bundle')) {
      log('bundle: building apps/patient and sizing its first screen');
      results.bundle = measureBundle(options.mode !== 'smoke');
    }
  } finally {
    await stopAll();
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
  results.meta.durationS = Math.round((Date.now() - started) / 1000);
  return results;
}

async function runServerScenarios(options: BenchOptions, results: BenchResults, cleanup: (() => Promise<void>)[], log: (line: string) => void): Promise<void> {
  log('database: starting');
  const server: DatabaseServer = await startDatabaseServer();
  cleanup.push(() => server.stop());
  results.meta.database = server.description;
  const database: TestDatabase = await createBenchDatabase(server.url);
  cleanup.push(() => database.drop());
  // PostgreSQL's CPU is counted with every server's (postgres-cpu.ts); on a shared server only our databases' backends.
  const ourDatabases = [databaseName(database.url)];
  postgres = await PostgresCpu.find(server.url, server.isShared ? () => ourDatabases : undefined).catch(() => undefined);
  if (!postgres) results.skipped.push({ scenario: 'postgres-cpu', reason: 'PostgreSQL runs on another machine: its CPU is not counted' });
  const dataDir = join(REPO_ROOT, '.data', `bench-gateway-${process.pid}`);
  await mkdir(dataDir, { recursive: true });
  cleanup.push(() => rm(dataDir, { recursive: true, force: true }));
  const redis = await findRedis();
  results.meta.redis = redis ? `${redis.source} (${new URL(redis.url).host})` : 'none: two-node scenarios skipped';

  let gateway: BenchGateway | undefined = await startBenchGateway({ databaseUrl: database.url, dataDir });
  const stopGateway = async () => {
    await gateway?.stop();
    gateway = undefined;
  };
  cleanup.push(stopGateway);
  const workers = forkWorkers(options.workers);
  cleanup.push(() => stopWorkers(workers));

  // ---- setup, for real through the sdk
  const setupStarted = Date.now();
  const wantsPairs = (['max-rate', 'fixed-rate', 'pipelined', 'idle', 'two-nodes', 'baselines'] as const).some((name) => includes(options, name));
  const wantsQueue = includes(options, 'queue');
  const idleChatPairs = includes(options, 'idle') ? Math.max(1, Math.ceil((options.idleSockets * 0.05) / 2)) : 0;
  const wantsAttachments = includes(options, 'attachments');
  // The attachments scenario uploads as the pairs' patients, into their open conversations.
  const pairCount = Math.max(wantsPairs ? Math.max(options.pairs, idleChatPairs) : 0, wantsAttachments ? options.attachmentUploaders : 0);
  log(
    `setup: practice, ${pairCount} pairs, ${wantsQueue ? options.queuePatients : 0} queue patients and ${wantsQueue ? options.queueClinicians : 0} clinicians (sdk, over HTTP)`,
  );
  const practice = await setUpPractice(gateway.url, dataDir);
  if (wantsAttachments) await allowPatientUploads(gateway.url, practice.manager.token);
  const pairClinicians = await createClinicians(gateway.url, practice, pairCount, 'pair');
  const queueClinicians = wantsQueue ? await createClinicians(gateway.url, practice, options.queueClinicians, 'queue') : [];
  const pairPatients = await createPatients(gateway.url, practice, pairCount);
  // The pairs' patients take part in the queue too (a patient may have several conversations): fewer accounts to make.
  const extraPatients = wantsQueue ? await createPatients(gateway.url, practice, Math.max(0, options.queuePatients - pairPatients.length)) : [];
  const queuePatients = wantsQueue ? [...pairPatients, ...extraPatients].slice(0, options.queuePatients) : [];
  const keyHolder = pairClinicians[0] ?? queueClinicians[0];
  if (!keyHolder) throw new Error('nothing to run: no clinicians');
  const recordKey = await openRecordKey(gateway.url, practice, keyHolder);
  practice.recordKey = recordKey;
  const pairs = pairCount > 0 ? await openPairs({ url: gateway.url, practice, recordKey, patients: pairPatients, clinicians: pairClinicians }) : [];
  const queueCap = Math.min(50, Math.ceil(options.queuePatients / Math.max(1, options.queueClinicians)));
  if (wantsQueue) await prepareQueueClinicians(gateway.url, practice, queueClinicians, queueCap);
  results.setup = {
    seconds: Math.round((Date.now() - setupStarted) / 1000),
    clinicians: pairClinicians.length + queueClinicians.length + 1,
    patients: pairPatients.length + extraPatients.length,
    pairs: pairs.length,
  };
  log(`setup: done in ${results.setup.seconds} s`);

  const node: BenchGateway = gateway;
  const loadPairs = pairs.slice(0, options.pairs);
  /** Runs one scenario; a failure is reported in the results and the run goes on with the next one. */
  const guarded = async (name: string, scenario: () => Promise<void>) => {
    try {
      await scenario();
    } catch (error) {
      log(`${name}: FAILED: ${error instanceof Error ? error.message : String(error)}`);
      results.skipped.push({ scenario: name, reason: `failed: ${(error instanceof Error ? error.message : String(error)).split('\n')[0]}` });
      for (const set of Object.keys(setSenders)) await closePairs(workers, set).catch(() => undefined);
      await callAll(workers, 'closeIdle').catch(() => undefined);
      await callAll(workers, 'queueDisconnect').catch(() => undefined);
    }
  };

  // ---- scenarios 1 and 3: max rate of the gateway and the baselines, interleaved run by run, then a profiled run
  await guarded('max-rate', async () => {
    const wantsBaselines = includes(options, 'baselines');
    if (!wantsBaselines && !includes(options, 'max-rate') && !includes(options, 'fixed-rate')) return;
    const contenders: Contender[] = [];
    const baselineServers: { stop(): Promise<void> }[] = [];
    if (wantsBaselines) {
      const relay = await startBaseline('relay', undefined);
      cleanup.push(relay.stop);
      const pgDatabase = await createBenchDatabase(server.url);
      cleanup.push(() => pgDatabase.drop());
      ourDatabases.push(databaseName(pgDatabase.url));
      const pgInsert = await startBaseline('pg-insert', pgDatabase.url);
      cleanup.push(pgInsert.stop);
      baselineServers.push(relay, pgInsert);
      await connectPairs(workers, loadPairs, 'relay', 'baseline', relay.url);
      await connectPairs(workers, loadPairs, 'pg-insert', 'baseline', pgInsert.url);
      contenders.push(
        { key: 'relay', set: 'relay', pids: [relay.pid], estimate: 20_000, isCopy: true, gateways: [] },
        { key: 'pgInsert', set: 'pg-insert', pids: [pgInsert.pid], estimate: 6_000, isCopy: true, gateways: [] },
      );
    }
    await connectPairs(workers, loadPairs, 'parley', 'parley');
    // Pools are encrypted ahead of each run (about half a millisecond each on this machine): the first from a guess,
    // the next ones from what the previous run reached.
    contenders.push({ key: 'parley', set: 'parley', pids: [node.pid], estimate: 3_000, isCopy: false, gateways: [node] });
    log(
      `max-rate: ${loadPairs.length} pairs, ${options.runs} round(s) of ${contenders.map((contender) => contender.set).join(', ')} (interleaved), ${options.maxDurationMs} ms each`,
    );
    const figures = await interleavedMaxRuns(workers, options, contenders, log);
    for (const set of ['relay', 'pg-insert']) if (wantsBaselines) await closePairs(workers, set);
    for (const baseline of baselineServers) await baseline.stop();
    if (figures.relay && figures.pgInsert) results.baselines = { relay: figures.relay, pgInsert: figures.pgInsert };
    const maxRate = figures.parley!;
    results.maxRate = { ...maxRate, batchNote: 'group commit: appends that arrive while a transaction commits share the next one' };
    gatewaysUnderLoad = [node];
    if (options.profile) {
      log('profile: one more max-rate run with the CPU profiler on in the gateway');
      await node.probe.startProfile();
      const profiled = await loadRun(workers, { kind: 'max', rate: maxRate.ratePerSec * 1.4, set: 'parley' }, options, node.pid);
      const profile = (await node.probe.stopProfile()) as CpuProfile;
      const file = await saveProfile(profile, `gateway-max-rate${options.mode === 'full' ? '' : `-${options.mode}`}.cpuprofile`);
      results.profile = {
        ...summariseProfile(profile),
        profiledRatePerSec: profiled.ratePerSec,
        file,
        gatewayUsPerMsg: maxRate.serverCpuPerKMsg,
        postgresUsPerMsg: maxRate.pgCpuPerKMsg,
      };
    }
    // ---- scenario 2: fixed rates, as fractions of the gateway's maximum and of the bare relay's
    if (includes(options, 'fixed-rate')) {
      const relayMax = results.baselines?.relay.ratePerSec;
      const rates = [
        ...options.fixedFractions.map((fraction) => ({
          offered: Math.max(10, Math.round(maxRate.ratePerSec * fraction)),
          label: `${Math.round(fraction * 100)} % of max`,
        })),
        ...(relayMax
          ? options.fixedRelayFractions.map((fraction) => ({
              offered: Math.max(10, Math.round(relayMax * fraction)),
              label: `${Math.round(fraction * 100)} % of the bare relay's max`,
              relayFraction: fraction,
            }))
          : []),
        ...options.fixedAbsolute.map((rate) => ({ offered: rate, label: `${rate} msgs/s` })),
      ];
      results.fixedRate = [];
      for (const rate of rates) {
        // Above the measured maximum the backlog only grows: one run shows it, three would only take longer to drain.
        const isOverload = rate.offered > maxRate.ratePerSec * 1.1;
        const count = isOverload ? 1 : options.runs;
        log(`fixed-rate: ${rate.offered} msgs/s offered (${rate.label}), ${count} run(s)${isOverload ? ' (above the measured maximum)' : ''}`);
        const runs: LoadRun[] = [];
        for (let run = 0; run < count; run++) runs.push(await loadRun(workers, { kind: 'fixed', rate: rate.offered, set: 'parley' }, options, node.pid));
        results.fixedRate.push({ ...rate, figure: summarise(runs) });
      }
    }
    await closePairs(workers, 'parley');
  });

  // ---- scenario 8 (issue #16): pipelined sends with random disconnects, then the record read back
  await guarded('pipelined', async () => {
    if (includes(options, 'pipelined')) results.pipelined = await pipelinedScenario(workers, pairs.slice(0, options.pipelinedSenders), options, log);
  });

  // ---- scenario 4: idle sockets, on a gateway started for it (the load runs above leave hundreds of MB resident)
  await guarded('idle', async () => {
    if (includes(options, 'idle')) {
      log('idle: starting a fresh gateway process for it');
      const fresh = await startBenchGateway({ databaseUrl: database.url, dataDir });
      const startedAt = Date.now();
      let isStopped = false;
      const stopFresh = async () => {
        if (isStopped) return;
        isStopped = true;
        await fresh.stop();
      };
      cleanup.push(stopFresh);
      try {
        const onFresh = (pair: PairSpec): PairSpec => ({
          ...pair,
          patient: { ...pair.patient, url: fresh.url },
          clinician: { ...pair.clinician, url: fresh.url },
        });
        results.idle = await idleScenario(
          fresh,
          startedAt,
          workers,
          pairs.slice(0, idleChatPairs).map(onFresh),
          [...pairPatients, ...extraPatients],
          options,
          fdLimit(),
          log,
        );
      } finally {
        await stopFresh();
      }
    }
  });

  // ---- scenario 9 (issue #18): attachments, on a gateway and a baseline server started for it
  await guarded('attachments', async () => {
    if (!wantsAttachments) return;
    log('attachments: starting a fresh gateway process and a fresh baseline server (its own database) for it');
    const fresh = await startBenchGateway({ databaseUrl: database.url, dataDir });
    const baselineDatabase = await createBenchDatabase(server.url);
    ourDatabases.push(databaseName(baselineDatabase.url));
    const baselineProbe = new ProbeClient();
    const baseline = await startBaseline('pg-insert', baselineDatabase.url, baselineProbe).catch(async (error: unknown) => {
      await fresh.stop();
      throw error;
    });
    try {
      const uploaders = pairs
        .slice(0, options.attachmentUploaders)
        .map((pair) => ({ token: pair.patient.token, conversationId: pair.conversationId, url: fresh.url }));
      log(
        `attachments: ${uploaders.length} uploaders, a ${options.attachmentFileBytes} B file each, ${options.runs} round(s) of baseline, parley (interleaved); ${options.attachmentsHeld} uploads held in flight`,
      );
      results.attachments = await attachmentsScenario({
        workers,
        uploaders,
        gateway: { pid: fresh.pid, probe: fresh.probe },
        baseline: { ...baseline, probe: baselineProbe },
        postgres,
        dataDir,
        options,
        log,
        saveProfile: (profile) => saveProfile(profile, `gateway-attachments${options.mode === 'full' ? '' : `-${options.mode}`}.cpuprofile`),
      });
    } finally {
      await callAll(workers, 'attachmentsRelease').catch(() => undefined);
      await baseline.stop();
      baselineProbe.remove();
      await fresh.stop();
      await baselineDatabase.drop();
    }
  });

  // ---- scenario 5: queue
  await guarded('queue', async () => {
    if (wantsQueue) {
      log(`queue: ${options.queuePatients} patients open within ${options.queueSpreadMs} ms against ${options.queueClinicians} clinicians (cap ${queueCap})`);
      const profiled = options.profile ? node : undefined;
      const onProfile = async (profile: CpuProfile) => {
        const file = await saveProfile(profile, `gateway-queue${options.mode === 'full' ? '' : `-${options.mode}`}.cpuprofile`);
        results.queueProfile = { ...summariseProfile(profile), file };
      };
      results.queue = await queueScenario(
        workers,
        queuePatients,
        queueClinicians,
        [node.url],
        recordKey.boxPublicKey,
        queueCap,
        options,
        log,
        profiled && onProfile,
        profiled,
      );
    }
  });

  // ---- scenario 7 (and 5 again) on two nodes
  await guarded('two-nodes', async () => {
    const wantsTwoNodes = includes(options, 'two-nodes');
    if (wantsTwoNodes || wantsQueue) {
      if (!redis) {
        results.skipped.push({ scenario: 'two-nodes', reason: 'skipped: no Redis (set TEST_REDIS_URL or REDIS_URL, or run one on 127.0.0.1:6379)' });
        log('two-nodes: skipped: no Redis');
      } else {
        log('two-nodes: restarting as two gateway nodes linked by Redis');
        await stopGateway();
        const nodes = await Promise.all([0, 1].map(() => startBenchGateway({ databaseUrl: database.url, dataDir, redis })));
        cleanup.push(async () => void (await Promise.all(nodes.map((node) => node.stop()))));
        const urls = nodes.map((node) => node.url);
        if (wantsTwoNodes && loadPairs.length > 0) {
          // Every message crosses nodes: the patient on one, the clinician on the other.
          const crossed = loadPairs.map((pair, index) => ({
            ...pair,
            patient: { ...pair.patient, url: urls[index % 2]! },
            clinician: { ...pair.clinician, url: urls[(index + 1) % 2]! },
          }));
          await connectPairs(workers, crossed, 'parley', 'parley');
          const estimate = (results.maxRate?.ratePerSec ?? 4_000) * 1.3;
          log(`two-nodes: max rate, ${crossed.length} pairs split across the nodes, ${options.runs} run(s)`);
          const { twoNodes } = await interleavedMaxRuns(
            workers,
            options,
            [{ key: 'twoNodes', set: 'parley', pids: nodes.map((one) => one.pid), estimate, isCopy: false, gateways: nodes }],
            log,
          );
          results.twoNodes = { ...twoNodes!, note: 'each pair has its patient on one node and its clinician on the other: every message crosses Redis' };
          await closePairs(workers, 'parley');
        }
        if (wantsQueue) {
          log('queue (two nodes): patients and clinicians alternate between the nodes');
          results.queueTwoNodes = await queueScenario(workers, queuePatients, queueClinicians, urls, recordKey.boxPublicKey, queueCap, options, log);
        }
      }
    }
  });

  function fdLimit(): number {
    return results.meta.fdLimit;
  }
}

/** Writes a profile under packages/bench/results (not committed) and returns its path from the repository root. */
async function saveProfile(profile: CpuProfile, name: string): Promise<string> {
  const file = join(REPO_ROOT, 'packages/bench/results', name);
  await mkdir(dirname(file), { recursive: true });
  await writeFile(file, JSON.stringify(profile));
  return file.slice(REPO_ROOT.length + 1);
}

// ---------------------------------------------------------------------------------------------
// Load runs

/** The gateway node(s) under load now, for their batch metrics (none while a baseline runs). */
let gatewaysUnderLoad: BenchGateway[] = [];
/** PostgreSQL's process tree, when it runs on this machine. */
let postgres: PostgresCpu | undefined;

/**
 * The workers hold one set of connected pairs per server (`parley` for every gateway on the run's database, `relay`,
 * `pg-insert`), so that runs can go from one server to the next without reconnecting. How many senders each set has:
 */
const setSenders: Record<string, number> = {};
/** Where each sender's device sequence continues, per set (the gateway refuses a reused one; the baselines keep their own). */
const nextSeqs: Record<string, Record<string, number>> = {};

async function connectPairs(
  workers: readonly Worker[],
  pairs: readonly PairSpec[],
  set: string,
  transport: 'parley' | 'baseline',
  baselineUrl?: string,
): Promise<void> {
  const groups = split(pairs, workers.length);
  const answers = await callAll<{ senders: number }>(
    workers,
    'connectPairs',
    (index) => ({ set, pairs: groups[index], transport, baselineUrl, nextSeqs: nextSeqs[set] ?? {} }),
    600_000,
  );
  setSenders[set] = answers.reduce((sum, answer) => sum + answer.senders, 0);
}

async function closePairs(workers: readonly Worker[], set: string): Promise<void> {
  const answers = await callAll<{ nextSeqs: Record<string, number> }>(workers, 'closePairs', () => ({ set }));
  nextSeqs[set] = Object.assign(nextSeqs[set] ?? {}, ...answers.map((answer) => answer.nextSeqs));
  delete setSenders[set];
}

function databaseName(url: string): string {
  return decodeURIComponent(new URL(url).pathname.slice(1));
}

interface LoadPlan {
  kind: 'max' | 'fixed';
  /** Fixed: the offered total rate. Max: the rate the pool is sized for. */
  rate: number;
  /** The workers' set of pairs to send on. */
  set: string;
  isCopy?: boolean;
}

/** One run on every worker at once; pools are filled first, outside the measured time. */
async function loadRun(workers: readonly Worker[], plan: LoadPlan, options: BenchOptions, serverPids: number | number[]): Promise<LoadRun> {
  const durationMs = plan.kind === 'max' ? options.maxDurationMs : options.fixedDurationMs;
  const warmupMs = plan.kind === 'max' ? options.maxWarmupMs : options.fixedWarmupMs;
  const totalMessages = Math.ceil((plan.rate * durationMs) / 1000);
  const perSender = Math.ceil(((plan.kind === 'max' ? 1.5 : 1.05) * totalMessages) / Math.max(1, setSenders[plan.set] ?? 0)) + 2;
  await callAll(workers, 'prepare', () => ({ set: plan.set, perSender, isCopy: plan.isCopy === true }), 600_000);
  const pids = Array.isArray(serverPids) ? serverPids : [serverPids];
  const serverCpuBefore = pids.reduce((sum, pid) => sum + cpuMsOf(pid), 0);
  const pgBefore = postgres?.snapshot();
  const batchesBefore = await batchTotals();
  const startAt = monoMs() + 300;
  const raw = await callAll<LoadResult>(
    workers,
    plan.kind === 'max' ? 'runMax' : 'runFixed',
    () =>
      plan.kind === 'max'
        ? { set: plan.set, startAt, durationMs, warmupMs, window: options.window }
        : { set: plan.set, startAt, durationMs, warmupMs, rate: plan.rate / workers.length },
    durationMs + 120_000,
  );
  const serverCpuMs = pids.reduce((sum, pid) => sum + cpuMsOf(pid), 0) - serverCpuBefore;
  const pgCpuMs = postgres && pgBefore ? postgres.since(pgBefore) : undefined;
  const batchesAfter = await batchTotals();
  const meanBatch =
    batchesBefore && batchesAfter && batchesAfter.count > batchesBefore.count
      ? (batchesAfter.sum - batchesBefore.sum) / (batchesAfter.count - batchesBefore.count)
      : undefined;
  const errors: Record<string, number> = {};
  for (const result of raw) for (const [code, count] of Object.entries(result.errors)) errors[code] = (errors[code] ?? 0) + count;
  const windowMs = raw[0]?.windowMs ?? durationMs - warmupMs;
  const acked = raw.reduce((sum, result) => sum + result.acked, 0);
  const lastAckAt = Math.max(...raw.map((result) => result.lastAckAt));
  return {
    offeredRate: plan.kind === 'fixed' ? plan.rate : null,
    // Closed loop: acks inside the measured window. Open loop: every ack over the time until the last one, so an
    // overloaded server that drains its backlog late is credited with what it did, no more.
    ratePerSec:
      plan.kind === 'max'
        ? (raw.reduce((sum, result) => sum + result.ackedInWindow, 0) * 1000) / windowMs
        : acked > 0
          ? (acked * 1000) / Math.max(durationMs, lastAckAt - startAt)
          : 0,
    sent: raw.reduce((sum, result) => sum + result.sent, 0),
    acked,
    delivered: raw.reduce((sum, result) => sum + result.delivered, 0),
    errors,
    shed: raw.reduce((sum, result) => sum + result.shed, 0),
    ack: percentiles(raw.flatMap((result) => result.ackMs)),
    delivery: percentiles(raw.flatMap((result) => result.deliveredMs)),
    exhaustedSenders: raw.reduce((sum, result) => sum + result.exhaustedSenders, 0),
    serverCpuMs,
    pgCpuMs,
    clientCpuMs: raw.reduce((sum, result) => sum + result.cpuMs, 0),
    durationMs,
    verified: raw.reduce((sum, result) => sum + result.verified, 0),
    verifyFailures: raw.reduce((sum, result) => sum + result.verifyFailures, 0),
    meanBatch,
  };
}

async function batchTotals(): Promise<{ count: number; sum: number } | undefined> {
  if (gatewaysUnderLoad.length === 0) return undefined;
  const totals = await Promise.all(gatewaysUnderLoad.map((gateway) => gateway.batches()));
  if (totals.some((total) => total === undefined)) return undefined;
  return totals.reduce((sum, total) => ({ count: sum!.count + total!.count, sum: sum!.sum + total!.sum }), { count: 0, sum: 0 });
}

function summarise(runs: LoadRun[]): LoadFigure {
  const perK = (pick: (run: LoadRun) => number) => median(runs.map((run) => (run.acked > 0 ? (pick(run) * 1000) / run.acked : 0)));
  const hasPg = runs.every((run) => run.pgCpuMs !== undefined);
  return {
    runs,
    ratePerSec: median(runs.map((run) => run.ratePerSec)),
    ack: medianPercentiles(runs.map((run) => run.ack)),
    delivery: medianPercentiles(runs.map((run) => run.delivery)),
    serverCpuPerKMsg: perK((run) => run.serverCpuMs),
    pgCpuPerKMsg: hasPg ? perK((run) => run.pgCpuMs!) : undefined,
    totalCpuPerKMsg: hasPg ? perK((run) => run.serverCpuMs + run.pgCpuMs!) : undefined,
    clientCpuPerKMsg: perK((run) => run.clientCpuMs),
  };
}

/** A server whose maximum rate is measured: its set of pairs in the workers, its processes, the rate its first pool is sized for. */
interface Contender {
  key: 'relay' | 'pgInsert' | 'parley' | 'twoNodes';
  set: string;
  pids: number[];
  estimate: number;
  isCopy: boolean;
  /** Gateways whose group-commit batches are read (none for a baseline). */
  gateways: BenchGateway[];
}

/**
 * `options.runs` rounds of closed-loop runs, each round one run of every contender in turn (relay, one-INSERT, Parley,
 * relay, …), so that a noisy neighbour hits them alike. Each contender's pool is sized from its previous run (pools that
 * run dry are reported, and the next one is doubled).
 */
async function interleavedMaxRuns(
  workers: readonly Worker[],
  options: BenchOptions,
  contenders: readonly Contender[],
  log: (line: string) => void,
): Promise<Partial<Record<Contender['key'], LoadFigure>>> {
  const runs = new Map<Contender['key'], LoadRun[]>(contenders.map((contender) => [contender.key, []]));
  const rates = new Map(contenders.map((contender) => [contender.key, contender.estimate]));
  for (let round = 0; round < options.runs; round++) {
    for (const contender of contenders) {
      gatewaysUnderLoad = contender.gateways;
      const first = (key: Contender['key']) => runs.get(key)?.[0]?.ratePerSec;
      const relay = first('relay');
      const pgInsert = first('pgInsert');
      // Parley's first pool: sized for its goal (2.5× the one-INSERT server, at most the relay) once both ran this round.
      const rate =
        round === 0 && contender.key === 'parley' && relay && pgInsert
          ? Math.max(contender.estimate, Math.min(relay, pgInsert * 2.5))
          : rates.get(contender.key)!;
      const result = await loadRun(workers, { kind: 'max', rate, set: contender.set, isCopy: contender.isCopy }, options, contender.pids);
      runs.get(contender.key)!.push(result);
      const cpu = (ms: number | undefined) => (ms === undefined || result.acked === 0 ? '—' : ((ms * 1000) / result.acked).toFixed(0));
      log(
        `${contender.key}: run ${round + 1}: ${Math.round(result.ratePerSec)} msgs/s, ack p50 ${result.ack.p50.toFixed(1)} ms p99 ${result.ack.p99.toFixed(1)} ms, CPU per 1k msgs server ${cpu(result.serverCpuMs)} + PostgreSQL ${cpu(result.pgCpuMs)} ms${result.shed ? `, ${result.shed} rate_limited (retried)` : ''}${result.exhaustedSenders ? `, ${result.exhaustedSenders} pools ran dry` : ''}`,
      );
      // A pool that ran dry capped the run: give the next one room to show more.
      rates.set(contender.key, result.exhaustedSenders > 0 ? Math.max(rate, result.ratePerSec) * 2 : result.ratePerSec * 1.3);
    }
  }
  gatewaysUnderLoad = [];
  return Object.fromEntries([...runs.entries()].map(([key, list]) => [key, summarise(list)]));
}

/** Starts a baseline server (baseline-server.ts) as its own process, with the bench's probe loaded when one is given. */
async function startBaseline(
  mode: 'relay' | 'pg-insert',
  databaseUrl: string | undefined,
  probe?: ProbeClient,
): Promise<{ url: string; pid: number; stop(): Promise<void> }> {
  const child = fork(BASELINE_ENTRY, databaseUrl ? [mode, databaseUrl] : [mode], {
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    env: probe ? { ...process.env, ...probe.env } : process.env,
  });
  probe?.attach(child.pid!);
  const port = await new Promise<number>((resolve, reject) => {
    child.once('message', (message: { port: number }) => resolve(message.port));
    child.once('exit', (code) => reject(new Error(`baseline ${mode} exited with ${code}`)));
  });
  return { url: `http://127.0.0.1:${port}`, pid: child.pid!, stop: () => stopChild(child) };
}

async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
  await exited;
  clearTimeout(timer);
}

// ---------------------------------------------------------------------------------------------
// Scenario 4: idle sockets

async function idleScenario(
  gateway: BenchGateway,
  startedAt: number,
  workers: readonly Worker[],
  chatPairs: readonly PairSpec[],
  patients: readonly Account[],
  options: BenchOptions,
  fdLimit: number,
  log: (line: string) => void,
): Promise<NonNullable<BenchResults['idle']>> {
  const chattingSockets = chatPairs.length * 2;
  // The server holds one descriptor per socket, plus its database pool, files and listeners.
  const allowed = Math.max(0, fdLimit - 300);
  const requested = options.idleSockets;
  const total = Math.min(requested, allowed);
  const idleCount = Math.max(0, total - chattingSockets);
  const note =
    total < requested
      ? `the file-descriptor limit (ulimit -n ${fdLimit}, which the bench cannot raise) allows ${total} of the ${requested} sockets`
      : `ulimit -n is ${fdLimit}: ${requested} sockets fit`;
  log(`idle: ${idleCount} idle sockets + ${chattingSockets} chatting (${note})`);
  const phaseStarted = Date.now();
  // A freshly started gateway: a few sockets first (closed again) so that code loaded on the first connection is not
  // counted per socket, then its start-up settles before the first reading.
  const warmUp = Math.min(50, Math.ceil(idleCount / 20));
  await callAll(
    workers,
    'connectIdle',
    (index) => ({
      tokens: split(
        patients.slice(0, warmUp).map((patient) => ({ token: patient.token, url: gateway.url })),
        workers.length,
      )[index],
      concurrency: 10,
    }),
    60_000,
  );
  await callAll(workers, 'closeIdle');
  await sleep(options.idleSettleMs);
  const freshGatewayAgeMs = Date.now() - startedAt;
  // Both readings follow a full garbage collection (the probe's `memory`): what connecting left behind as garbage (parsed
  // handshakes, session lookups, log records) is not held by an idle socket, and whether V8 had collected it yet by the
  // second reading moved this figure by several KB from run to run of one commit.
  const rssBeforeBytes = (await gateway.probe.memory()).rssBytes;
  const tokens = Array.from({ length: idleCount }, (_, index) => ({ token: patients[index % patients.length]!.token, url: gateway.url }));
  const groups = split(tokens, workers.length);
  const connected = await callAll<{ connected: number; failed: number; firstError?: string }>(
    workers,
    'connectIdle',
    (index) => ({ tokens: groups[index], concurrency: 100 }),
    600_000,
  );
  const connectedCount = connected.reduce((sum, result) => sum + result.connected, 0);
  const failed = connected.reduce((sum, result) => sum + result.failed, 0);
  await sleep(options.idleSettleMs);
  const rssAfterBytes = (await gateway.probe.memory()).rssBytes;
  log(`idle: ${connected.reduce((sum, result) => sum + result.connected, 0)} sockets connected in ${Math.round((Date.now() - phaseStarted) / 1000)} s`);
  await gateway.probe.resetLag();
  await sleep(options.idleLagWindowMs);
  const idleLag = (await gateway.probe.report()).lag;
  // 5 %: pairs chat, each socket sending one message every CHAT_INTERVAL_MS (a fast typist), both sides of each pair.
  await connectPairs(workers, chatPairs, 'parley', 'parley');
  await gateway.probe.resetLag();
  // At least a few messages per worker, so that a tiny run still measures something.
  const chatRate = Math.max((chattingSockets * 1000) / CHAT_INTERVAL_MS, 2 * workers.length);
  gatewaysUnderLoad = [gateway];
  const chat = await loadRun(
    workers,
    { kind: 'fixed', rate: chatRate, set: 'parley' },
    { ...options, fixedDurationMs: Math.max(options.idleLagWindowMs * 2, 4_000), fixedWarmupMs: 1_000 },
    gateway.pid,
  );
  const chatLag = (await gateway.probe.report()).lag;
  gatewaysUnderLoad = [];
  await closePairs(workers, 'parley');
  await callAll(workers, 'closeIdle');
  const firstError = connected.find((result) => result.firstError)?.firstError;
  return {
    requested,
    connected: connectedCount + chattingSockets,
    failed,
    note: failed > 0 ? `${note}; ${failed} sockets failed to connect (${firstError})` : note,
    freshGatewayAgeMs,
    rssBeforeBytes,
    rssAfterBytes,
    rssPerSocketBytes: connectedCount > 0 ? (rssAfterBytes - rssBeforeBytes) / connectedCount : 0,
    lagIdle: { p50: idleLag.p50, p99: idleLag.p99, max: idleLag.max },
    chatting: { sockets: chattingSockets, ratePerSec: chat.ratePerSec, ack: chat.ack, lag: { p50: chatLag.p50, p99: chatLag.p99, max: chatLag.max } },
  };
}

// ---------------------------------------------------------------------------------------------
// Scenario 8 (issue #16): pipelined sends

/**
 * The pairs' patients send with `window` sends in flight on raw sockets, with random disconnects and an outbox that
 * resends (worker.ts `pipelined`), once per window; then every conversation is read back and counted (pipelined.ts).
 */
async function pipelinedScenario(
  workers: readonly Worker[],
  pairs: readonly PairSpec[],
  options: BenchOptions,
  log: (line: string) => void,
): Promise<PipelinedWindow[]> {
  const windows: PipelinedWindow[] = [];
  const groups = split(pairs, workers.length);
  const deadlineMs = options.mode === 'full' ? 120_000 : 60_000;
  for (const window of options.pipelinedWindows) {
    log(`pipelined: ${pairs.length} senders, ${options.pipelinedMessages} messages each, window ${window}, ${options.pipelinedDisconnects} random disconnects`);
    const answers = await callAll<PipelinedResult>(
      workers,
      'pipelined',
      (index) => ({
        pairs: groups[index],
        nextSeqs: nextSeqs['parley'] ?? {},
        window,
        messages: options.pipelinedMessages,
        // Spread over the workers in proportion to their senders.
        disconnects: Math.round((options.pipelinedDisconnects * groups[index]!.length) / Math.max(1, pairs.length)),
        deadlineMs,
      }),
      deadlineMs + 120_000,
    );
    nextSeqs['parley'] = Object.assign(nextSeqs['parley'] ?? {}, ...answers.map((answer) => answer.nextSeqs));
    const errors: Record<string, number> = {};
    for (const answer of answers) for (const [code, count] of Object.entries(answer.errors)) errors[code] = (errors[code] ?? 0) + count;
    const result: PipelinedWindow = {
      window,
      senders: pairs.length,
      messagesPerSender: options.pipelinedMessages,
      disconnects: options.pipelinedDisconnects,
      sent: answers.reduce((sum, answer) => sum + answer.sent, 0),
      acked: answers.reduce((sum, answer) => sum + answer.acked, 0),
      resent: answers.reduce((sum, answer) => sum + answer.resent, 0),
      reconnects: answers.reduce((sum, answer) => sum + answer.reconnects, 0),
      unacked: answers.reduce((sum, answer) => sum + answer.unacked, 0),
      errors,
      durationMs: Math.max(...answers.map((answer) => answer.durationMs)),
      counts: answers.reduce((sum, answer) => addCounts(sum, answer.counts), NO_ANOMALIES),
    };
    windows.push(result);
    log(
      `pipelined: window ${window}: ${result.acked}/${result.sent} acked, ${result.reconnects} reconnects, ${result.resent} resent; out of order ${result.counts.outOfOrder}, lost ${result.counts.lost} (acked ${result.counts.lostAcked}), duplicated ${result.counts.duplicated}`,
    );
  }
  return windows;
}

// ---------------------------------------------------------------------------------------------
// Scenario 5: queue and assignment

/** Connects the queue clinicians once as their clients would, so their capacity rows exist, and caps them. */
async function prepareQueueClinicians(url: string, practice: BenchPractice, clinicians: readonly Account[], cap: number): Promise<void> {
  const { ParleyClient } = await import('@parley/client');
  const sockets = await Promise.all(clinicians.map((clinician) => ParleyClient.connect({ url, token: clinician.token, requestTimeoutMs: 30_000 })));
  for (const socket of sockets) await socket.request('staff:availability', { availability: 'away' });
  for (const socket of sockets) socket.close();
  await setCaps(url, practice.manager, clinicians, cap);
}

async function queueScenario(
  workers: readonly Worker[],
  patients: readonly Account[],
  clinicians: readonly Account[],
  urls: readonly string[],
  recordBoxPublicKey: Uint8Array,
  cap: number,
  options: BenchOptions,
  log: (line: string) => void,
  onProfile?: (profile: CpuProfile) => Promise<void>,
  profiled?: BenchGateway,
): Promise<QueueFigure> {
  const { toBase64 } = await import('@parley/crypto');
  const patientSpecs = patients.map((patient, index) => queuePatientSpecs([patient], urls[index % urls.length]!)[0]!);
  const clinicianSpecs = clinicians.map((clinician, index) => queueClinicianSpecs([clinician], urls[(index + 1) % urls.length]!)[0]!);
  const patientGroups = split(patientSpecs, workers.length);
  const clinicianGroups = split(clinicianSpecs, workers.length);
  await callAll(
    workers,
    'queueConnect',
    (index) => ({ patients: patientGroups[index], clinicians: clinicianGroups[index], recordBoxPublicKey: toBase64(recordBoxPublicKey) }),
    600_000,
  );
  const runs: QueueFigure['runs'] = [];
  // The profile comes from one more run after the measured ones, never from a measured run: the sampling profiler adds
  // its own work to the gateway's (docs/benchmarks.md, step 15).
  const isProfiling = onProfile !== undefined && profiled !== undefined;
  // Its timings are not counted; a cap violation is, whichever run it happens in.
  let profiledCapViolations = 0;
  try {
    for (let run = 0; run < options.runs + (isProfiling ? 1 : 0); run++) {
      await callAll(workers, 'queuePrepare', () => ({}), 600_000);
      const isProfiled = isProfiling && run === options.runs;
      if (isProfiled) await profiled.probe.startProfile();
      const startAt = monoMs() + 500;
      let offset = 0;
      const offsets = patientGroups.map((group) => ((offset += group.length), offset - group.length));
      const opened = await callAll<{ opens: { conversationId: string; sentAt: number; ackAt: number; code?: string }[] }>(
        workers,
        'queueOpen',
        (index) => ({ startAt, spreadMs: options.queueSpreadMs, offset: offsets[index], total: patientSpecs.length }),
        300_000,
      );
      const opens = opened.flatMap((result) => result.opens);
      const okOpens = opens.filter((open) => !open.code);
      const failedOpens: Record<string, number> = {};
      for (const open of opens) if (open.code) failedOpens[open.code] = (failedOpens[open.code] ?? 0) + 1;
      const expected = Math.min(okOpens.length, cap * clinicians.length);
      const deadline = monoMs() + 30_000;
      let assignedAt = new Map<string, number>();
      let perClinician: Record<string, number> = {};
      while (monoMs() < deadline) {
        const answers = await callAll<{ assignedAt: Record<string, number>; perClinician: Record<string, number> }>(workers, 'queueAssigned');
        assignedAt = new Map(answers.flatMap((answer) => Object.entries(answer.assignedAt)));
        perClinician = Object.assign({}, ...answers.map((answer) => answer.perClinician));
        if (assignedAt.size >= expected) break;
        await sleep(100);
      }
      if (isProfiled) await onProfile((await profiled.probe.stopProfile()) as CpuProfile);
      const capViolations = Object.values(perClinician).filter((count) => count > cap).length;
      const assignedLatencies = okOpens.flatMap((open) => {
        const at = assignedAt.get(open.conversationId);
        return at === undefined ? [] : [at - open.sentAt];
      });
      const figure = {
        openAck: percentiles(okOpens.map((open) => open.ackAt - open.sentAt)),
        openAssigned: percentiles(assignedLatencies),
        assigned: assignedAt.size,
        failedOpens,
        capViolations,
      };
      if (isProfiled) profiledCapViolations = capViolations;
      else runs.push(figure);
      log(
        `queue: ${isProfiled ? 'profiled run (not counted)' : `run ${run + 1}`}: ${okOpens.length} opened, ${figure.assigned} assigned; open→ack p99 ${figure.openAck.p99.toFixed(0)} ms, open→assigned p50 ${figure.openAssigned.p50.toFixed(0)} p99 ${figure.openAssigned.p99.toFixed(0)} ms${capViolations ? `, ${capViolations} cap violations` : ''}`,
      );
      const closed = await callAll<{ closed: number; failed: number }>(workers, 'queueCloseAll', () => ({}), 300_000);
      const closeFailures = closed.reduce((sum, result) => sum + result.failed, 0);
      if (closeFailures > 0) log(`queue: ${closeFailures} conversations failed to close`);
    }
  } finally {
    await callAll(workers, 'queueDisconnect');
  }
  return {
    patients: patients.length,
    clinicians: clinicians.length,
    capPerClinician: cap,
    spreadMs: options.queueSpreadMs,
    runs,
    openAck: medianPercentiles(runs.map((run) => run.openAck)),
    openAssigned: medianPercentiles(runs.map((run) => run.openAssigned)),
    capViolations: runs.reduce((sum, run) => sum + run.capViolations, profiledCapViolations),
    assignedShare: median(runs.map((run) => run.assigned / Math.max(1, patients.length))),
  };
}

/** The soft file-descriptor limit of this process (children inherit it). */
function fileDescriptorLimit(): number {
  try {
    return Number(execFileSync('sh', ['-c', 'ulimit -n'], { encoding: 'utf8' }).trim()) || 1024;
  } catch {
    return 1024;
  }
}
