/**
 * A load generator process (forked by the bench, driven over IPC). It holds real socket.io connections through
 * `@parley/client` (or plain socket.io-client for the baselines), pre-encrypts messages with the real crypto, runs
 * bounded load loops, and answers with raw latencies. Every loop is bounded in count (the pool) and in time.
 */
import { setMaxListeners } from 'node:events';
import { ParleyClient } from '@parley/client';
import { fromBase64, ready } from '@parley/crypto';
import type { ConversationSend, RecordEntry } from '@parley/protocol';
import { decryptEntry, encryptForSend, isDeviceTrusted, newEpoch, openEnvelope } from '@parley/sdk';
import { io, type Socket } from 'socket.io-client';
import { addCounts, countPipelined, NO_ANOMALIES, type PipelinedCounts, type StoredSend } from './pipelined.js';
import { monoMs, processCpuMs, sleep } from './stats.js';
import type { LoadResult, MemberSpec, PairSpec, QueueClinicianSpec, QueuePatientSpec } from './types.js';
import { uploadCommands } from './upload-commands.js';

/** What a sent message waits for. */
interface InFlight {
  sentAt: number;
  isMeasured: boolean;
}

/** One member's connection, whichever server it talks to. */
interface Endpoint {
  deviceId: string;
  send(payload: ConversationSend): Promise<{ ok: boolean; code?: string }>;
  close(): void;
}

/** One sending member of a pair: its connection, its keys, its pool of ready payloads. */
interface Sender {
  endpoint: Endpoint;
  member: MemberSpec;
  pair: PairSpec;
  epochKey: Uint8Array;
  nextSeq: number;
  pool: ConversationSend[];
  /** What this sender has in flight; the counterpart's receiver resolves delivery there. */
  inFlight: Map<string, InFlight>;
}

/** A realistic short message (the ciphertext is padded to a bucket anyway). */
const BODY = 'Hello, I would like to ask about my repeat prescription for next week, and whether I need a review first. Thank you very much.';
const REQUEST_TIMEOUT_MS = 30_000;

/** The connected pairs by set (one per server under test: the gateway, the relay, the one-INSERT server), so runs can interleave. */
const sets = new Map<string, Sender[]>();
/** The set the current command works on. */
let senders: Sender[] = [];
let idle: ParleyClient[] = [];
/** Counters shared by the receivers and the running loop. */
let run: RunState | undefined;
let verifyBudget = 0;
let verified = 0;
let verifyFailures = 0;

interface RunState {
  measureFrom: number;
  measureTo: number;
  ackMs: number[];
  deliveredMs: number[];
  delivered: number;
}

const commands: Record<string, (args: never) => Promise<unknown>> = {
  connectPairs: (args: { set: string; pairs: PairSpec[]; transport: 'parley' | 'baseline'; baselineUrl?: string; nextSeqs: Record<string, number> }) =>
    connectPairs(args),
  prepare: (args: { set: string; perSender: number; isCopy?: boolean }) => (select(args.set), prepare(args.perSender, args.isCopy === true)),
  runMax: (args: { set: string; startAt: number; durationMs: number; warmupMs: number; window: number }) => (select(args.set), runMax(args)),
  runFixed: (args: { set: string; startAt: number; durationMs: number; warmupMs: number; rate: number }) => (select(args.set), runFixed(args)),
  closePairs: async (args: { set?: string }) => closePairs(args.set),
  pipelined: (args: PipelinedInput) => pipelined(args),
  connectIdle: (args: { tokens: { token: string; url: string }[]; concurrency: number }) => connectIdle(args),
  closeIdle: async () => {
    for (const client of idle) client.close();
    const count = idle.length;
    idle = [];
    return { closed: count };
  },
  queueConnect: (args: { patients: QueuePatientSpec[]; clinicians: QueueClinicianSpec[]; recordBoxPublicKey: string }) => queueConnect(args),
  queuePrepare: async () => queuePrepare(),
  queueOpen: (args: { startAt: number; spreadMs: number; offset: number; total: number }) => queueOpen(args),
  queueAssigned: async () => ({ assignedAt: Object.fromEntries(queue.assignedAt), perClinician: Object.fromEntries(queue.perClinician) }),
  queueCloseAll: () => queueCloseAll(),
  queueDisconnect: async () => queueDisconnect(),
  cpu: async () => processCpuMs(),
  ...uploadCommands,
};

