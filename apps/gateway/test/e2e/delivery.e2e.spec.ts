import { join } from 'node:path';
import type { FeedEntry } from '@parley/client';
import { ready } from '@parley/crypto';
import type { ChatEntry } from '@parley/sdk';
import { redisKeyPrefix, startGatewayProcess, startTcpProxy, testRedisUrl, type GatewayProcess, type TcpProxy, type TestDatabase } from '@parley/testing';
import type { DataSource } from 'typeorm';
import { openDatabase } from '../../src/database/data-source.js';
import { freePort } from '../../src/database/embedded-postgres.js';
import { startTestApp, type TestApp } from '../app.js';
import { follow, patientChat, staffChat, waitForAssignment, type Chatter } from '../chat.js';
import { freshDatabase } from '../database.js';
import { activatePatient, createPracticeWithStaff, type TestPractice } from '../factories.js';
import { describeIf, missingRedis } from '../environment.js';
import { waitUntil } from '../wait.js';
import { seededRandom } from '../seeded-random.js';

const ENTRY = join(import.meta.dirname, '..', '..', 'dist', 'main.js');
/** Change to replay a failing run; every run logs its seed. */
const SEED = Number(process.env['FAULT_SEED'] ?? Date.now() % 100_000);

const messageBodies = (entries: FeedEntry<ChatEntry>[]) => entries.flatMap((entry) => (entry.ok && entry.value.kind === 'message' ? [entry.value.body] : []));

/** Each side holds exactly entries 1..n, in order, every one opened. */
function expectExactlyInOrder(who: Chatter, n: number): void {
  expect(who.entries.map((entry) => entry.seq)).toEqual(Array.from({ length: n }, (_, i) => i + 1));
  expect(who.entries.filter((entry) => !entry.ok)).toEqual([]);
}

const storedMessages = async (dataSource: DataSource, conversationId: string) =>
  (
    await dataSource.query(
      `SELECT count(*)::int AS n, count(DISTINCT client_message_id)::int AS distinct_ids FROM record_entries WHERE conversation_id = $1 AND kind = 'message'`,
      [conversationId],
    )
  )[0] as {
    n: number;
    distinct_ids: number;
  };

beforeAll(async () => {
  await ready();
  process.stdout.write(`delivery faults: seed ${SEED} (FAULT_SEED=${SEED} replays it)\n`);
});

describe('1,000 messages while connections drop at random', () => {
  let gateway: TestApp;
  let proxy: TcpProxy;
  let patient: Chatter;
  let clinician: Chatter;

  beforeAll(async () => {
    gateway = await startTestApp();
    const practice = await createPracticeWithStaff(gateway);
    const patientAccount = await activatePatient(gateway.url, practice);
    proxy = await startTcpProxy({ target: { host: '127.0.0.1', port: Number(new URL(gateway.url).port) } });
    patient = await patientChat(proxy.url, practice, patientAccount);
    clinician = await staffChat(proxy.url, practice, practice.clinician);
  });

  afterAll(async () => {
    await patient?.session.close();
    await clinician?.session.close();
    await proxy?.close();
    await gateway?.close();
  });

  it('ends with exactly messages 1..N in order on both sides, each stored once', async () => {
    const next = seededRandom(SEED);
    const conversationId = (await patient.session.openConversation('admin')).id;
    await follow(patient, conversationId);
    await follow(clinician, conversationId);
    await waitForAssignment(clinician);
    let cuts = 0;
    let isSending = true;
    // Up to 25 cuts at random moments while the exchange runs: each costs the clients a reconnect
    // (about a second) and whatever was in flight, which the outbox and the resync must make good.
    const chaos = (async () => {
      while (isSending && cuts < 25) {
        await new Promise((resolve) => setTimeout(resolve, 100 + next() * 500));
        if (isSending) {
          proxy.cut();
          cuts += 1;
        }
      }
    })();

    const sends = [];
    for (let i = 0; i < 500; i += 1) {
      sends.push(patient.session.conversation(conversationId).send(`patient ${i}`));
      sends.push(clinician.session.conversation(conversationId).send(`clinician ${i}`));
      if (i % 50 === 0) await new Promise((resolve) => setTimeout(resolve, 5));
    }
    const results = await Promise.all(sends);
    isSending = false;
    await chaos;
    await waitUntil(() => patient.entries.length >= 1003 && clinician.entries.length >= 1003, 'both sides to hold 1,003 entries', 60_000);

    expect(cuts).toBeGreaterThan(3);
    expect(results.filter((result) => !result.ok)).toEqual([]);
    expectExactlyInOrder(patient, 1003);
    expectExactlyInOrder(clinician, 1003);
    expect(messageBodies(patient.entries)).toEqual(messageBodies(clinician.entries));
    expect(messageBodies(patient.entries).filter((body) => body.startsWith('patient'))).toEqual(Array.from({ length: 500 }, (_, i) => `patient ${i}`));
    expect(messageBodies(patient.entries).filter((body) => body.startsWith('clinician'))).toEqual(Array.from({ length: 500 }, (_, i) => `clinician ${i}`));
    expect(await storedMessages(gateway.dataSource, conversationId)).toEqual({ n: 1000, distinct_ids: 1000 });
  }, 120_000);
});

