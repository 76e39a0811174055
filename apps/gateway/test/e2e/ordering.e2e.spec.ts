import { randomBytes, randomUUID } from 'node:crypto';
import { ready } from '@parley/crypto';
import type { Ack, SendResult } from '@parley/protocol';
import { io, type Socket } from 'socket.io-client';
import { startTestApp, type TestApp } from '../app.js';
import { patientChat } from '../chat.js';
import { activatePatient, createPracticeWithStaff, type TestPatient, type TestPractice } from '../factories.js';
import { seededRandom } from '../seeded-random.js';
import { waitUntil } from '../wait.js';

/** Change to replay a failing run; every run logs its seed. */
const SEED = Number(process.env['FAULT_SEED'] ?? Date.now() % 100_000);

interface StoredMessage {
  seq: string;
  sender_device_seq: string;
  client_message_id: string;
}

/**
 * A client that pipelines: up to `window` sends in flight on one socket, none waiting for the one before. On a
 * reconnection, or a `rate_limited` answer, it sends every unanswered message again, in order and with the same
 * ids, as an outbox does. Resolves once every message has been acknowledged.
 */
async function pipelinedSends(options: {
  url: string;
  patient: TestPatient;
  conversationId: string;
  count: number;
  window: number;
  /** Cut the connection at random moments (each then reconnects). */
  cuts: number;
  random: () => number;
}): Promise<{ acked: Map<number, SendResult>; cutsMade: number; refusals: number; failures: string[] }> {
  const { url, patient, conversationId, count, window, random } = options;
  const messages = Array.from({ length: count }, (_, index) => ({
    conversationId,
    clientMessageId: randomUUID(),
    epoch: 1,
    senderDeviceSeq: index + 1,
    contentType: 'text' as const,
    ciphertext: randomBytes(64).toString('base64'),
    nonce: randomBytes(24).toString('base64'),
  }));
  const acked = new Map<number, SendResult>();
  const inFlight = new Set<number>();
  let nextToSend = 1;
  let cutsMade = 0;
  let refusals = 0;
  const failures: string[] = [];
  const socket: Socket = io(url, { auth: { token: patient.token }, transports: ['websocket'], reconnectionDelay: 50, reconnectionDelayMax: 200 });

  const emit = (seq: number) => {
    inFlight.add(seq);
    const sentOn = socket;
    sentOn.emit('conversation:send', messages[seq - 1], (answer: Ack<SendResult>) => {
      inFlight.delete(seq);
      if (answer.ok) {
        acked.set(seq, answer.data);
        setImmediate(cutWhenDue);
      } else if (answer.error.code === 'rate_limited') {
        // Sent again after a pause, lowest first, as an outbox does.
        refusals += 1;
        setTimeout(fill, 20);
        return;
      } else failures.push(`send ${seq} refused: ${answer.error.code} ${answer.error.message}`);
      fill();
    });
  };
  // The window is full with `window` unanswered sends; the lowest unanswered one goes first, then new ones.
  const fill = () => {
    if (!socket.connected) return;
    for (let seq = 1; seq < nextToSend && inFlight.size < window; seq += 1) if (!acked.has(seq) && !inFlight.has(seq)) emit(seq);
    while (inFlight.size < window && nextToSend <= count) emit(nextToSend++);
  };
  // After a cut nothing sent before it will be answered: every unanswered message goes again, in order.
  socket.on('connect', () => {
    inFlight.clear();
    fill();
  });
  // The cuts fall at random points of the stream (after so many acknowledgements), whatever the speed of the gateway.
  const cutPoints = Array.from({ length: options.cuts }, () => 1 + Math.floor(random() * count * 0.9)).sort((a, b) => a - b);
  const cutWhenDue = () => {
    if (cutPoints.length === 0 || acked.size < cutPoints[0]! || !socket.connected) return;
    while (cutPoints.length > 0 && acked.size >= cutPoints[0]!) cutPoints.shift();
    cutsMade += 1;
    socket.io.engine.close();
  };
  try {
    await waitUntil(
      () => acked.size === count || failures.length > 0,
      () => `${acked.size} of ${count} acknowledged (${cutsMade} cuts)`,
      60_000,
    );
  } finally {
    socket.close();
  }
  return { acked, cutsMade, refusals, failures };
}

