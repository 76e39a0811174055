import { randomBytes } from 'node:crypto';
import { ready } from '@parley/crypto';
import type { ParleyClient } from '@parley/client';
import type { CodeIssued } from '@parley/protocol';
import { patientChat, type Chatter } from '../chat.js';
import { activatePatient, activateStaff, apiOk, connectAs, createPracticeWithStaff } from '../factories.js';
import { missingRedis } from '../environment.js';
import { waitUntil } from '../wait.js';
import {
  assignmentProblems,
  checkInvariants,
  Cluster,
  converse,
  hasEnded,
  p95SendToAck,
  populate,
  recoveryMs,
  send,
  sleep,
  type Population,
} from './harness.js';
import { seededRandom } from '../seeded-random.js';

/**
 * The fault-injection suite. `npm test` runs its bounded form (one seed, three patients);
 * `pnpm test:faults` the long one (FAULT_SEEDS=3, more patients and messages). FAULT_SEED replays a run.
 * At the end it prints, per scenario and seed, the p95 send→ack of the acknowledged sends and the recovery
 * time: from the fault to the first ack of a send that was already waiting when it struck.
 */
const SEED_COUNT = Number(process.env['FAULT_SEEDS'] ?? 1);
const BASE_SEED = Number(process.env['FAULT_SEED'] ?? Date.now() % 100_000);
const PATIENTS = Number(process.env['FAULT_PATIENTS'] ?? 3);
const MESSAGES = Number(process.env['FAULT_MESSAGES'] ?? 12);
const SEEDS = Array.from({ length: SEED_COUNT }, (_, i) => BASE_SEED + i * 7919);

interface Outcome {
  scenario: string;
  seed: number;
  sends: number;
  p95Ms: number;
  recoveryMs: number | null;
}
const outcomes: Outcome[] = [];

beforeAll(async () => {
  await ready();
  process.stdout.write(`fault injection: seeds ${SEEDS.join(', ')} (FAULT_SEED=${BASE_SEED} replays them), ${PATIENTS} patients × ${MESSAGES} messages\n`);
});

afterAll(() => {
  const rows = outcomes.map((o) => `| ${o.scenario} | ${o.seed} | ${o.sends} | ${o.p95Ms} | ${o.recoveryMs ?? '–'} |`);
  process.stdout.write(['', '| scenario | seed | sends | p95 send→ack (ms) | recovery (ms) |', '|---|---|---|---|---|', ...rows, ''].join('\n'));
});