process.on('message', (message: { id: number; command: string; args: unknown }) => {
  const handler = commands[message.command];
  const reply = (body: object) => process.send?.({ id: message.id, ...body });
  if (!handler) return reply({ ok: false, error: `unknown command ${message.command}` });
  handler(message.args as never).then(
    (result) => reply({ ok: true, result }),
    (error: unknown) => reply({ ok: false, error: error instanceof Error ? `${error.message}\n${error.stack}` : String(error) }),
  );
});
// The parent going away ends the worker: nothing may outlive the bench.
process.on('disconnect', () => process.exit(0));

function select(set: string): void {
  senders = sets.get(set) ?? [];
}

// ---------------------------------------------------------------------------------------------
// Pairs: connect, pre-encrypt, run

/** Where a sender's device sequence continues: a sequence number is never reused in a conversation (the gateway refuses it). */
export const seqKey = (conversationId: string, deviceId: string): string => `${conversationId}/${deviceId}`;

async function connectPairs(input: {
  set: string;
  pairs: PairSpec[];
  transport: 'parley' | 'baseline';
  baselineUrl?: string;
  nextSeqs: Record<string, number>;
}): Promise<{ senders: number }> {
  await ready();
  closePairs(input.set);
  const created: Sender[] = [];
  await mapLimit(input.pairs, 20, async (pair) => {
    const patientInFlight = new Map<string, InFlight>();
    const clinicianInFlight = new Map<string, InFlight>();
    // Each side resolves delivery of what the *other* side sent.
    const patient = await connectMember(pair, pair.patient, input, clinicianInFlight);
    const clinician = await connectMember(pair, pair.clinician, input, patientInFlight);
    const clinicianKey = input.transport === 'parley' ? clinician.epochKey! : fromBase64(pair.patient.epochKey);
    const nextSeq = (member: MemberSpec) => input.nextSeqs[seqKey(pair.conversationId, member.deviceId)] ?? 1;
    created.push(
      {
        endpoint: patient.endpoint,
        member: pair.patient,
        pair,
        epochKey: fromBase64(pair.patient.epochKey),
        nextSeq: nextSeq(pair.patient),
        pool: [],
        inFlight: patientInFlight,
      },
      {
        endpoint: clinician.endpoint,
        member: pair.clinician,
        pair,
        epochKey: clinicianKey,
        nextSeq: nextSeq(pair.clinician),
        pool: [],
        inFlight: clinicianInFlight,
      },
    );
  });
  sets.set(input.set, created);
  return { senders: created.length };
}

/**
 * Connects one member. For our gateway: joins the conversation's room; a clinician opens the epoch key from the
 * record-key envelope after checking its creator chains to the pinned root. Incoming messages from the counterpart
 * resolve `counterpartInFlight`; a few are decrypted and verified to prove the payloads are real.
 */