describe('the gateway process is killed mid-stream and restarted', () => {
  let database: TestDatabase;
  let dataSource: DataSource;
  let gateway: GatewayProcess;
  let port: number;

  beforeAll(async () => {
    database = await freshDatabase();
    dataSource = await openDatabase(database.url);
    port = await freePort();
    gateway = await startGatewayProcess({ entry: ENTRY, port, env: { DATABASE_URL: database.url } });
  });

  afterAll(async () => {
    await gateway?.stop();
    await dataSource?.destroy();
    await database?.drop();
  });

  it('loses nothing acknowledged, and the unacknowledged sends land once after the restart', async () => {
    const practice: TestPractice = await createPracticeWithStaff({ url: gateway.url, dataSource });
    const patient = await patientChat(gateway.url, practice, await activatePatient(gateway.url, practice));
    const clinician = await staffChat(gateway.url, practice, practice.clinician);
    const conversationId = (await patient.session.openConversation('admin')).id;
    await follow(patient, conversationId);
    await follow(clinician, conversationId);
    const acked = new Set<string>();

    const sends = Array.from({ length: 300 }, (_, i) =>
      patient.session
        .conversation(conversationId)
        .send(`message ${i}`)
        .then((result) => {
          if (result.ok) acked.add(`message ${i}`);
          return result;
        }),
    );
    await waitUntil(() => acked.size >= 40, '40 acks before the kill', 30_000);
    await gateway.stop('SIGKILL');
    const ackedBeforeKill = new Set(acked);
    gateway = await startGatewayProcess({ entry: ENTRY, port, env: { DATABASE_URL: database.url } });
    const results = await Promise.all(sends);
    await waitUntil(() => clinician.entries.length >= 303, 'the clinician to hold all 303 entries', 60_000);
    const storedBodies = new Set(messageBodies(clinician.entries));
    await patient.session.close();
    await clinician.session.close();

    expect(ackedBeforeKill.size).toBeLessThan(300);
    expect([...ackedBeforeKill].every((body) => storedBodies.has(body))).toBe(true);
    expect(results.filter((result) => !result.ok)).toEqual([]);
    expectExactlyInOrder(clinician, 303);
    expect(messageBodies(clinician.entries)).toEqual(Array.from({ length: 300 }, (_, i) => `message ${i}`));
    expect(await storedMessages(dataSource, conversationId)).toEqual({ n: 300, distinct_ids: 300 });
  }, 120_000);
});

describeIf(missingRedis)('two gateway nodes linked by Redis, one killed', () => {
  let database: TestDatabase;
  let dataSource: DataSource;
  const nodes: GatewayProcess[] = [];
  let balancer: TcpProxy;

  beforeAll(async () => {
    database = await freshDatabase();
    dataSource = await openDatabase(database.url);
    const env = { DATABASE_URL: database.url, REDIS_URL: testRedisUrl()!, REDIS_STREAM_NAME: redisKeyPrefix() };
    nodes.push(...(await Promise.all([startGatewayProcess({ entry: ENTRY, env }), startGatewayProcess({ entry: ENTRY, env })])));
    balancer = await startTcpProxy({ target: { host: '127.0.0.1', port: nodes[0]!.port } });
  });

  afterAll(async () => {
    await balancer?.close();
    for (const node of nodes) await node.stop();
    await dataSource?.destroy();
    await database?.drop();
  });

  it('relays across nodes, and after the patient node dies the patient continues on the other with nothing lost or duplicated', async () => {
    const [nodeA, nodeB] = nodes as [GatewayProcess, GatewayProcess];
    const practice = await createPracticeWithStaff({ url: nodeB.url, dataSource });
    const patient = await patientChat(balancer.url, practice, await activatePatient(nodeB.url, practice));
    const clinician = await staffChat(nodeB.url, practice, practice.clinician);
    const conversationId = (await patient.session.openConversation('admin')).id;
    await follow(patient, conversationId);
    await follow(clinician, conversationId);
    await waitForAssignment(clinician);

    const before = await Promise.all(Array.from({ length: 50 }, (_, i) => patient.session.conversation(conversationId).send(`before ${i}`)));
    await waitUntil(() => clinician.entries.length >= 53, 'cross-node delivery', 20_000);
    await nodeA.stop('SIGKILL');
    balancer.setTarget({ host: '127.0.0.1', port: nodeB.port });
    const after = await Promise.all(Array.from({ length: 50 }, (_, i) => patient.session.conversation(conversationId).send(`after ${i}`)));
    const replies = await Promise.all(Array.from({ length: 10 }, (_, i) => clinician.session.conversation(conversationId).send(`reply ${i}`)));
    await waitUntil(() => clinician.entries.length >= 113 && patient.entries.length >= 113, 'all 113 entries on both sides', 30_000);
    await patient.session.close();
    await clinician.session.close();

    expect([...before, ...after, ...replies].filter((result) => !result.ok)).toEqual([]);
    expectExactlyInOrder(patient, 113);
    expectExactlyInOrder(clinician, 113);
    expect(messageBodies(patient.entries)).toEqual(messageBodies(clinician.entries));
    expect(await storedMessages(dataSource, conversationId)).toEqual({ n: 110, distinct_ids: 110 });
  }, 120_000);
});