// Without a Redis the cluster is one node (nodes without Redis cannot reach each other's sockets): the suite says so.
describe.each(SEEDS)(`faults, seed %i${missingRedis ? ` (one node: ${missingRedis})` : ''}`, (seed) => {
  let cluster: Cluster;
  let population: Population | undefined;

  beforeAll(async () => {
    cluster = await Cluster.start(2);
  }, 120_000);

  afterEach(async () => {
    await population?.close();
    population = undefined;
    // Every scenario leaves every node running, without fault points.
    for (const [index, node] of cluster?.nodes.entries() ?? []) if (!node || hasEnded(node)) await cluster.startNode(index);
  }, 60_000);

  afterAll(async () => {
    await cluster?.close();
  });

  /** Runs the workload while `fault` strikes; checks the invariants; records p95 and recovery. */
  async function scenario(name: string, fault: (random: () => number, pop: Population) => Promise<number | undefined>): Promise<void> {
    const random = seededRandom(seed + name.length);
    population = await populate(cluster, PATIENTS);
    const pop = population;
    const sendsDone = converse(pop, MESSAGES, random).then((sends) => Promise.all(sends));
    const faultAt = await fault(random, pop);
    await sendsDone;
    const problems = await checkInvariants(cluster, pop);

    outcomes.push({
      scenario: name,
      seed,
      sends: pop.ledger.length,
      p95Ms: p95SendToAck(pop.ledger),
      recoveryMs: faultAt === undefined ? null : recoveryMs(pop.ledger, faultAt),
    });
    expect(problems).toEqual([]);
    expect(pop.ledger.every((record) => record.ok)).toBe(true);
  }

  const ackedCount = (pop: Population) => pop.ledger.filter((record) => record.ok).length;
  const totalSends = () => PATIENTS * (MESSAGES + Math.ceil(MESSAGES / 3));

  it('a node SIGKILLed mid-stream and restarted loses and duplicates nothing', async () => {
    await scenario('kill a node mid-stream', async (random, pop) => {
      await waitUntil(() => ackedCount(pop) >= totalSends() * 0.3, 'a third of the sends acknowledged', 60_000);
      await cluster.kill(0);
      const faultAt = Date.now();
      await sleep(100 + Math.floor(random() * 500));
      await cluster.startNode(0);
      return faultAt;
    });
  }, 180_000);

  for (const point of ['record.after-commit', 'record.before-commit'] as const) {
    it(`a node crashing at ${point} (in the group-commit writer) acknowledges nothing uncommitted, and the retries land once`, async () => {
      await scenario(`crash at ${point}`, async (random) => {
        // Armed only now: setting up the population commits record entries too.
        await cluster.nodes[0]!.stop('SIGTERM');
        // The clients reconnect as soon as it listens: the fault can fire before it answers ready.
        await cluster.startNode(0, { PARLEY_FAULTS: `${point}@${3 + Math.floor(random() * 6)}` }, { mayEndBeforeReady: true });
        const crashedAt = await Promise.race([cluster.exited(0), sleep(60_000).then(() => undefined)]);
        expect(crashedAt).toBeDefined();
        expect(cluster.nodes[0]!.output()).toContain(`fault point ${point} reached`);
        await sleep(Math.floor(random() * 300));
        await cluster.startNode(0);
        return crashedAt;
      });
    }, 180_000);
  }

  it('client networks cut, black-holed and flapping lose and duplicate nothing', async () => {
    await scenario('client network cut, black hole, flap', async (random, pop) => {
      const proxies = [pop.clinician, ...pop.patients].map((who) => who.proxy);
      await waitUntil(() => ackedCount(pop) >= totalSends() * 0.2, 'a fifth of the sends acknowledged', 60_000);
      const faultAt = Date.now();
      for (const proxy of proxies) proxy.cut();
      await sleep(200 + Math.floor(random() * 300));
      // A black hole longer than the clients' request timeout (3 s): they must notice by themselves.
      for (const proxy of proxies) proxy.blackhole(true);
      await sleep(4_000);
      for (const proxy of proxies) proxy.blackhole(false);
      for (let flap = 0; flap < 5; flap += 1) {
        await sleep(100 + Math.floor(random() * 300));
        proxies[Math.floor(random() * proxies.length)]!.cut();
      }
      return faultAt;
    });
  }, 180_000);

  it('a rolling restart of every node under load loses and duplicates nothing', async () => {
    await scenario('rolling restart under load', async (random, pop) => {
      await waitUntil(() => ackedCount(pop) >= totalSends() * 0.2, 'a fifth of the sends acknowledged', 60_000);
      const faultAt = Date.now();
      for (const index of cluster.ports.keys()) {
        // SIGTERM: the node drains (sockets move to the other node, or wait for this one to come back).
        await cluster.nodes[index]!.stop('SIGTERM');
        await cluster.startNode(index);
        await sleep(Math.floor(random() * 300));
      }
      return faultAt;
    });
  }, 180_000);

  it('a patient offline longer than any reconnection window gets everything sent meanwhile, once, in order', async () => {
    // The gateway keeps no connection-state recovery: any reconnection resyncs from the last sequence number.
    await scenario('long outage of one client', async (random, pop) => {
      await waitUntil(() => ackedCount(pop) >= totalSends() * 0.2, 'a fifth of the sends acknowledged', 60_000);
      const faultAt = Date.now();
      const victim = pop.patients[Math.floor(random() * pop.patients.length)]!;
      victim.proxy.blackhole(true);
      await sleep(8_000);
      victim.proxy.blackhole(false);
      victim.proxy.cut();
      return faultAt;
    });
  }, 180_000);

  it('nodes racing assignment (two when Redis links them), clinicians at cap − 1, while claims and transfers run, never exceed a cap nor double-assign', async () => {
    const random = seededRandom(seed + 99);
    const practice = await createPracticeWithStaff({ url: cluster.url, dataSource: cluster.dataSource });
    const nodeUrl = (i: number) => `http://127.0.0.1:${cluster.ports[i % cluster.ports.length]}`;
    const manager = await connectAs(cluster.url, practice.manager, 10_000);
    const clinicians: { userId: string; client: ParleyClient }[] = [];
    for (let i = 0; i < 3; i += 1) {
      const email = `racer.${i}.${seed}.${Date.now()}@test.parley`;
      const issued = await apiOk<CodeIssued>(
        cluster.url,
        'POST',
        '/api/staff',
        { token: practice.manager.token, body: { displayName: `Dr Racer ${i}`, email, roles: ['clinician'] } },
        201,
      );
      const staff = await activateStaff(cluster.url, practice.odsCode, issued.code, { userId: issued.userId, email, roles: ['clinician'] });
      clinicians.push({ userId: staff.userId, client: await connectAs(nodeUrl(i), staff, 10_000) });
    }
    const chats: Chatter[] = [];
    const open = async (i: number) => {
      const chat = await patientChat(nodeUrl(i), practice, await activatePatient(cluster.url, practice), 10_000);
      chats.push(chat);
      return (await chat.session.openConversation('admin')).id;
    };
    // Each clinician available with one conversation, then a cap of 2: cap − 1.
    for (const clinician of clinicians) {
      await manager.request('capacity:set-clinician', { clinicianId: clinician.userId, maxConcurrent: 1, dailyMax: null });
      await clinician.client.request('staff:availability', { availability: 'available' });
      await open(0);
      await waitUntil(
        async () =>
          (await cluster.dataSource.query(`SELECT count(*)::int AS n FROM assignments WHERE clinician_id = $1 AND ended_at IS NULL`, [clinician.userId]))[0]
            .n === 1,
        'cap − 1',
        20_000,
      );
    }
    for (const clinician of clinicians) await manager.request('capacity:set-clinician', { clinicianId: clinician.userId, maxConcurrent: 2, dailyMax: null });

    const opened = Promise.all(Array.from({ length: 6 }, (_, i) => open(i)));
    const racing = Promise.all(
      clinicians.map(async (clinician, index) => {
        for (let round = 0; round < 15; round += 1) {
          const waiting = (await cluster.dataSource.query(`SELECT id FROM conversations WHERE practice_id = $1 AND status = 'waiting'`, [practice.id])) as {
            id: string;
          }[];
          const held = (await cluster.dataSource.query(`SELECT conversation_id FROM assignments WHERE clinician_id = $1 AND ended_at IS NULL`, [
            clinician.userId,
          ])) as { conversation_id: string }[];
          const target = waiting[Math.floor(random() * waiting.length)];
          if (target) void clinician.client.request('conversation:claim', { conversationId: target.id });
          const mine = held[0];
          const colleague = clinicians[(index + 1) % clinicians.length]!;
          if (mine && random() < 0.5)
            void clinician.client.request('conversation:transfer', { conversationId: mine.conversation_id, to: { clinicianId: colleague.userId } });
          await sleep(Math.floor(random() * 30));
        }
      }),
    );
    await Promise.all([opened, racing]);
    // Let routing settle: with 6 slots for 9 conversations, exactly 6 end up assigned.
    await waitUntil(
      async () =>
        (
          await cluster.dataSource.query(
            `SELECT count(*)::int AS n FROM assignments a JOIN conversations c ON c.id = a.conversation_id WHERE c.practice_id = $1 AND a.ended_at IS NULL`,
            [practice.id],
          )
        )[0].n === 6,
      'six live assignments',
      30_000,
    );
    const problems = await assignmentProblems(cluster.dataSource);
    const statuses = (await cluster.dataSource.query(
      `SELECT status, count(*)::int AS n FROM conversations WHERE practice_id = $1 GROUP BY status ORDER BY status`,
      [practice.id],
    )) as { status: string; n: number }[];
    for (const chat of chats) await chat.session.close();
    for (const clinician of clinicians) clinician.client.close();
    manager.close();

    expect(problems).toEqual([]);
    expect(statuses).toEqual([
      { status: 'assigned', n: 6 },
      { status: 'waiting', n: 3 },
    ]);
  }, 180_000);

  it('duplicate sends (a retry, two tabs racing, the same id with other content) store one row and answer conflict for the impostor', async () => {
    population = await populate(cluster, 1);
    const pop = population;
    const [conversationId, patient] = [...pop.conversations][0]!;
    // Two more sockets on the patient's session: other tabs of the same device.
    const tabs = await Promise.all([0, 1].map(() => connectAs(cluster.url, { token: pop.tokens.get(patient.name)! }, 10_000)));
    const storedRow = async (clientMessageId: string) =>
      (await cluster.dataSource.query(`SELECT seq, ciphertext FROM record_entries WHERE client_message_id = $1`, [clientMessageId])) as {
        seq: string;
        ciphertext: Buffer;
      }[];

    const first = await send(pop, patient, conversationId, 'the original');
    const original = patient.store.sent[0]!;
    const retries = await Promise.all(tabs.map((tab) => tab.request('conversation:send', original)));
    // Two tabs flush the same outbox item while the session sends it too.
    const racing = send(pop, patient, conversationId, 'sent from three places at once');
    await waitUntil(() => patient.store.sent.length === 2, 'the second payload in the outbox', 5_000);
    const raced = patient.store.sent[1]!;
    const tabAnswers = await Promise.all(tabs.map((tab) => tab.request('conversation:send', raced)));
    const racedRecord = await racing;
    const impostor = { ...original, ciphertext: randomBytes(Buffer.from(original.ciphertext, 'base64').length).toString('base64') };
    const conflict = await tabs[0]!.request('conversation:send', impostor);
    for (const tab of tabs) tab.close();
    const problems = await checkInvariants(cluster, pop);

    expect(first.ok).toBe(true);
    expect(retries.map((answer) => answer.ok && answer.data.isDuplicate)).toEqual([true, true]);
    expect(racedRecord.ok).toBe(true);
    expect(tabAnswers.every((answer) => answer.ok)).toBe(true);
    expect(new Set(tabAnswers.map((answer) => (answer.ok ? answer.data.seq : -1))).size).toBe(1);
    expect(conflict).toMatchObject({ ok: false, error: { code: 'conflict' } });
    expect(await storedRow(raced.clientMessageId)).toHaveLength(1);
    const row = await storedRow(original.clientMessageId);
    expect(row).toHaveLength(1);
    expect(row[0]!.ciphertext.toString('base64')).toBe(original.ciphertext);
    expect(problems).toEqual([]);
  }, 120_000);
});