async function connectMember(
  pair: PairSpec,
  member: MemberSpec,
  input: { transport: 'parley' | 'baseline'; baselineUrl?: string },
  counterpartInFlight: Map<string, InFlight>,
): Promise<{ endpoint: Endpoint; epochKey?: Uint8Array }> {
  const onDelivered = (clientMessageId: string, entry?: RecordEntry, epochKey?: Uint8Array, senderSignPublicKey?: string) => {
    const flight = counterpartInFlight.get(clientMessageId);
    if (!flight) return;
    counterpartInFlight.delete(clientMessageId);
    if (!run) return;
    run.delivered += 1;
    if (flight.isMeasured) run.deliveredMs.push(monoMs() - flight.sentAt);
    if (entry && epochKey && senderSignPublicKey && verifyBudget > 0) {
      verifyBudget -= 1;
      try {
        decryptEntry({
          conversation: { id: pair.conversationId, practiceOdsCode: pair.practiceOdsCode, patientId: pair.patientId },
          entry,
          epochKey,
          senderSignPublicKey: fromBase64(senderSignPublicKey),
        });
        verified += 1;
      } catch {
        verifyFailures += 1;
      }
    }
  };
  if (input.transport === 'baseline') {
    const socket: Socket = io(input.baselineUrl!, { transports: ['websocket'], forceNew: true, reconnection: false });
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', () => resolve());
      socket.once('connect_error', reject);
    });
    socket.on('relayed', (payload: { from: string; send: ConversationSend }) => {
      if (payload.from !== member.deviceId) onDelivered(payload.send.clientMessageId);
    });
    await socket.timeout(REQUEST_TIMEOUT_MS).emitWithAck('join', { room: pair.conversationId });
    return {
      endpoint: {
        deviceId: member.deviceId,
        send: async (payload) => {
          try {
            const answer = (await socket.timeout(REQUEST_TIMEOUT_MS).emitWithAck('send', { from: member.deviceId, send: payload })) as { ok: boolean };
            return { ok: answer.ok, code: answer.ok ? undefined : 'refused' };
          } catch {
            return { ok: false, code: 'timeout' };
          }
        },
        close: () => socket.close(),
      },
    };
  }
  const client = await ParleyClient.connect({ url: member.url, token: member.token, requestTimeoutMs: REQUEST_TIMEOUT_MS });
  const joined = await client.request('conversation:join', { conversationId: pair.conversationId });
  if (!joined.ok) throw new Error(`join as ${member.role}: ${joined.error.code} ${joined.error.message}`);
  let epochKey: Uint8Array | undefined;
  if (member.role === 'clinician') {
    const envelope = joined.data.envelopes.find((candidate) => candidate.recipient.kind === 'record' && candidate.epoch === 1);
    const creator = joined.data.devices.find((device) => device.id === envelope?.creatorDeviceId);
    if (!envelope || !creator) throw new Error('no record-key envelope to open');
    const recordKey = { boxPublicKey: fromBase64(pair.recordKey.boxPublicKey), boxSecretKey: fromBase64(pair.recordKey.boxSecretKey) };
    const isTrusted = isDeviceTrusted(creator, joined.data, fromBase64(pair.rootSignPublicKey));
    epochKey = openEnvelope({
      conversationId: pair.conversationId,
      envelope,
      recipient: recordKey,
      creator: { signPublicKey: fromBase64(creator.signPublicKey), isTrusted, isMember: creator.userId === pair.patientId },
    });
  }
  const ownKey = member.role === 'patient' ? fromBase64(pair.patient.epochKey) : epochKey;
  const counterpart = member.role === 'patient' ? pair.clinician : pair.patient;
  client.on('message:relayed', (entry) => {
    const message = entry.message;
    if (message && message.senderDeviceId !== member.deviceId) onDelivered(message.clientMessageId, entry, ownKey, counterpart.signPublicKey);
  });
  return {
    epochKey,
    endpoint: {
      deviceId: member.deviceId,
      send: async (payload) => {
        const result = await client.request('conversation:send', payload);
        return result.ok ? { ok: true } : { ok: false, code: result.error.code };
      },
      close: () => client.close(),
    },
  };
}

/** Encrypts `perSender` messages for every sender (or, on a baseline, copies one real ciphertext under new ids). */
async function prepare(perSender: number, isCopy: boolean): Promise<{ messages: number; encryptMsTotal: number }> {
  const started = performance.now();
  let messages = 0;
  for (const sender of senders) {
    sender.pool = [];
    for (let index = 0; index < perSender; index++) {
      const senderDeviceSeq = sender.nextSeq++;
      const template = sender.pool[0];
      // The baselines never read the ciphertext: one real one, copied under new ids, keeps the frames the same size.
      if (isCopy && template) {
        sender.pool.push({ ...template, clientMessageId: crypto.randomUUID(), senderDeviceSeq });
        continue;
      }
      sender.pool.push(encryptPayload(sender, senderDeviceSeq));
      messages += 1;
    }
    // Yield now and then: the IPC channel and the sockets' pings must not starve.
    await new Promise((resolve) => setImmediate(resolve));
  }
  return { messages, encryptMsTotal: performance.now() - started };
}

/** One real message: encrypted and signed as the member's client would, with a fresh clientMessageId. */
function encryptPayload(sender: { pair: PairSpec; member: MemberSpec; epochKey: Uint8Array }, senderDeviceSeq: number): ConversationSend {
  return encryptForSend({
    conversation: { id: sender.pair.conversationId, practiceOdsCode: sender.pair.practiceOdsCode, patientId: sender.pair.patientId },
    epoch: 1,
    epochKey: sender.epochKey,
    sender: {
      userId: sender.member.userId,
      deviceId: sender.member.deviceId,
      role: sender.member.role,
      signSecretKey: fromBase64(sender.member.signSecretKey),
    },
    senderDeviceSeq,
    clientMessageId: crypto.randomUUID(),
    body: BODY,
  });
}