async function storedMessages(gateway: TestApp, conversationId: string): Promise<StoredMessage[]> {
  return (await gateway.dataSource.query(
    `SELECT seq, sender_device_seq, client_message_id FROM record_entries WHERE conversation_id = $1 AND kind = 'message' ORDER BY seq`,
    [conversationId],
  )) as StoredMessage[];
}

beforeAll(async () => {
  await ready();
  process.stdout.write(`ordering: seed ${SEED} (FAULT_SEED=${SEED} replays it)\n`);
});

describe('sends pipelined on one socket (in-process gateway, real PostgreSQL and sockets)', () => {
  let gateway: TestApp;
  let practice: TestPractice;

  beforeAll(async () => {
    // The flood limit is the one thing raised: this client sends as fast as the window allows.
    gateway = await startTestApp({ SOCKET_EVENTS_PER_SECOND: '10000', SOCKET_EVENT_BURST: '10000' });
    practice = await createPracticeWithStaff(gateway);
  });

  afterAll(async () => {
    await gateway?.close();
  });

  it.each([
    [8, 0],
    [32, 0],
    [8, 6],
    [32, 6],
  ])('window %i with %i random cuts: every message stored once, in the order the device sent them', async (window, cuts) => {
    const patient = await activatePatient(gateway.url, practice);
    const chat = await patientChat(gateway.url, practice, patient);
    const conversationId = (await chat.session.openConversation('admin')).id;
    await chat.session.close();
    const count = 200;
    const { acked, cutsMade, failures } = await pipelinedSends({
      url: gateway.url,
      patient,
      conversationId,
      count,
      window,
      cuts,
      random: seededRandom(SEED + window + cuts),
    });

    expect(failures).toEqual([]);
    const stored = await storedMessages(gateway, conversationId);
    expect(stored.map((row) => Number(row.sender_device_seq))).toEqual(Array.from({ length: count }, (_, index) => index + 1));
    expect(new Set(stored.map((row) => row.client_message_id)).size).toBe(count);
    // Every acknowledgement names the place the message really has (a retried one: its original place).
    for (const row of stored) expect(acked.get(Number(row.sender_device_seq))?.seq).toBe(Number(row.seq));
    if (cuts > 0) expect(cutsMade).toBeGreaterThan(0);
  });
});

describe('sends pipelined faster than the flood limit allows', () => {
  let gateway: TestApp;
  let practice: TestPractice;

  beforeAll(async () => {
    gateway = await startTestApp({ SOCKET_EVENTS_PER_SECOND: '400', SOCKET_EVENT_BURST: '20' });
    practice = await createPracticeWithStaff(gateway);
  });

  afterAll(async () => {
    await gateway?.close();
  });

  it('stores every message once and in order, though some were refused `rate_limited` and sent again', async () => {
    const patient = await activatePatient(gateway.url, practice);
    const chat = await patientChat(gateway.url, practice, patient);
    const conversationId = (await chat.session.openConversation('admin')).id;
    await chat.session.close();
    const count = 150;
    const { refusals, failures } = await pipelinedSends({ url: gateway.url, patient, conversationId, count, window: 32, cuts: 2, random: seededRandom(SEED) });

    expect(failures).toEqual([]);
    expect(refusals).toBeGreaterThan(0);
    const stored = await storedMessages(gateway, conversationId);
    expect(stored.map((row) => Number(row.sender_device_seq))).toEqual(Array.from({ length: count }, (_, index) => index + 1));
  });
});