describe.each(SEEDS)('PostgreSQL faults, seed %i (the cluster has its own PostgreSQL)', (seed) => {
  let cluster: Cluster;
  let population: Population | undefined;

  beforeAll(async () => {
    cluster = await Cluster.start(2, { ownPostgres: true });
  }, 120_000);

  afterEach(async () => {
    await population?.close();
    population = undefined;
  }, 60_000);

  afterAll(async () => {
    await cluster?.close();
  });

  for (const mode of ['fast', 'immediate', 'terminate-connections'] as const) {
    const title =
      mode === 'terminate-connections'
        ? "the app's database connections killed (pg_terminate_backend): the nodes stay up, serve again, and acknowledge nothing uncommitted"
        : `a${mode === 'immediate' ? 'n immediate' : ' fast'} PostgreSQL restart: the nodes stay up, say not-ready, then ready, and acknowledge nothing uncommitted`;
    it(
      title,
      async () => {
        const random = seededRandom(seed + mode.length);
        population = await populate(cluster, PATIENTS);
        const pop = population;
        const sendsDone = converse(pop, MESSAGES, random, mode).then((sends) => Promise.all(sends));
        await waitUntil(() => pop.ledger.filter((record) => record.ok).length >= PATIENTS * 3, 'some sends acknowledged', 60_000);
        const faultAt = Date.now();
        let wasNotReady = true;
        if (mode === 'terminate-connections') {
          await cluster.dataSource.query(
            `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()`,
          );
        } else {
          await cluster.postgres!.server.stop(mode);
          wasNotReady = await waitUntil(
            () => cluster.isNotReady(),
            () => `every node to report not-ready:${cluster.describeReadiness()}`,
            20_000,
          ).then(
            () => true,
            () => false,
          );
          await sleep(500 + Math.floor(random() * 1_000));
          await cluster.postgres!.server.start();
        }
        await waitUntil(
          () => cluster.isReady(),
          () => `every node to report ready again:${cluster.describeReadiness()}`,
          60_000,
        );
        await sendsDone;
        const problems = await checkInvariants(cluster, pop);

        outcomes.push({
          scenario: `PostgreSQL: ${mode}`,
          seed,
          sends: pop.ledger.length,
          p95Ms: p95SendToAck(pop.ledger),
          recoveryMs: recoveryMs(pop.ledger, faultAt),
        });
        expect(wasNotReady).toBe(true);
        expect(cluster.areAlive).toBe(true);
        expect(problems).toEqual([]);
        expect(pop.ledger.every((record) => record.ok)).toBe(true);
      },
      180_000,
    );
  }
});