interface Counters {
  sent: number;
  acked: number;
  ackedInWindow: number;
  lastAckAt: number;
  errors: Record<string, number>;
  /** `rate_limited` answers (the gateway shedding load), each retried. */
  shed: number;
}

function newCounters(): Counters {
  return { sent: 0, acked: 0, ackedInWindow: 0, lastAckAt: 0, errors: {}, shed: 0 };
}

/** How long after a run's end a refused send is still retried. */
const RETRY_GRACE_MS = 10_000;

/**
 * Sends as a client's outbox does: a `rate_limited` answer (an overloaded gateway refusing early, storing nothing) is
 * retried with the same payload after a growing, jittered pause, until `giveUpAt`. Latency still counts from the first
 * send, so shed load shows as latency, not as fewer measured messages; each refusal is counted (`shed`).
 */
async function sendWithRetry(sender: Sender, payload: ConversationSend, giveUpAt: number, counters: Counters): Promise<{ ok: boolean; code?: string }> {
  for (let attempt = 0; ; attempt++) {
    const result = await sender.endpoint.send(payload);
    if (result.ok || result.code !== 'rate_limited' || monoMs() > giveUpAt) return result;
    counters.shed += 1;
    await sleep(Math.min(1_000, 25 * 2 ** attempt) * (0.5 + Math.random()));
  }
}

function beginRun(startAt: number, warmupMs: number, durationMs: number, verifySample: number): RunState {
  verifyBudget = verifySample;
  verified = 0;
  verifyFailures = 0;
  run = { measureFrom: startAt + warmupMs, measureTo: startAt + durationMs, ackMs: [], deliveredMs: [], delivered: 0 };
  return run;
}

async function finishRun(state: RunState, counters: Counters, cpuBefore: number): Promise<LoadResult> {
  // Give the last deliveries a bounded moment to arrive.
  const deadline = monoMs() + 5_000;
  while (senders.some((sender) => sender.inFlight.size > 0) && monoMs() < deadline) await sleep(20);
  const undelivered = senders.reduce((sum, sender) => sum + sender.inFlight.size, 0);
  for (const sender of senders) sender.inFlight.clear();
  run = undefined;
  return {
    sent: counters.sent,
    acked: counters.acked,
    delivered: state.delivered,
    errors: undelivered > 0 ? { ...counters.errors, undelivered } : counters.errors,
    shed: counters.shed,
    ackedInWindow: counters.ackedInWindow,
    lastAckAt: counters.lastAckAt,
    windowMs: state.measureTo - state.measureFrom,
    ackMs: state.ackMs,
    deliveredMs: state.deliveredMs,
    exhaustedSenders: senders.filter((sender) => sender.pool.length === 0).length,
    cpuMs: processCpuMs() - cpuBefore,
    verified,
    verifyFailures,
  };
}

/** Every sender keeps `window` sends in flight until the time is up or its pool is empty (closed loop: the maximum rate). */
async function runMax(input: { startAt: number; durationMs: number; warmupMs: number; window: number }): Promise<LoadResult> {
  const state = beginRun(input.startAt, input.warmupMs, input.durationMs, 2 * Math.ceil(senders.length / 2));
  const counters = newCounters();
  await sleep(Math.max(0, input.startAt - monoMs()));
  const cpuBefore = processCpuMs();
  const loop = async (sender: Sender) => {
    while (monoMs() < state.measureTo) {
      const payload = sender.pool.shift();
      if (!payload) return;
      const sentAt = monoMs();
      const isMeasured = sentAt >= state.measureFrom;
      // Registered before sending: the delivery may arrive before the ack.
      sender.inFlight.set(payload.clientMessageId, { sentAt, isMeasured });
      counters.sent += 1;
      const result = await sendWithRetry(sender, payload, state.measureTo + RETRY_GRACE_MS, counters);
      const now = monoMs();
      if (!result.ok) {
        sender.inFlight.delete(payload.clientMessageId);
        counters.errors[result.code ?? 'error'] = (counters.errors[result.code ?? 'error'] ?? 0) + 1;
        continue;
      }
      counters.acked += 1;
      counters.lastAckAt = now;
      if (isMeasured) state.ackMs.push(now - sentAt);
      if (now >= state.measureFrom && now <= state.measureTo) counters.ackedInWindow += 1;
    }
  };
  await Promise.all(senders.flatMap((sender) => Array.from({ length: input.window }, () => loop(sender))));
  return finishRun(state, counters, cpuBefore);
}

