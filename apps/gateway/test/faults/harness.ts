/**
 * The fault-injection harness: real gateway processes (two, linked by Redis, when TEST_REDIS_URL is
 * set; one otherwise) on one PostgreSQL database, simulated patients and a clinician chatting through
 * @parley/sdk (real crypto, real sockets), each through its own TCP proxy so its network can be cut,
 * black-holed or delayed. A ledger records what every client sent, got acknowledged and received;
 * `checkInvariants` says what must hold after any fault (docs/protocol.md, "Delivery: what a client must do").
 */
import { randomBytes } from 'node:crypto';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { MemoryOutboxStore, type FeedEntry, type OutboxItem } from '@parley/client';
import type { ChatEntry } from '@parley/sdk';
import {
  createTestDatabase,
  redisKeyPrefix,
  startGatewayProcess,
  startTcpProxy,
  testRedisUrl,
  type GatewayProcess,
  type TcpProxy,
  type TestDatabase,
} from '@parley/testing';
import type { DataSource } from 'typeorm';
import { openDatabase } from '../../src/database/data-source.js';
import { EmbeddedPostgres, freePort } from '../../src/database/embedded-postgres.js';
import { followConversation, patientChat, staffChat, type Chatter } from '../chat.js';
import { freshDatabase } from '../database.js';
import { activatePatient, connectAs, createPracticeWithStaff, type TestPractice } from '../factories.js';
import { waitUntil } from '../wait.js';

const ENTRY = join(import.meta.dirname, '..', '..', 'dist', 'main.js');

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** An outbox store that also keeps a copy of every payload it was given (the exact bytes a retry would send). */
export class CapturingOutboxStore extends MemoryOutboxStore {
  readonly sent: OutboxItem['send'][] = [];

  override async put(item: OutboxItem): Promise<void> {
    if (!this.sent.some((send) => send.clientMessageId === item.send.clientMessageId)) this.sent.push(structuredClone(item.send));
    await super.put(item);
  }
}

/** Whether a node's process has ended (exited, or was killed by a signal). */
export const hasEnded = (node: GatewayProcess): boolean => node.child.exitCode !== null || node.child.signalCode !== null;

/** Gateway nodes on fixed loopback ports (so a restarted node is found where the old one was) and their database. */
export class Cluster {
  readonly nodes: (GatewayProcess | undefined)[] = [];
  private readonly streamName = redisKeyPrefix();
  /** What each node answered to the last readiness question (`readiness`), for `describeReadiness`. */
  private lastReadiness: string[] = [];

  private constructor(
    readonly database: TestDatabase,
    readonly dataSource: DataSource,
    readonly ports: number[],
    private readonly redisUrl: string | undefined,
    /** The cluster's own PostgreSQL, when it was asked for one (to restart it without disturbing other test files). */
    readonly postgres: { server: EmbeddedPostgres; dataDir: string } | undefined,
  ) {}

  /**
   * Starts `count` nodes (one when there is no TEST_REDIS_URL: nodes without Redis cannot reach each other's sockets),
   * on a fresh database of the run's PostgreSQL, or with `ownPostgres` on an embedded server of their own.
   */
  static async start(count: number, options: { ownPostgres?: boolean } = {}): Promise<Cluster> {
    const redisUrl = testRedisUrl();
    let postgres: Cluster['postgres'];
    if (options.ownPostgres) {
      // Inside the checkout: the postgres OS user must be able to reach it (docs/operations.md, "Running on the embedded database").
      const dataDir = join(import.meta.dirname, '..', '..', '..', '..', '.data', `faults-${process.pid}-${randomBytes(4).toString('hex')}`);
      const server = new EmbeddedPostgres({ dataDir, port: await freePort() });
      await server.start();
      postgres = { server, dataDir };
    }
    const database = postgres ? await createTestDatabase(postgres.server.url) : await freshDatabase();
    const dataSource = await openDatabase(database.url);
    const ports = await Promise.all(Array.from({ length: redisUrl ? count : 1 }, () => freePort()));
    const cluster = new Cluster(database, dataSource, ports, redisUrl, postgres);
    await Promise.all(ports.map((_, index) => cluster.startNode(index)));
    return cluster;
  }

