import { ready } from '@parley/crypto';
import { redisKeyPrefix, startTcpProxy, testRedisUrl, type TcpProxy } from '@parley/testing';
import pg from 'pg';
import type { Server } from 'socket.io';
import { freePort } from '../../src/database/embedded-postgres.js';
import { DrainService } from '../../src/health/drain.service.js';
import { HealthService } from '../../src/health/health.service.js';
import { startTestApp, type TestApp } from '../app.js';
import { lockWaiters } from '../database.js';
import { follow, patientChat, staffChat, waitForAssignment } from '../chat.js';
import { activatePatient, connectAs, createPracticeWithStaff } from '../factories.js';
import { describeIf, missingRedis } from '../environment.js';
import { waitUntil } from '../wait.js';

/**
 * Resolves once a command named `event` reaches the gateway's sockets (as an engine.io packet, before socket.io's
 * middleware: a held-back command is never handled, so this is the only sign that it arrived), or fails after 10 s.
 */
function commandArrival(drain: DrainService, event: string): Promise<void> {
  // The socket.io server the drain watches; private to the service, read here to observe what it holds back.
  const { server } = drain as unknown as { server: Server };
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`timed out waiting for ${event} to reach the gateway`)), 10_000);
    for (const socket of server.of('/').sockets.values()) {
      socket.conn.on('packet', (packet: { type: string; data?: unknown }) => {
        if (packet.type !== 'message' || !String(packet.data).includes(JSON.stringify(event))) return;
        clearTimeout(timer);
        resolve();
      });
    }
  });
}

const readiness = async (url: string) => {
  const response = await fetch(`${url}/health/ready`);
  return { status: response.status, body: (await response.json()) as unknown };
};

describe('graceful drain (in-process gateway, real PostgreSQL and sockets)', () => {
  let gateway: TestApp;

  beforeAll(async () => {
    await ready();
    gateway = await startTestApp();
  });

  afterAll(async () => {
    await gateway?.close();
  });

  it('reports draining, refuses new connections, answers the command under way, holds back new ones, and sends clients away without stopping them', async () => {
    const practice = await createPracticeWithStaff(gateway);
    const patient = await patientChat(gateway.url, practice, await activatePatient(gateway.url, practice), 20_000);
    const clinician = await staffChat(gateway.url, practice, practice.clinician);
    const manager = await connectAs(gateway.url, practice.manager, 20_000);
    const conversationId = (await patient.session.openConversation('admin')).id;
    await follow(patient, conversationId);
    await follow(clinician, conversationId);
    await waitForAssignment(clinician);
    const drain = gateway.app.get(DrainService);
    await waitUntil(() => drain.commandsInFlight === 0, 'the clients to settle');
    // Holding the conversation's row keeps the send's record transaction, and so its ack, waiting.
    const blocker = new pg.Client({ connectionString: gateway.config.databaseUrl });
    await blocker.connect();
    await blocker.query('BEGIN');
    await blocker.query('SELECT 1 FROM conversations WHERE id = $1 FOR UPDATE', [conversationId]);

    const sendArrival = commandArrival(drain, 'conversation:send');
    const sending = patient.session.conversation(conversationId).send('sent just before the drain');
    // The send itself must be under way, not merely some command: a send that arrived after the drain began is held
    // back for good here (there is no other node to resend it to). A delivered receipt (sent up to a second after the
    // last entry) is no proof: it counts as in flight and, its foreign key checked against the locked row, waits on
    // the blocker too. The send's packet at the gateway and the record writer's row lock waiting prove it.
    await sendArrival;
    const recordWriterWaiting = () => lockWaiters(gateway.dataSource, '%FROM conversations%FOR NO KEY UPDATE%');
    await waitUntil(async () => drain.commandsInFlight >= 1 && (await recordWriterWaiting()) >= 1, 'the send to be under way');
    const draining = drain.drain(10_000);
    const reasons = await gateway.app.get(HealthService).notReadyReasons();
    const newConnection = await fetch(`${gateway.url}/health/live`).then(
      () => 'accepted',
      () => 'refused',
    );
    const arrived = commandArrival(drain, 'queue:list');
    const heldBack = manager.request('queue:list', {});
    await arrived;
    const isStillOpen = manager.isConnected;
    await blocker.query('COMMIT');
    await blocker.end();
    const sent = await sending;
    const outcome = await draining;
    const [stored] = await gateway.dataSource.query(`SELECT count(*)::int AS n FROM record_entries WHERE conversation_id = $1 AND kind = 'message'`, [
      conversationId,
    ]);

    expect(reasons).toEqual(['draining']);
    expect(newConnection).toBe('refused');
    expect(isStillOpen).toBe(true);
    expect(sent).toMatchObject({ ok: true, data: { isDuplicate: false } });
    expect(outcome).toEqual({ unanswered: 0, closedSockets: 3 });
    expect(await heldBack).toMatchObject({ ok: false, error: { code: 'disconnected' } });
    expect(stored).toEqual({ n: 1 });
    // A lost transport, not a server-side disconnect: the client is reconnecting (elsewhere, behind a balancer), not stopped.
    expect(manager.isConnected).toBe(false);
    expect(manager.stoppedBy).toBeNull();
    manager.close();
    await patient.session.close();
    await clinician.session.close();
  }, 60_000);
});