/**
 * Sends at a fixed total rate (this worker's share), round robin over the senders, on schedule whether or not earlier
 * sends were answered (open loop). Latency counts from the scheduled time, so a stalled server is not hidden.
 */
async function runFixed(input: { startAt: number; durationMs: number; warmupMs: number; rate: number }): Promise<LoadResult> {
  const state = beginRun(input.startAt, input.warmupMs, input.durationMs, 2 * Math.ceil(senders.length / 2));
  const counters = newCounters();
  // A worker may hold no pair (fewer pairs than workers): it has nothing to send.
  const total = senders.length === 0 ? 0 : Math.floor((input.rate * input.durationMs) / 1000);
  const intervalMs = 1000 / input.rate;
  await sleep(Math.max(0, input.startAt - monoMs()));
  const cpuBefore = processCpuMs();
  const pending: Promise<void>[] = [];
  let issued = 0;
  let next = 0;
  while (issued < total) {
    const now = monoMs();
    if (now > input.startAt + input.durationMs + 1_000) break;
    const due = Math.min(total, Math.floor((now - input.startAt) / intervalMs) + 1);
    while (issued < due) {
      const scheduledAt = input.startAt + issued * intervalMs;
      issued += 1;
      const sender = senders[next++ % senders.length]!;
      const payload = sender.pool.shift();
      if (!payload) continue;
      const isMeasured = scheduledAt >= state.measureFrom;
      sender.inFlight.set(payload.clientMessageId, { sentAt: scheduledAt, isMeasured });
      counters.sent += 1;
      pending.push(
        sendWithRetry(sender, payload, input.startAt + input.durationMs + RETRY_GRACE_MS, counters).then((result) => {
          const at = monoMs();
          if (!result.ok) {
            sender.inFlight.delete(payload.clientMessageId);
            counters.errors[result.code ?? 'error'] = (counters.errors[result.code ?? 'error'] ?? 0) + 1;
            return;
          }
          counters.acked += 1;
          counters.lastAckAt = Math.max(counters.lastAckAt, at);
          if (isMeasured) state.ackMs.push(at - scheduledAt);
          if (at >= state.measureFrom && at <= state.measureTo) counters.ackedInWindow += 1;
        }),
      );
    }
    await sleep(1);
  }
  await Promise.all(pending);
  return finishRun(state, counters, cpuBefore);
}

/** Closes the pairs' sockets of one set (or of every set); answers where each sender's sequence continues. */
function closePairs(set?: string): { closed: number; nextSeqs: Record<string, number> } {
  const names = set === undefined ? [...sets.keys()] : [set];
  const closing = names.flatMap((name) => sets.get(name) ?? []);
  for (const sender of closing) sender.endpoint.close();
  for (const name of names) sets.delete(name);
  senders = [];
  const nextSeqs = Object.fromEntries(closing.map((sender) => [seqKey(sender.pair.conversationId, sender.member.deviceId), sender.nextSeq]));
  return { closed: closing.length, nextSeqs };
}

// ---------------------------------------------------------------------------------------------
// Pipelined sends (issue #16, "Order"): many sends in flight on one raw socket, random disconnects, an outbox

interface PipelinedInput {
  /** The pairs whose patients send (each on its own raw socket.io-client socket, authenticated with its session token). */
  pairs: PairSpec[];
  nextSeqs: Record<string, number>;
  window: number;
  messages: number;
  /** Random disconnects over this worker's senders during the run. */
  disconnects: number;
  deadlineMs: number;
}

export interface PipelinedResult {
  sent: number;
  acked: number;
  /** Sends emitted again after a reconnect or a retryable refusal. */
  resent: number;
  reconnects: number;
  /** Refusals by code (a retryable one is resent; any other is given up). */
  errors: Record<string, number>;
  /** Sends still unacknowledged when the deadline passed. */
  unacked: number;
  durationMs: number;
  counts: PipelinedCounts;
  nextSeqs: Record<string, number>;
}

/** Refusals a real outbox retries with the same id and sequence number. */
const RETRYABLE = new Set(['rate_limited', 'internal', 'timeout', 'unavailable']);