  get url(): string {
    return `http://127.0.0.1:${this.ports[0]}`;
  }

  /**
   * Starts node `index` on its port (with extra environment, e.g. PARLEY_FAULTS); resolves once it is ready, or with
   * `mayEndBeforeReady` also once it has ended (an armed fault point fired while it started).
   */
  async startNode(index: number, extraEnv: Record<string, string> = {}, options: { mayEndBeforeReady?: boolean } = {}): Promise<GatewayProcess> {
    const env: Record<string, string> = { DATABASE_URL: this.database.url, NODE_ENV: 'test', SHUTDOWN_GRACE_MS: '2000', ...extraEnv };
    if (this.redisUrl) Object.assign(env, { REDIS_URL: this.redisUrl, REDIS_STREAM_NAME: this.streamName });
    const node = await startGatewayProcess({ entry: ENTRY, port: this.ports[index]!, env, readyTimeoutMs: 60_000, ...options });
    this.nodes[index] = node;
    return node;
  }

  /** SIGKILLs node `index` (no shutdown hook runs) and resolves once it is gone. */
  async kill(index: number): Promise<void> {
    await this.nodes[index]?.stop('SIGKILL');
    this.nodes[index] = undefined;
  }

  /** Resolves when node `index` exits by itself (a fault point fired), with the time it did. */
  exited(index: number): Promise<number> {
    const node = this.nodes[index]!;
    return new Promise((resolve) => {
      if (hasEnded(node)) return resolve(Date.now());
      node.child.once('exit', () => resolve(Date.now()));
    });
  }

  /** Whether every node answers /health/ready with 200. */
  async isReady(): Promise<boolean> {
    return (await this.readiness()).every((status) => status === 200);
  }

  /** Whether every node answers /health/ready with something other than 200 (it is up, and knows it cannot serve). */
  async isNotReady(): Promise<boolean> {
    return (await this.readiness()).every((status) => status !== 0 && status !== 200);
  }

  /**
   * What each node answered to the last readiness question, its reasons when not ready, and the last lines it printed: for
   * a wait's failure message, so that a node that never became ready says why.
   */
  describeReadiness(): string {
    return this.ports
      .map((port, index) => {
        const node = this.nodes[index];
        const state = !node ? 'not running' : hasEnded(node) ? `exited (${node.child.exitCode ?? node.child.signalCode})` : 'running';
        const lastLines =
          node
            ?.output()
            .trim()
            .split('\n')
            .slice(-5)
            .map((line) => line.slice(0, 300))
            .join('\n    ') ?? '';
        return `\n  node ${index} (port ${port}, ${state}): ${this.lastReadiness[index] ?? 'not asked'}${lastLines ? `\n    ${lastLines}` : ''}`;
      })
      .join('');
  }

  /** Each node's /health/ready status (0 when it did not answer), remembering the answers for `describeReadiness`. */
  private async readiness(): Promise<number[]> {
    const answers = await Promise.all(
      this.ports.map((port) =>
        fetch(`http://127.0.0.1:${port}/health/ready`).then(
          async (response) => ({ status: response.status, text: `${response.status} ${(await response.text()).slice(0, 300)}` }),
          // Duck-typed: fetch's errors come from another realm than jest's test context, so `instanceof Error` fails.
          (error: { message?: string; cause?: { message?: string } }) => ({ status: 0, text: `no answer (${error.cause?.message ?? error.message})` }),
        ),
      ),
    );
    this.lastReadiness = answers.map((answer) => answer.text);
    return answers.map((answer) => answer.status);
  }

  /** Whether every node process is still running. */
  get areAlive(): boolean {
    return this.nodes.every((node) => node !== undefined && !hasEnded(node));
  }

