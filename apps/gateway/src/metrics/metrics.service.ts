import { Injectable } from '@nestjs/common';
import { COMMAND_NAMES, type Role } from '@parley/protocol';
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { Server } from 'socket.io';
import { primaryRole, type Actor } from '../common/actor.js';
import { MetricsRepository } from './metrics.repository.js';
import { watchCommands, type CommandSink } from './socket-metrics.js';

const KNOWN_COMMANDS: ReadonlySet<string> = new Set(COMMAND_NAMES);
/** Always reported, at 0 when nobody of that role is connected, so dashboards see a series. */
const ROLES: readonly Role[] = ['patient', 'clinician', 'manager'];

/** Seconds: a send is acked after its batch commits, so the interesting range is one to a few hundred milliseconds. */
const LATENCY_BUCKETS = [0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
/** Entries per record transaction; the writer never puts more than 256 in one. */
const BATCH_BUCKETS = [1, 2, 4, 8, 16, 32, 64, 128, 256];

/** How a socket command ended: `ok`, an error code from the closed set, or `no_ack` for a command sent without one. */
export type CommandOutcome = 'ok' | 'no_ack' | string;

/**
 * The gateway's Prometheus metrics, in a registry of its own (several gateways can share a test
 * process). Features report through its methods; the scrape-time figures (queue, caps, pool) are
 * read when `/metrics` is scraped. Labels carry event names, roles, codes and practice ids only.
 */
@Injectable()
export class MetricsService implements CommandSink {
  readonly registry = new Registry();
  private readonly sockets = new Gauge({
    name: 'parley_connected_sockets',
    help: 'Sockets connected to this node, by role.',
    labelNames: ['role'],
    registers: [this.registry],
  });
  private readonly commands = new Counter({
    name: 'parley_socket_commands_total',
    help: 'Socket commands answered by this node, by event and outcome (ok or the error code).',
    labelNames: ['event', 'outcome'],
    registers: [this.registry],
  });
  private readonly errors = new Counter({
    name: 'parley_socket_errors_total',
    help: 'Socket commands refused or failed, by event and error code.',
    labelNames: ['event', 'code'],
    registers: [this.registry],
  });
  private readonly commandSeconds = new Histogram({
    name: 'parley_socket_command_seconds',
    help: 'Time from a command reaching this node to its ack, by event.',
    labelNames: ['event'],
    buckets: LATENCY_BUCKETS,
    registers: [this.registry],
  });
  private readonly sendAckSeconds = new Histogram({
    name: 'parley_send_ack_seconds',
    help: 'conversation:send, from arrival to ack (the ack waits for the record commit).',
    buckets: LATENCY_BUCKETS,
    registers: [this.registry],
  });
  private readonly httpResponses = new Counter({
    name: 'parley_http_responses_total',
    help: 'HTTP responses, by method, route pattern and status code.',
    labelNames: ['method', 'route', 'status'],
    registers: [this.registry],
  });
  private readonly batchSizes = new Histogram({
    name: 'parley_record_batch_size',
    help: 'Entries per record transaction (group commit) written by this node.',
    buckets: BATCH_BUCKETS,
    registers: [this.registry],
  });
  private readonly batchFailures = new Counter({
    name: 'parley_record_batch_failures_total',
    help: 'Record transactions that failed (nothing in them was acked).',
    registers: [this.registry],
  });
  private readonly appendsRefused = new Counter({
    name: 'parley_record_appends_refused_total',
    help: 'Record entries refused with rate_limited because the writer queue was full (RECORD_QUEUE_MAX).',
    registers: [this.registry],
  });
  private readonly recordWriter = new Gauge({
    name: 'parley_record_writer',
    help: "This node's record writer: entries queued for a transaction, and batch transactions open (pipelined).",
    labelNames: ['state'],
    registers: [this.registry],
  });
  private readRecordWriter: (() => { queued: number; inFlight: number }) | undefined;
  private readonly assignments = new Counter({
    name: 'parley_assignments_total',
    help: 'Conversations assigned by this node, by how (auto, claim, transfer).',
    labelNames: ['how'],
    registers: [this.registry],
  });
  private readonly queueWaiting = new Gauge({
    name: 'parley_queue_waiting',
    help: 'Conversations waiting in the queue, by practice (same on every node).',
    labelNames: ['practice_id'],
    registers: [this.registry],
  });
  private readonly queueLongestWait = new Gauge({
    name: 'parley_queue_longest_wait_seconds',
    help: 'How long the longest-waiting conversation has waited, by practice.',
    labelNames: ['practice_id'],
    registers: [this.registry],
  });
  private readonly activeConversations = new Gauge({
    name: 'parley_conversations_active',
    help: 'Conversations assigned or on hold, by practice.',
    labelNames: ['practice_id'],
    registers: [this.registry],
  });
  private readonly capacity = new Gauge({
    name: 'parley_clinician_capacity',
    help: 'Sum of the concurrent caps of available clinicians, by practice.',
    labelNames: ['practice_id'],
    registers: [this.registry],
  });
  private readonly capUtilisation = new Gauge({
    name: 'parley_cap_utilisation_ratio',
    help: "Active conversations over the available clinicians' caps, by practice (absent while nobody is available).",
    labelNames: ['practice_id'],
    registers: [this.registry],
  });
  private readonly pool = new Gauge({
    name: 'parley_db_pool_connections',
    help: "This node's PostgreSQL pool: total, idle and max connections, and requests waiting for one.",
    labelNames: ['state'],
    registers: [this.registry],
  });

  private server: Server | undefined;

  constructor(private readonly repository: MetricsRepository) {
    collectDefaultMetrics({ register: this.registry, prefix: 'parley_process_' });
  }

  /**
   * Watches the socket.io server (called by the io adapter once it exists): every socket's commands
   * are counted as they are answered; sockets are counted from the server at each scrape, so that
   * figure cannot drift from the truth.
   */
  attach(server: Server): void {
    this.server = server;
    server.use((socket, next) => {
      watchCommands(socket, this);
      next();
    });
  }

  /** Counts one answered command; unknown event names are folded into `unknown` so clients cannot grow the label set. */
  commandAnswered(event: string, outcome: CommandOutcome, seconds: number | undefined): void {
    const name = KNOWN_COMMANDS.has(event) ? event : 'unknown';
    this.commands.inc({ event: name, outcome });
    if (outcome !== 'ok' && outcome !== 'no_ack') this.errors.inc({ event: name, code: outcome });
    if (seconds === undefined) return;
    this.commandSeconds.observe({ event: name }, seconds);
    if (name === 'conversation:send' && outcome === 'ok') this.sendAckSeconds.observe(seconds);
  }

  httpResponded(method: string, route: string, status: number): void {
    this.httpResponses.inc({ method, route, status: String(status) });
  }

  recordBatchWritten(size: number): void {
    this.batchSizes.observe(size);
  }

  recordBatchFailed(): void {
    this.batchFailures.inc();
  }

  recordAppendRefused(entries: number): void {
    this.appendsRefused.inc(entries);
  }

  /** Where the scrape reads the record writer's queue length and open batches (RecordService registers itself). */
  watchRecordWriter(read: () => { queued: number; inFlight: number }): void {
    this.readRecordWriter = read;
  }

  assigned(how: string): void {
    this.assignments.inc({ how });
  }

  /** Reads the scrape-time figures, then renders every metric in Prometheus' text format. */
  async render(): Promise<string> {
    const [queues, loads] = await Promise.all([this.repository.queues(), this.repository.loads()]);
    for (const gauge of [this.queueWaiting, this.queueLongestWait, this.activeConversations, this.capacity, this.capUtilisation]) gauge.reset();
    for (const queue of queues) {
      this.queueWaiting.set({ practice_id: queue.practiceId }, queue.waiting);
      this.queueLongestWait.set({ practice_id: queue.practiceId }, queue.longestWaitSeconds);
    }
    for (const load of loads) {
      this.activeConversations.set({ practice_id: load.practiceId }, load.active);
      this.capacity.set({ practice_id: load.practiceId }, load.capacity);
      if (load.capacity > 0) this.capUtilisation.set({ practice_id: load.practiceId }, load.active / load.capacity);
    }
    this.sockets.reset();
    for (const role of ROLES) this.sockets.set({ role }, 0);
    for (const socket of this.server?.of('/').sockets.values() ?? []) {
      const actor = (socket.data as { actor?: Actor }).actor;
      this.sockets.inc({ role: actor ? primaryRole(actor) : 'unknown' });
    }
    const writer = this.readRecordWriter?.();
    if (writer) {
      this.recordWriter.set({ state: 'queued' }, writer.queued);
      this.recordWriter.set({ state: 'in_flight' }, writer.inFlight);
    }
    const pool = this.repository.pool();
    for (const [state, value] of Object.entries(pool)) this.pool.set({ state }, value);
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }
}