type RawAck<T> = { ok: true; data: T } | { ok: false; error: { code: string; message: string } };

/**
 * Every sender keeps `window` sends in flight without waiting for acks, in senderDeviceSeq order, like an outbox that
 * pipelines. A few random disconnects (the sender's own socket, right after a send): on reconnecting the sender resends
 * every unacknowledged send with the same clientMessageId and senderDeviceSeq, in order, then goes on. At the end each
 * conversation is read back with `conversation:sync` and counted (pipelined.ts).
 */
async function pipelined(input: PipelinedInput): Promise<PipelinedResult> {
  await ready();
  const started = monoMs();
  const errors: Record<string, number> = {};
  let resent = 0;
  let reconnects = 0;
  const request = <T>(socket: Socket, event: string, payload: unknown) => socket.timeout(REQUEST_TIMEOUT_MS).emitWithAck(event, payload) as Promise<RawAck<T>>;
  const members = await mapLimit(input.pairs, 10, async (pair) => {
    const socket: Socket = io(pair.patient.url, {
      transports: ['websocket'],
      auth: { token: pair.patient.token },
      forceNew: true,
      reconnection: true,
      reconnectionDelay: 50,
      reconnectionDelayMax: 500,
    });
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', () => resolve());
      socket.once('connect_error', (error) => (socket.active ? undefined : reject(error)));
    });
    const head = await request<{ lastSeq: number }>(socket, 'conversation:sync', { conversationId: pair.conversationId, afterSeq: 0, limit: 1 });
    if (!head.ok) throw new Error(`pipelined: sync: ${head.error.code} ${head.error.message}`);
    const spec = { pair, member: pair.patient, epochKey: fromBase64(pair.patient.epochKey) };
    let nextSeq = input.nextSeqs[seqKey(pair.conversationId, pair.patient.deviceId)] ?? 1;
    const pool = Array.from({ length: input.messages }, () => encryptPayload(spec, nextSeq++));
    await new Promise((resolve) => setImmediate(resolve));
    return {
      pair,
      socket,
      fromSeq: head.data.lastSeq,
      pool,
      nextSeq,
      outbox: [] as ConversationSend[],
      sent: new Set<string>(),
      acked: new Set<string>(),
      /** Bumped on every disconnect: acks of an earlier connection are not waited for (they never come). */
      generation: 0,
      newSends: 0,
      disconnectAfter: [] as number[],
      done: undefined as undefined | (() => void),
    };
  });
  type Member = (typeof members)[number];
  // The disconnects: a random sender, right after a random one of its new sends, its sends in flight then lost.
  for (let index = 0; index < input.disconnects && members.length > 0; index++) {
    const member = members[Math.floor(Math.random() * members.length)]!;
    member.disconnectAfter.push(1 + Math.floor(Math.random() * Math.max(1, input.messages - 1)));
  }
  const emit = (member: Member, payload: ConversationSend) => {
    const generation = member.generation;
    member.sent.add(payload.clientMessageId);
    member.socket.emit('conversation:send', payload, (answer: RawAck<{ seq: number }>) => {
      if (generation !== member.generation) return;
      if (answer.ok) {
        member.acked.add(payload.clientMessageId);
        member.outbox = member.outbox.filter((queued) => queued !== payload);
        return pump(member);
      }
      errors[answer.error.code] = (errors[answer.error.code] ?? 0) + 1;
      if (RETRYABLE.has(answer.error.code)) {
        setTimeout(() => {
          if (generation !== member.generation || !member.outbox.includes(payload) || !member.socket.connected) return;
          resent += 1;
          emit(member, payload);
        }, 20);
        return;
      }
      // Given up, as an outbox gives up a refused message: it stays in `sent` (counted lost if it is not stored).
      member.outbox = member.outbox.filter((queued) => queued !== payload);
      pump(member);
    });
  };
  const pump = (member: Member) => {
    if (!member.socket.connected) return;
    while (member.outbox.length < input.window && member.pool.length > 0) {
      const payload = member.pool.shift()!;
      member.outbox.push(payload);
      emit(member, payload);
      member.newSends += 1;
      if (member.disconnectAfter.includes(member.newSends)) {
        member.disconnectAfter = member.disconnectAfter.filter((at) => at !== member.newSends);
        // A moment later, with sends in flight: some are committed and their acks lost, some never arrive.
        setTimeout(() => member.socket.disconnect(), Math.random() * 3);
        setTimeout(() => member.socket.connect(), 30 + Math.random() * 50);
        return;
      }
    }
    if (member.outbox.length === 0 && member.pool.length === 0) member.done?.();
  };
  for (const member of members) {
    member.socket.on('disconnect', () => {
      member.generation += 1;
      // Emits buffered while offline would go out on reconnecting: the outbox resends instead, once.
      member.socket.sendBuffer = [];
    });
    member.socket.on('connect', () => {
      reconnects += 1;
      for (const payload of member.outbox) {
        resent += 1;
        emit(member, payload);
      }
      pump(member);
    });
  }
  const finished = members.map((member) => new Promise<void>((resolve) => (member.done = resolve)));
  for (const member of members) pump(member);
  await Promise.race([Promise.all(finished), sleep(input.deadlineMs)]);
  const durationMs = monoMs() - started;
  // Read every conversation back and count.
  let counts = NO_ANOMALIES;
  for (const member of members) {
    if (!member.socket.connected) await Promise.race([new Promise<void>((resolve) => member.socket.once('connect', () => resolve())), sleep(5_000)]);
    const stored: StoredSend[] = [];
    let afterSeq = member.fromSeq;
    for (let page = 0; page < 100; page++) {
      const answer = await request<{ entries: RecordEntry[]; hasMore: boolean }>(member.socket, 'conversation:sync', {
        conversationId: member.pair.conversationId,
        afterSeq,
        limit: 500,
      });
      if (!answer.ok) throw new Error(`pipelined: sync: ${answer.error.code} ${answer.error.message}`);
      for (const entry of answer.data.entries) {
        afterSeq = Math.max(afterSeq, entry.seq);
        if (entry.message?.senderDeviceId === member.pair.patient.deviceId)
          stored.push({ seq: entry.seq, senderDeviceSeq: entry.message.senderDeviceSeq, clientMessageId: entry.message.clientMessageId });
      }
      if (!answer.data.hasMore || answer.data.entries.length === 0) break;
    }
    counts = addCounts(counts, countPipelined(stored, member.sent, member.acked));
  }
  for (const member of members) member.socket.close();
  return {
    sent: members.reduce((sum, member) => sum + member.sent.size, 0),
    acked: members.reduce((sum, member) => sum + member.acked.size, 0),
    resent,
    // The first connect of each socket is not counted: its listener is added after it.
    reconnects,
    errors,
    unacked: members.reduce((sum, member) => sum + member.outbox.length + member.pool.length, 0),
    durationMs,
    counts,
    nextSeqs: Object.fromEntries(members.map((member) => [seqKey(member.pair.conversationId, member.pair.patient.deviceId), member.nextSeq])),
  };
}

