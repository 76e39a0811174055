import type { FeedEntry } from '@parley/client';
import { ready } from '@parley/crypto';
import type { ChatEntry } from '@parley/sdk';
import { redisKeyPrefix, testRedisUrl, type TestDatabase } from '@parley/testing';
import type { DataSource } from 'typeorm';
import { startCluster, type Cluster } from '../../../../infra/local/cluster.mjs';
import { openDatabase } from '../../src/database/data-source.js';
import { follow, patientChat, staffChat, waitForAssignment, type Chatter } from '../chat.js';
import { freshDatabase } from '../database.js';
import { activatePatient, createPracticeWithStaff } from '../factories.js';
import { waitUntil } from '../wait.js';

/** The send stream's pace (a rate, not a wait: what the test waits for are acknowledgements). */
const pace = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const messageBodies = (entries: FeedEntry<ChatEntry>[]) => entries.flatMap((entry) => (entry.ok && entry.value.kind === 'message' ? [entry.value.body] : []));

// With a Redis the nodes are linked as in production and live delivery across nodes is checked too;
// without one, delivery is checked by a fresh session reading the conversation after the restarts.
const redisUrl = testRedisUrl();

describe(`rolling restart of two gateway nodes behind the loopback balancer (infra/local/cluster.mjs${redisUrl ? ', linked by Redis' : ''})`, () => {
  let database: TestDatabase;
  let dataSource: DataSource;
  let cluster: Cluster;
  const chats: Chatter[] = [];

  beforeAll(async () => {
    await ready();
    database = await freshDatabase();
    cluster = await startCluster({
      databaseUrl: database.url,
      redisUrl,
      env: { LOG_LEVEL: 'info', REDIS_STREAM_NAME: redisKeyPrefix(), SHUTDOWN_GRACE_MS: '10000' },
    });
    dataSource = await openDatabase(database.url);
  });

  afterAll(async () => {
    for (const chat of chats) await chat.session.close();
    await cluster?.close();
    await dataSource?.destroy();
    await database?.drop();
  });

  it('loses nothing under a steady send stream: every acked message is stored exactly once and delivered', async () => {
    const practice = await createPracticeWithStaff({ url: cluster.url, dataSource });
    const patient = await patientChat(cluster.url, practice, await activatePatient(cluster.url, practice), 10_000);
    chats.push(patient);
    const clinician = await staffChat(cluster.url, practice, practice.clinician);
    chats.push(clinician);
    const conversationId = (await patient.session.openConversation('admin')).id;
    await follow(patient, conversationId);
    await follow(clinician, conversationId);
    await waitForAssignment(clinician);
    const before = cluster.balancer.stats();

    // A send every 40 ms; each node restarts once 15 more of them were acknowledged, and the stream ends 15 after the last.
    let isStreaming = true;
    let acked = 0;
    const send = async (i: number) => {
      const result = await patient.session.conversation(conversationId).send(`message ${i}`);
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
    const fifteenMoreAcked = () => {
      const target = acked + 15;
      return waitUntil(
        () => acked >= target,
        () => `15 more sends acknowledged (${acked} of ${target})`,
        30_000,
      );
    };
    await fifteenMoreAcked();
    const first = await cluster.restartNode(0);
    await fifteenMoreAcked();
    const second = await cluster.restartNode(1);
    await fifteenMoreAcked();
    isStreaming = false;
    await stream;
    const results = await Promise.all(sends);
    const expected = results.map((_, i) => `message ${i}`);
    if (redisUrl)
      await waitUntil(
        () => messageBodies(clinician.entries).length >= expected.length,
        `the clinician's live feed to hold all ${expected.length} messages`,
        30_000,
      );
    const reader = await staffChat(cluster.url, practice, practice.clinician);
    chats.push(reader);
    await follow(reader, conversationId);
    await waitUntil(() => messageBodies(reader.entries).length >= expected.length, `a fresh session to read all ${expected.length} messages`, 30_000);
    const [stored] = await dataSource.query(
      `SELECT count(*)::int AS n, count(DISTINCT client_message_id)::int AS distinct_ids FROM record_entries WHERE conversation_id = $1 AND kind = 'message'`,
      [conversationId],
    );

    // Both nodes served sockets before the restarts, and each drained with nothing left unanswered.
    expect(Object.values(before).map((node) => node.sockets > 0)).toEqual([true, true]);
    expect([first.exitCode, second.exitCode]).toEqual([0, 0]);
    for (const { output } of [first, second]) expect(output).toMatch(/"unanswered":0,"closedSockets":[1-9]\d*.*"msg":"drained"/);
    expect(expected.length).toBeGreaterThan(40);
    expect(results.filter((result) => !result.ok)).toEqual([]);
    expect(stored).toEqual({ n: expected.length, distinct_ids: expected.length });
    expect(messageBodies(reader.entries)).toEqual(expected);
    expect(reader.entries.filter((entry) => !entry.ok)).toEqual([]);
    if (redisUrl) expect(messageBodies(clinician.entries)).toEqual(expected);
  }, 120_000);
});