  async close(): Promise<void> {
    await Promise.all(this.nodes.map((node) => node?.stop('SIGKILL')));
    await this.dataSource.destroy();
    await this.database.drop().catch(() => undefined);
    if (this.postgres) {
      await this.postgres.server.stop();
      await rm(this.postgres.dataDir, { recursive: true, force: true });
    }
  }
}

/** One simulated user: their chat session, reached through their own proxy, and their outbox store. */
export interface Participant {
  name: string;
  chat: Chatter;
  proxy: TcpProxy;
  store: CapturingOutboxStore;
  /** Entries received per conversation, in arrival order (ChatSession.follow's callback). */
  received: Map<string, FeedEntry<ChatEntry>[]>;
}

/** One send in the ledger. */
export interface SendRecord {
  who: string;
  conversationId: string;
  body: string;
  startedAt: number;
  settledAt?: number;
  ok?: boolean;
  code?: string;
}

/** A practice with one clinician (cap high enough for everyone) and `patients` patients, each in one assigned conversation. */
export interface Population {
  practice: TestPractice;
  clinician: Participant;
  patients: Participant[];
  /** conversation id → the patient's participant */
  conversations: Map<string, Participant>;
  ledger: SendRecord[];
  /** Each participant's bearer token, by name. */
  tokens: Map<string, string>;
  close(): Promise<void>;
}

/** Builds the population; participant i connects to node i % nodes through its own proxy. */
export async function populate(cluster: Cluster, patients: number): Promise<Population> {
  const gateway = { url: cluster.url, dataSource: cluster.dataSource };
  const practice = await createPracticeWithStaff(gateway);
  const manager = await connectAs(cluster.url, practice.manager, 10_000);
  await manager.request('capacity:set-clinician', { clinicianId: practice.clinician.userId, maxConcurrent: Math.min(50, patients + 1), dailyMax: null });
  manager.close();
  const proxyTo = (index: number) => startTcpProxy({ target: { host: '127.0.0.1', port: cluster.ports[index % cluster.ports.length]! } });
  const participant = async (name: string, index: number, start: (url: string, store: CapturingOutboxStore) => Promise<Chatter>): Promise<Participant> => {
    const proxy = await proxyTo(index);
    const store = new CapturingOutboxStore();
    return { name, chat: await start(proxy.url, store), proxy, store, received: new Map() };
  };
  const clinician = await participant('clinician', 0, (url, store) => staffChat(url, practice, practice.clinician, store));
  const conversations = new Map<string, Participant>();
  const people: Participant[] = [];
  const tokens = new Map<string, string>([['clinician', practice.clinician.token]]);
  for (let i = 0; i < patients; i += 1) {
    const account = await activatePatient(cluster.url, practice, { displayName: `Patient ${i}` });
    const patient = await participant(`patient ${i}`, i + 1, (url, store) => patientChat(url, practice, account, 3_000, store));
    tokens.set(patient.name, account.token);
    const { id } = await patient.chat.session.openConversation('admin');
    conversations.set(id, patient);
    people.push(patient);
  }
  await waitUntil(
    async () =>
      (
        await cluster.dataSource.query(`SELECT count(*)::int AS n FROM conversations WHERE status = 'assigned' AND id = ANY($1::uuid[])`, [
          [...conversations.keys()],
        ])
      )[0].n === patients,
    'every conversation to be assigned',
    30_000,
  );
  for (const [conversationId, patient] of conversations) {
    for (const who of [patient, clinician]) {
      const entries: FeedEntry<ChatEntry>[] = [];
      who.received.set(conversationId, entries);
      await followConversation(who.chat.session, conversationId, (entry) => entries.push(entry));
    }
  }
  return {
    practice,
    clinician,
    patients: people,
    conversations,
    ledger: [],
    tokens,
    close: async () => {
      for (const who of [clinician, ...people]) {
        await who.chat.session.close();
        await who.proxy.close();
      }
    },
  };
}