// ---------------------------------------------------------------------------------------------
// Idle sockets

async function connectIdle(input: {
  tokens: { token: string; url: string }[];
  concurrency: number;
}): Promise<{ connected: number; failed: number; firstError?: string }> {
  let failed = 0;
  let firstError: string | undefined;
  await mapLimit(input.tokens, input.concurrency, async ({ token, url }) => {
    try {
      idle.push(await ParleyClient.connect({ url, token, requestTimeoutMs: REQUEST_TIMEOUT_MS }));
    } catch (error) {
      failed += 1;
      firstError ??= error instanceof Error ? error.message : String(error);
    }
  });
  return { connected: idle.length, failed, firstError };
}

// ---------------------------------------------------------------------------------------------
// Queue: many patients open at once against a few clinicians

interface PreparedOpen {
  patient: QueuePatientSpec;
  client: ParleyClient;
  payload?: { conversationId: string; topic: string; envelopes: ReturnType<typeof newEpoch>['envelopes'] };
}

const queue = {
  patients: [] as PreparedOpen[],
  clinicians: [] as { spec: QueueClinicianSpec; client: ParleyClient; assigned: string[] }[],
  recordBoxPublicKey: new Uint8Array() as Uint8Array,
  assignedAt: new Map<string, number>(),
  perClinician: new Map<string, number>(),
};

