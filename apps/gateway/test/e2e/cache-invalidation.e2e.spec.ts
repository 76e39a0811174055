import type { ParleyClient } from '@parley/client';
import { ready } from '@parley/crypto';
import type { Ack, SessionEnded } from '@parley/protocol';
import { io, type Socket } from 'socket.io-client';
import { ConversationAccessCache } from '../../src/invalidation/conversation-access.cache.js';
import { ConversationAccessRepository } from '../../src/invalidation/conversation-access.repository.js';
import { InvalidationListener } from '../../src/invalidation/invalidation.listener.js';
import { InvalidationRepository } from '../../src/invalidation/invalidation.repository.js';
import { SESSION_SWEEP_MS } from '../../src/sessions/connection.gateway.js';
import { SessionsRepository } from '../../src/sessions/sessions.repository.js';
import { SessionsService } from '../../src/sessions/sessions.service.js';
import { heardOn, sessionIdOf, startTestApp, type TestApp } from '../app.js';
import { follow, patientChat, type Chatter } from '../chat.js';
import { activatePatient, api, connectAs, createPracticeWithStaff, signIn, type SignedIn, type TestPractice } from '../factories.js';
import { waitUntil } from '../wait.js';

// docs/decisions/0006-cache-invalidation-listen-notify.md: each node holds sessions and conversations' access in memory
// and hears their changes through PostgreSQL NOTIFY. Two in-process nodes on one database and NO Redis, so nothing but
// the database's notification can tell node B what happened on node A.

// jest's ESM mode has no global `jest`; each module gets its own on import.meta.
const jestObject = (import.meta as unknown as { jest: typeof jest }).jest;

/** "At once": the notification's latency on a busy 2-core test machine, far under the 2 s sweep that backs it up. */
const AT_ONCE_MS = 500;

/** A socket that notes when it was told its session ended, and why. */
interface Watched {
  client: ParleyClient;
  endedAt: number | undefined;
  reason: SessionEnded['reason'] | undefined;
}

async function watch(url: string, signedIn: Pick<SignedIn, 'token'>): Promise<Watched> {
  const client = await connectAs(url, signedIn, 5_000);
  const watched: Watched = { client, endedAt: undefined, reason: undefined };
  client.on('session:ended', ({ reason }) => {
    watched.endedAt = Date.now();
    watched.reason = reason;
  });
  // A command, so the node holds the session in memory (live) before it changes.
  const pong = await client.request('system:ping', {});
  if (!pong.ok) throw new Error(`ping refused: ${pong.error.code}`);
  return watched;
}

/** A bare socket.io socket: it sends a command the moment the test says, whatever it has been told. */
async function rawSocket(url: string, token: string): Promise<Socket> {
  const socket = io(url, { auth: { token }, transports: ['websocket'], reconnection: false });
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('connect_error', reject);
  });
  return socket;
}

/** The ack of `system:ping`, or `closed` when the socket was closed before it could answer. */
async function pingOrClosed(socket: Socket): Promise<Ack<unknown> | 'closed'> {
  if (!socket.connected) return 'closed';
  try {
    return (await socket.timeout(3_000).emitWithAck('system:ping', {})) as Ack<unknown>;
  } catch {
    return 'closed';
  }
}

const outcomeOf = (answer: Ack<unknown> | 'closed'): string => (answer === 'closed' ? answer : answer.ok ? 'answered' : answer.error.code);