/** Sends one message through the participant's outbox and records it in the ledger. */
export function send(population: Population, who: Participant, conversationId: string, body: string): Promise<SendRecord> {
  const record: SendRecord = { who: who.name, conversationId, body, startedAt: Date.now() };
  population.ledger.push(record);
  return who.chat.session
    .conversation(conversationId)
    .send(body)
    .then((result) => {
      record.settledAt = Date.now();
      record.ok = result.ok;
      if (!result.ok) record.code = result.error.code;
      return record;
    });
}

/**
 * The workload: every patient sends `perPatient` messages at seeded intervals and the clinician
 * answers every third, all at once. Resolves with every send's promise (settled when the outbox gives up or the server acks).
 */
export async function converse(population: Population, perPatient: number, random: () => number, label = 'm'): Promise<Promise<SendRecord>[]> {
  const sends: Promise<SendRecord>[] = [];
  for (let i = 0; i < perPatient; i += 1) {
    for (const [conversationId, patient] of population.conversations) {
      sends.push(send(population, patient, conversationId, `${label} ${patient.name} #${i}`));
      if (i % 3 === 0) sends.push(send(population, population.clinician, conversationId, `${label} reply to ${patient.name} #${i}`));
    }
    await sleep(Math.floor(random() * 40));
  }
  return sends;
}

/** The 95th percentile of send → ack of the acknowledged sends, in ms. */
export function p95SendToAck(ledger: readonly SendRecord[]): number {
  const durations = ledger
    .filter((record) => record.ok && record.settledAt)
    .map((record) => record.settledAt! - record.startedAt)
    .sort((a, b) => a - b);
  return durations.length === 0 ? 0 : durations[Math.min(durations.length - 1, Math.ceil(durations.length * 0.95) - 1)]!;
}

/** How long after `faultAt` the first send that was waiting at that moment got its ack (the stuck work moving again), in ms. */
export function recoveryMs(ledger: readonly SendRecord[], faultAt: number): number | null {
  const resumed = ledger.filter((record) => record.ok && record.startedAt <= faultAt && record.settledAt! > faultAt).map((record) => record.settledAt!);
  return resumed.length === 0 ? null : Math.min(...resumed) - faultAt;
}

/**
 * What must hold after any scenario, checked against the database and every client. Returns the
 * violations found (empty when everything holds), so a failing run names all of them at once.
 * - every acknowledged message is stored exactly once, and nothing else from the ledger is stored twice;
 * - every member of each conversation holds exactly entries 1..last_seq, in order, each one opened
 *   (decrypted and verified), and every acknowledged body exactly once;
 * - a send that was not acknowledged is still in its sender's outbox (never silently dropped);
 * - no conversation has two live assignments, no clinician is above their cap.
 */