async function queueConnect(input: {
  patients: QueuePatientSpec[];
  clinicians: QueueClinicianSpec[];
  recordBoxPublicKey: string;
}): Promise<{ patients: number; clinicians: number }> {
  await ready();
  queue.recordBoxPublicKey = fromBase64(input.recordBoxPublicKey);
  queue.patients = await mapLimit(input.patients, 50, async (patient) => ({
    patient,
    client: await ParleyClient.connect({ url: patient.url, token: patient.token, requestTimeoutMs: REQUEST_TIMEOUT_MS }),
  }));
  queue.clinicians = await mapLimit(input.clinicians, 20, async (spec) => {
    const client = await ParleyClient.connect({ url: spec.url, token: spec.token, requestTimeoutMs: REQUEST_TIMEOUT_MS });
    const entry = { spec, client, assigned: [] as string[] };
    client.on('conversation:assigned', (fact) => {
      if (fact.clinicianId !== spec.userId) return;
      queue.assignedAt.set(fact.conversationId, monoMs());
      queue.perClinician.set(spec.userId, (queue.perClinician.get(spec.userId) ?? 0) + 1);
      entry.assigned.push(fact.conversationId);
    });
    const result = await client.request('staff:availability', { availability: 'available' });
    if (!result.ok) throw new Error(`availability: ${result.error.code}`);
    return entry;
  });
  return { patients: queue.patients.length, clinicians: queue.clinicians.length };
}

/** Seals each patient's next conversation's envelopes ahead of the burst (what a client does before it sends). */
function queuePrepare(): { prepared: number } {
  queue.assignedAt.clear();
  queue.perClinician.clear();
  for (const prepared of queue.patients) {
    const conversationId = crypto.randomUUID();
    const { envelopes } = newEpoch({
      conversationId,
      epoch: 1,
      targets: [
        { recipient: { kind: 'device', deviceId: prepared.patient.deviceId }, boxPublicKey: fromBase64(prepared.patient.deviceBoxPublicKey) },
        { recipient: { kind: 'account', userId: prepared.patient.userId }, boxPublicKey: fromBase64(prepared.patient.accountBoxPublicKey) },
        { recipient: { kind: 'record', version: 1 }, boxPublicKey: queue.recordBoxPublicKey },
      ],
      creatorSignSecretKey: fromBase64(prepared.patient.deviceSignSecretKey),
    });
    prepared.payload = { conversationId, topic: 'other', envelopes };
  }
  return { prepared: queue.patients.length };
}

/** Each patient opens at its slot of the spread; answers when each was sent and acknowledged. */
async function queueOpen(input: {
  startAt: number;
  spreadMs: number;
  offset: number;
  total: number;
}): Promise<{ opens: { conversationId: string; sentAt: number; ackAt: number; code?: string }[] }> {
  const opens = await Promise.all(
    queue.patients.map(async (prepared, index) => {
      const slot = input.startAt + ((input.offset + index) * input.spreadMs) / input.total;
      await sleep(Math.max(0, slot - monoMs()));
      const sentAt = monoMs();
      const result = await prepared.client.request('conversation:open', prepared.payload!);
      return { conversationId: prepared.payload!.conversationId, sentAt, ackAt: monoMs(), code: result.ok ? undefined : result.error.code };
    }),
  );
  return { opens };
}

/** Clinicians close what they were assigned, so the next run starts from an empty queue. */
async function queueCloseAll(): Promise<{ closed: number; failed: number }> {
  let closed = 0;
  let failed = 0;
  // A few dozen at a time (a thousand at once time out waiting for the database pool), each retried once.
  const work = queue.clinicians.flatMap((clinician) => clinician.assigned.splice(0).map((conversationId) => ({ clinician, conversationId })));
  await mapLimit(work, 50, async ({ clinician, conversationId }) => {
    for (let attempt = 0; attempt < 2; attempt++) {
      const result = await clinician.client.request('conversation:close', { conversationId, outcome: 'resolved' });
      if (result.ok) return void (closed += 1);
    }
    failed += 1;
  });
  return { closed, failed };
}

function queueDisconnect(): { closed: number } {
  for (const prepared of queue.patients) prepared.client.close();
  for (const clinician of queue.clinicians) clinician.client.close();
  const closed = queue.patients.length + queue.clinicians.length;
  queue.patients = [];
  queue.clinicians = [];
  return { closed };
}

async function mapLimit<T, R>(items: readonly T[], limit: number, work: (item: T) => Promise<R>): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(limit, items.length) }, async () => {
      while (next < items.length) {
        const index = next++;
        results[index] = await work(items[index]!);
      }
    }),
  );
  return results;
}

setMaxListeners(0);