// Cutting the Redis needs one: TEST_REDIS_URL (`.ci/run` provides it), as for the other multi-node tests.
describeIf(missingRedis)('readiness while Redis is unreachable (in-process gateway, a TCP proxy in front of TEST_REDIS_URL)', () => {
  let proxy: TcpProxy;
  let gateway: TestApp;
  let target: { host: string; port: number };

  beforeAll(async () => {
    const redis = new URL(testRedisUrl()!);
    target = { host: redis.hostname, port: Number(redis.port || 6379) };
    proxy = await startTcpProxy({ target });
    gateway = await startTestApp({ REDIS_URL: `redis://127.0.0.1:${proxy.port}`, REDIS_STREAM_NAME: redisKeyPrefix() });
  });

  afterAll(async () => {
    await gateway?.close();
    await proxy?.close();
  });

  it('answers 503 redis_unreachable while Redis is down and 200 again once it is back', async () => {
    await waitUntil(async () => (await readiness(gateway.url)).status === 200, 'ready with Redis up', 20_000);

    proxy.setTarget({ host: '127.0.0.1', port: await freePort() });
    await waitUntil(async () => (await readiness(gateway.url)).status === 503, 'not ready without Redis', 20_000);
    const down = await readiness(gateway.url);
    proxy.setTarget(target);
    await waitUntil(async () => (await readiness(gateway.url)).status === 200, 'ready again with Redis back', 20_000);
    const up = await readiness(gateway.url);

    expect(down).toEqual({ status: 503, body: { status: 'not_ready', reasons: ['redis_unreachable'] } });
    expect(up).toEqual({ status: 200, body: { status: 'ready' } });
  }, 60_000);

  it('answers 503 redis_unreachable while Redis hangs without closing the connection, and 200 once it answers', async () => {
    proxy.blackhole(true);
    await waitUntil(async () => (await readiness(gateway.url)).status === 503, 'not ready while Redis hangs', 20_000);
    const down = await readiness(gateway.url);
    // The proxy drops what it held back, where a real network would deliver it late and in order:
    // cutting the connections as well lets both ends start clean, as a TCP reset would.
    proxy.blackhole(false);
    proxy.cut();
    await waitUntil(async () => (await readiness(gateway.url)).status === 200, 'ready again once Redis answers', 20_000);

    expect(down).toEqual({ status: 503, body: { status: 'not_ready', reasons: ['redis_unreachable'] } });
  }, 60_000);
});