export async function checkInvariants(cluster: Cluster, population: Population, timeoutMs = 60_000): Promise<string[]> {
  const problems: string[] = [];
  const { dataSource } = cluster;
  const heads = new Map<string, number>(
    (
      (await dataSource.query(`SELECT id, last_seq FROM conversations WHERE id = ANY($1::uuid[])`, [[...population.conversations.keys()]])) as {
        id: string;
        last_seq: string;
      }[]
    ).map((row) => [row.id, Number(row.last_seq)]),
  );
  const members = (conversationId: string) => [population.conversations.get(conversationId)!, population.clinician];
  await waitUntil(
    () => [...heads].every(([id, last]) => members(id).every((who) => (who.received.get(id) ?? []).length >= last)),
    'every member to hold every entry',
    timeoutMs,
  ).catch((error: Error) => problems.push(error.message));

  for (const [conversationId, lastSeq] of heads) {
    const [stored] = (await dataSource.query(
      `SELECT count(*)::int AS n, count(DISTINCT client_message_id)::int AS ids, count(DISTINCT seq)::int AS seqs FROM record_entries WHERE conversation_id = $1 AND kind = 'message'`,
      [conversationId],
    )) as { n: number; ids: number; seqs: number }[];
    const acked = population.ledger.filter((record) => record.conversationId === conversationId && record.ok);
    if (stored!.n !== stored!.ids || stored!.n !== stored!.seqs)
      problems.push(`${conversationId}: ${stored!.n} messages stored under ${stored!.ids} ids / ${stored!.seqs} seqs`);
    if (stored!.n < acked.length) problems.push(`${conversationId}: ${acked.length} acknowledged but only ${stored!.n} stored`);
    const unacked = population.ledger.filter((record) => record.conversationId === conversationId && !record.ok).length;
    if (stored!.n > acked.length + unacked) problems.push(`${conversationId}: ${stored!.n} stored, more than the ${acked.length + unacked} sent`);
    for (const who of members(conversationId)) {
      const entries = who.received.get(conversationId) ?? [];
      const seqs = entries.map((entry) => entry.seq);
      const expected = Array.from({ length: lastSeq }, (_, i) => i + 1);
      if (JSON.stringify(seqs) !== JSON.stringify(expected))
        problems.push(`${who.name} in ${conversationId}: seqs ${describeSeqs(seqs)} instead of 1..${lastSeq}`);
      const unopened = entries.filter((entry) => !entry.ok);
      if (unopened.length > 0)
        problems.push(`${who.name} in ${conversationId}: ${unopened.length} entries not opened (${unopened[0]!.ok ? '' : unopened[0]!.error.code})`);
      const bodies = entries.flatMap((entry) => (entry.ok && entry.value.kind === 'message' ? [entry.value.body] : []));
      const missing = acked.filter((record) => bodies.filter((body) => body === record.body).length !== 1);
      if (missing.length > 0)
        problems.push(`${who.name} in ${conversationId}: ${missing.length} acknowledged bodies not held exactly once (e.g. ${missing[0]!.body})`);
    }
  }

  for (const who of [population.clinician, ...population.patients]) {
    const notAcked = population.ledger.filter((record) => record.who === who.name && record.ok === false).length;
    const inOutbox = (await who.store.loadAll()).length;
    if (notAcked !== inOutbox) problems.push(`${who.name}: ${notAcked} sends not acknowledged, ${inOutbox} in the outbox`);
  }
  const unsettled = population.ledger.filter((record) => record.ok === undefined).length;
  if (unsettled > 0) problems.push(`${unsettled} sends never settled`);

  problems.push(...(await assignmentProblems(dataSource)));
  return problems;
}

/** No conversation with two live assignments, no clinician above their concurrent cap, and every assigned conversation's row agrees with its live assignment. */
export async function assignmentProblems(dataSource: DataSource): Promise<string[]> {
  const problems: string[] = [];
  const doubled = (await dataSource.query(
    `SELECT conversation_id FROM assignments WHERE ended_at IS NULL GROUP BY conversation_id HAVING count(*) > 1`,
  )) as unknown[];
  if (doubled.length > 0) problems.push(`${doubled.length} conversations with two live assignments`);
  const overCap = (await dataSource.query(
    `SELECT a.clinician_id, count(*)::int AS live, c.max_concurrent FROM assignments a JOIN clinician_capacity c ON c.user_id = a.clinician_id
     WHERE a.ended_at IS NULL GROUP BY a.clinician_id, c.max_concurrent HAVING count(*) > c.max_concurrent`,
  )) as unknown[];
  if (overCap.length > 0) problems.push(`clinicians above their cap: ${JSON.stringify(overCap)}`);
  const disagreeing = (await dataSource.query(
    `SELECT c.id FROM conversations c LEFT JOIN assignments a ON a.conversation_id = c.id AND a.ended_at IS NULL
     WHERE (c.status IN ('assigned', 'on_hold')) <> (a.id IS NOT NULL) OR (a.id IS NOT NULL AND a.clinician_id <> c.assigned_clinician_id)`,
  )) as unknown[];
  if (disagreeing.length > 0) problems.push(`${disagreeing.length} conversations whose row disagrees with their live assignment`);
  return problems;
}

function describeSeqs(seqs: number[]): string {
  return seqs.length > 12 ? `[${seqs.slice(0, 5).join(',')} … ${seqs.slice(-5).join(',')}] (${seqs.length})` : `[${seqs.join(',')}]`;
}
