import { randomUUID } from 'node:crypto';
import { ready } from '@parley/crypto';
import { redisKeyPrefix, startLocalPushService, testRedisUrl, type LocalPushService } from '@parley/testing';
import { createClient } from 'redis';
import { RealtimePublisher } from '../../src/common/realtime.publisher.js';
import { rooms } from '../../src/common/rooms.js';
import { NotificationDispatcher } from '../../src/notifications/notification-dispatcher.js';
import { startTestApp, type TestApp } from '../app.js';
import { staffChat, type Chatter } from '../chat.js';
import { connectAs, createPracticeWithStaff, type TestPractice } from '../factories.js';
import { describeIf, missingRedis } from '../environment.js';
import { subscribedPatient } from '../push.js';
import { waitUntil } from '../wait.js';

/**
 * Push with two gateway nodes linked by Redis (docs/protocol.md, "Notifications"): presence is asked of every node, and
 * a notice goes once however many nodes append entries for it.
 */
describeIf(missingRedis)('push notifications across two gateway nodes linked by Redis', () => {
  let nodeA: TestApp;
  let nodeB: TestApp;
  let pushService: LocalPushService;
  let streamName: string;
  let practice: TestPractice;
  let clinician: Chatter;
  const chats: Chatter[] = [];

  const idle = () => Promise.all([nodeA, nodeB].map((node) => node.app.get(NotificationDispatcher).idle()));

  beforeAll(async () => {
    await ready();
    pushService = await startLocalPushService();
    streamName = redisKeyPrefix();
    const env = { REDIS_URL: testRedisUrl()!, REDIS_STREAM_NAME: streamName, PUSH_ALLOW_INSECURE_ENDPOINTS: 'true' };
    nodeA = await startTestApp(env);
    nodeB = await startTestApp({ ...env, DATABASE_URL: nodeA.config.databaseUrl! });
    practice = await createPracticeWithStaff(nodeA);
    clinician = await staffChat(nodeA.url, practice, practice.clinician);
    const manager = await connectAs(nodeA.url, practice.manager);
    await manager.request('capacity:set-clinician', { clinicianId: practice.clinician.userId, maxConcurrent: 50, dailyMax: null });
    manager.close();
  }, 60_000);

  afterAll(async () => {
    for (const chat of [...chats, clinician]) await chat?.session.close();
    await nodeB?.close();
    await nodeA?.close();
    await pushService?.close();
  });

  /** A patient on node B with an assigned conversation, subscribed. */
  const patientOnB = () => subscribedPatient({ url: nodeB.url, practice, clinician, pushService, chats });
  const deliveriesTo = (endpoint: string) => pushService.deliveries.filter((delivery) => delivery.endpoint === endpoint);

  it('sends nothing to a patient connected to the other node', async () => {
    const { chat, conversationId, subscription } = await patientOnB();

    await clinician.session.conversation(conversationId).send('Seen on node B?');
    await waitUntil(() => chat.bodies().includes('Seen on node B?'), 'the reply on node B');
    await idle();

    expect(deliveriesTo(subscription.endpoint)).toEqual([]);
  });

  it('asks the other node once for the users asked about together, and answers each', async () => {
    const { account } = await patientOnB();
    const away = Array.from({ length: 20 }, () => randomUUID());
    // A node asks the others on the adapter's public channel (Redis PUB/SUB): count the requests made. A pattern
    // subscription, since the adapter expects an answer from each plain subscriber of that channel.
    const requests: Buffer[] = [];
    const listener = await createClient({ url: testRedisUrl()! }).connect();
    await listener.pSubscribe(`${streamName}#/#`, (message) => requests.push(message), true);

    const online = await Promise.all([account.userId, ...away].map((userId) => nodeA.app.get(RealtimePublisher).isUserOnline(userId)));
    await listener.pUnsubscribe();
    await listener.close();

    expect(online).toEqual([true, ...away.map(() => false)]);
    expect(requests).toHaveLength(1);
  });

  it('sends one push, not two, when each node appends an entry for the away patient', async () => {
    const { account, chat, conversationId, subscription } = await patientOnB();
    await chat.session.close();
    await waitUntil(async () => !(await nodeA.app.get(RealtimePublisher).usersIn(rooms.user(account.userId))).has(account.userId), 'the patient to be gone');
    const closer = await connectAs(nodeB.url, practice.clinician);

    // The reply is appended by node A, the closing by node B: both are entries the patient is told of.
    const sent = await clinician.session.conversation(conversationId).send('Results are fine; closing this now.');
    const closed = await closer.request('conversation:close', { conversationId, outcome: 'resolved' });
    closer.close();
    await idle();

    expect(sent.ok).toBe(true);
    expect(closed.ok).toBe(true);
    expect(deliveriesTo(subscription.endpoint)).toHaveLength(1);
    expect(JSON.parse(deliveriesTo(subscription.endpoint)[0]!.payload)).toEqual({ v: 1, kind: 'new-message', conversationId, title: null });
  });
});