describe('caches invalidated on every node by PostgreSQL NOTIFY (two in-process gateways, one database, no Redis)', () => {
  let nodeA: TestApp;
  let nodeB: TestApp;
  let practice: TestPractice;
  const clients: { close(): void }[] = [];
  const chats: Chatter[] = [];

  beforeAll(async () => {
    await ready();
    nodeA = await startTestApp();
    nodeB = await startTestApp({ DATABASE_URL: nodeA.config.databaseUrl! });
    practice = await createPracticeWithStaff(nodeA);
    await waitUntil(() => nodeA.app.get(InvalidationListener).isListening && nodeB.app.get(InvalidationListener).isListening, 'both nodes to listen');
  });

  afterAll(async () => {
    for (const client of clients) client.close();
    for (const chat of chats) await chat.session.close();
    await nodeB?.close();
    await nodeA?.close();
  });

  it('closes the sockets of a session signed out on node A on both nodes at once, and node B refuses its next command', async () => {
    const patient = await activatePatient(nodeA.url, practice);
    const onA = await watch(nodeA.url, patient);
    const onB = await watch(nodeB.url, patient);
    const raw = await rawSocket(nodeB.url, patient.token);
    clients.push(onA.client, onB.client, { close: () => raw.close() });
    expect(await pingOrClosed(raw)).toEqual({ ok: true, data: expect.anything() });

    const heard = heardOn(nodeB, 'session_ended');
    const revokedAt = Date.now();
    const signedOut = await api(nodeA.url, 'POST', '/api/auth/sign-out', { token: patient.token });
    const heardAt = await heard;
    const afterRevocation = await pingOrClosed(raw);
    await waitUntil(() => onA.endedAt !== undefined && onB.endedAt !== undefined, 'both sockets to be told', 5_000);

    expect(signedOut.status).toBe(204);
    // Once node B heard (the window is the notification's latency, measured here), its next command is refused by the
    // guard, whose memory the notification emptied, or finds the socket already closed by it: it is never answered.
    expect(heardAt - revokedAt).toBeLessThan(AT_ONCE_MS);
    expect(['unauthorized', 'closed']).toContain(outcomeOf(afterRevocation));
    expect([onA.reason, onB.reason]).toEqual(['signed_out', 'signed_out']);
    expect(onB.endedAt! - revokedAt).toBeLessThan(AT_ONCE_MS);
    expect(AT_ONCE_MS).toBeLessThan(SESSION_SWEEP_MS);
    await waitUntil(() => !onB.client.isConnected && !raw.connected, 'node B to close both its sockets', AT_ONCE_MS);
    // Node B's memory was told too: its check answers from the database's word, not the session it held live.
    expect(await nodeB.app.get(SessionsService).endedReason({ sessionId: await sessionIdOf(nodeB, patient.token) })).toBe('signed_out');
  }, 60_000);

  it("checks a socket's first command against the session its handshake read (no second read), which a sign-out on node A still ends", async () => {
    const patient = await activatePatient(nodeA.url, practice);
    const reads = jestObject.spyOn(nodeB.app.get(SessionsRepository), 'findState');
    try {
      const raw = await rawSocket(nodeB.url, patient.token);
      clients.push({ close: () => raw.close() });
      expect(await pingOrClosed(raw)).toEqual({ ok: true, data: expect.anything() });
      expect(reads).not.toHaveBeenCalled();

      const heard = heardOn(nodeB, 'session_ended');
      expect((await api(nodeA.url, 'POST', '/api/auth/sign-out', { token: patient.token })).status).toBe(204);
      await heard;

      expect(['unauthorized', 'closed']).toContain(outcomeOf(await pingOrClosed(raw)));
      expect(await nodeB.app.get(SessionsService).endedReason({ sessionId: await sessionIdOf(nodeB, patient.token) })).toBe('signed_out');
      expect(reads).toHaveBeenCalled();
    } finally {
      reads.mockRestore();
    }
  }, 60_000);

  it("closes the sockets of a device a manager revoked on node A on both nodes at once, with the device's reason", async () => {
    // A second device of the clinician's (the practice's own device stays, for the tests after this one).
    const clinician = await signIn(nodeA.url, { practice: practice.odsCode, login: practice.clinician.email });
    const deviceId = clinician.session.deviceId;
    const onA = await watch(nodeA.url, clinician);
    const onB = await watch(nodeB.url, clinician);
    const raw = await rawSocket(nodeB.url, clinician.token);
    clients.push(onA.client, onB.client, { close: () => raw.close() });

    const heard = heardOn(nodeB, 'device');
    const revokedAt = Date.now();
    const revoked = await api(nodeA.url, 'POST', `/api/staff/${practice.clinician.userId}/devices/${deviceId}/revoke`, {
      token: practice.manager.token,
    });
    const heardAt = await heard;
    const afterRevocation = await pingOrClosed(raw);
    await waitUntil(() => onA.endedAt !== undefined && onB.endedAt !== undefined, 'both sockets to be told', 5_000);

    expect(revoked.status).toBe(204);
    // Once node B heard (the window is the notification's latency, measured here), its next command is refused by the
    // guard, whose memory the notification emptied, or finds the socket already closed by it: it is never answered.
    expect(heardAt - revokedAt).toBeLessThan(AT_ONCE_MS);
    expect(['unauthorized', 'closed']).toContain(outcomeOf(afterRevocation));
    expect([onA.reason, onB.reason]).toEqual(['device_revoked', 'device_revoked']);
    expect(onB.endedAt! - revokedAt).toBeLessThan(AT_ONCE_MS);
    await waitUntil(() => !onB.client.isConnected && !raw.connected, 'node B to close both its sockets', AT_ONCE_MS);
    expect(await nodeB.app.get(SessionsService).endedReason({ sessionId: await sessionIdOf(nodeB, clinician.token) })).toBe('device_revoked');
  }, 60_000);

  describe("a conversation's access on node B", () => {
    let conversationId: string;
    let cacheB: ConversationAccessCache;
    let reads: jest.SpiedFunction<ConversationAccessRepository['findAccess']>;
    let sender: Chatter;

    beforeAll(async () => {
      sender = await patientChat(nodeA.url, practice, await activatePatient(nodeA.url, practice), 5_000);
      chats.push(sender);
      conversationId = (await sender.session.openConversation('admin')).id;
      await follow(sender, conversationId);
      cacheB = nodeB.app.get(ConversationAccessCache);
      reads = jestObject.spyOn(nodeB.app.get(ConversationAccessRepository), 'findAccess');
    });

    const assign = (db: TestApp, clinicianId: string | null) =>
      db.dataSource.query(
        `UPDATE conversations SET status = CASE WHEN $2::uuid IS NULL THEN 'waiting' ELSE 'assigned' END, assigned_clinician_id = $2::uuid WHERE id = $1`,
        [conversationId, clinicianId],
      );

    it('is read once, then served from memory, also while the record writer moves the conversation (no notification for it)', async () => {
      const first = await cacheB.get(conversationId);
      const before = reads.mock.calls.length;
      const sent = await sender.session.conversation(conversationId).send('moves last_seq and last_hash');
      const again = [await cacheB.get(conversationId), await cacheB.get(conversationId)];

      expect(sent.ok).toBe(true);
      expect(first).toMatchObject({ id: conversationId, practiceId: practice.id, assignedClinicianId: null, status: 'waiting' });
      expect(again).toEqual([first, first]);
      expect(reads.mock.calls.length).toBe(before);
    }, 30_000);

    it("has the new assignee at once after node A's UPDATE commits, with one read", async () => {
      expect((await cacheB.get(conversationId))?.assignedClinicianId).toBeNull();
      const before = reads.mock.calls.length;

      const committedAt = Date.now();
      await assign(nodeA, practice.manager.userId);
      await waitUntil(
        async () => (await cacheB.get(conversationId))?.assignedClinicianId === practice.manager.userId,
        'node B to see the new assignee',
        AT_ONCE_MS,
      );
      const seenAfterMs = Date.now() - committedAt;
      await cacheB.get(conversationId);

      expect(seenAfterMs).toBeLessThan(AT_ONCE_MS);
      expect(await cacheB.get(conversationId)).toMatchObject({ status: 'assigned', assignedClinicianId: practice.manager.userId });
      expect(reads.mock.calls.length).toBe(before + 1);
    });

    it('is bypassed (read from the database every time) while the listener is cut, then cached again once it listens anew', async () => {
      const listenerB = nodeB.app.get(InvalidationListener);
      // The reconnection waits for the test's word, so "not listening" lasts exactly as long as the test needs.
      let letReconnect: () => void = () => undefined;
      const reconnectAllowed = new Promise<void>((resolve) => (letReconnect = resolve));
      const repositoryB = nodeB.app.get(InvalidationRepository);
      const listen = repositoryB.listen.bind(repositoryB);
      const held = jestObject.spyOn(repositoryB, 'listen').mockImplementation(async (...args) => {
        await reconnectAllowed;
        return listen(...args);
      });
      const pid = listenerB.backendPid;

      await nodeA.dataSource.query(`SELECT pg_terminate_backend($1)`, [pid]);
      await waitUntil(() => !listenerB.isListening, 'node B to notice its listener is gone', 5_000);
      const before = reads.mock.calls.length;
      const whileCut = [await cacheB.get(conversationId), await cacheB.get(conversationId)];
      // A change while node B hears nothing: bypassing, it still reads it.
      await assign(nodeA, null);
      const changedWhileCut = await cacheB.get(conversationId);
      const readsWhileCut = reads.mock.calls.length - before;

      letReconnect();
      await waitUntil(() => listenerB.isListening, 'node B to listen again', 5_000);
      const afterReconnect = reads.mock.calls.length;
      const [fresh, cached] = [await cacheB.get(conversationId), await cacheB.get(conversationId)];
      held.mockRestore();

      expect(pid).toEqual(expect.any(Number));
      expect(listenerB.backendPid).not.toBe(pid);
      expect(whileCut.map((access) => access?.assignedClinicianId)).toEqual([practice.manager.userId, practice.manager.userId]);
      expect(changedWhileCut).toMatchObject({ status: 'waiting', assignedClinicianId: null });
      expect(readsWhileCut).toBe(3);
      expect([fresh, cached]).toEqual([changedWhileCut, changedWhileCut]);
      expect(reads.mock.calls.length - afterReconnect).toBe(1);

      // Listening again, it hears node A's next change at once.
      await assign(nodeA, practice.manager.userId);
      await waitUntil(async () => (await cacheB.get(conversationId))?.assignedClinicianId === practice.manager.userId, 'node B to hear again', AT_ONCE_MS);
    }, 30_000);
  });
});
