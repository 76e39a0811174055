import type { ParleyClient } from '@parley/client';
import { ready } from '@parley/crypto';
import type { ServerToClient } from '@parley/protocol';
import { redisKeyPrefix, startTcpProxy, testRedisUrl, type TcpProxy } from '@parley/testing';
import { SESSION_SWEEP_MS } from '../../src/sessions/connection.gateway.js';
import { startTestApp, type TestApp } from '../app.js';
import { follow, patientChat, type Chatter } from '../chat.js';
import { activatePatient, api, connectAs, createPracticeWithStaff, signIn, type SignedIn, type TestPatient, type TestPractice } from '../factories.js';
import { describeIf, missingRedis } from '../environment.js';
import { waitUntil } from '../wait.js';

/** The conversation traffic a socket can be sent (docs/threat-model.md T18). */
const CONVERSATION_FACTS = [
  'message:relayed',
  'receipt:updated',
  'conversation:typing',
  'presence:changed',
] as const satisfies readonly (keyof ServerToClient)[];
/** The stated bound (one check interval) plus room for that check's query and a busy test machine. */
const CLOSED_WITHIN_MS = SESSION_SWEEP_MS + 2_000;

/** A raw socket in a conversation's room that records every conversation fact it is sent, and whether and when it was stopped. */
interface Listener {
  client: ParleyClient;
  facts: { event: string; seq?: number }[];
  stoppedAt: number | undefined;
  stopCode: string | undefined;
}

async function listenIn(url: string, signedIn: Pick<SignedIn, 'token'>, conversationId: string): Promise<Listener> {
  const client = await connectAs(url, signedIn, 5_000);
  const listener: Listener = { client, facts: [], stoppedAt: undefined, stopCode: undefined };
  for (const event of CONVERSATION_FACTS) {
    client.on(event, (fact: unknown) => listener.facts.push({ event, seq: (fact as { seq?: number }).seq }));
  }
  client.on('stopped', (error) => {
    listener.stoppedAt = Date.now();
    listener.stopCode = error.code;
  });
  const joined = await client.request('conversation:join', { conversationId });
  if (!joined.ok) throw new Error(`join refused: ${joined.error.code}`);
  return listener;
}

const relayedSeqs = (listener: Listener) => listener.facts.flatMap((fact) => (fact.event === 'message:relayed' && fact.seq !== undefined ? [fact.seq] : []));

/** A patient's conversation with a sender following it on `url`, and two more sessions of the same device: the victim and a witness. */
async function aConversation(url: string, signInUrl: string, practice: TestPractice, victimDevice: 'same' | 'own' = 'same') {
  const patient: TestPatient = await activatePatient(signInUrl, practice);
  const sender: Chatter = await patientChat(url, practice, patient, 5_000);
  const conversationId = (await sender.session.openConversation('admin')).id;
  await follow(sender, conversationId);
  const sameDevice = { practice: practice.odsCode, login: patient.nhsNumber, deviceId: patient.deviceId };
  // A patient's sign-out revokes their device: a victim that signs out is on a device of its own, or the sender's would go too.
  const victimCredentials = victimDevice === 'same' ? sameDevice : { practice: practice.odsCode, login: patient.nhsNumber, label: 'Victim' };
  const [victimSession, witnessSession] = [await signIn(signInUrl, victimCredentials), await signIn(signInUrl, sameDevice)];
  const victim = await listenIn(url, victimSession, conversationId);
  const witness = await listenIn(url, witnessSession, conversationId);
  return { patient, sender, conversationId, victimSession, victim, witness };
}

/** Sends a message and resolves with its seq once the witness has had it relayed. */
async function sendSeen(sender: Chatter, conversationId: string, witness: Listener, body: string): Promise<number> {
  const result = await sender.session.conversation(conversationId).send(body);
  if (!result.ok) throw new Error(`send refused: ${result.error.code}`);
  await waitUntil(() => sender.bodies().includes(body), `"${body}" in the record`);
  const seq = sender.entries.find((entry) => entry.ok && entry.value.kind === 'message' && entry.value.body === body)!.seq;
  await waitUntil(() => relayedSeqs(witness).includes(seq), `"${body}" relayed to the witness`);
  return seq;
}

describe('a socket whose session ended without word reaching its node (in-process gateway, real PostgreSQL and sockets)', () => {
  let gateway: TestApp;
  let practice: TestPractice;
  const clients: ParleyClient[] = [];
  const chats: Chatter[] = [];

  beforeAll(async () => {
    await ready();
    gateway = await startTestApp();
    practice = await createPracticeWithStaff(gateway);
  });

  afterAll(async () => {
    for (const client of clients) client.close();
    for (const chat of chats) await chat.session.close();
    await gateway?.close();
  });

  it('is told, closed and sent no more of its conversations within one check interval, when only the database knows the session ended', async () => {
    const { sender, conversationId, victimSession, victim, witness } = await aConversation(gateway.url, gateway.url, practice);
    chats.push(sender);
    clients.push(victim.client, witness.client);
    const before = await sendSeen(sender, conversationId, witness, 'before the revocation');
    await waitUntil(() => relayedSeqs(victim).includes(before), 'the victim to have the first message');

    // Ended in the database only: no in-process `session:ended`, as when the notice from the node that ended it is lost.
    const endedAt = Date.now();
    await gateway.dataSource.query(`UPDATE sessions SET revoked_at = now(), end_reason = 'revoked' WHERE token_hash = sha256(convert_to($1, 'UTF8'))`, [
      victimSession.token,
    ]);
    const during = await sender.session.conversation(conversationId).send('while the victim is still connected');
    await waitUntil(() => victim.stoppedAt !== undefined, 'the victim to be closed', CLOSED_WITHIN_MS + 5_000);
    const after = await sendSeen(sender, conversationId, witness, 'after the victim was closed');

    expect(during.ok).toBe(true);
    expect(victim.stopCode).toBe('session_ended');
    expect(victim.client.stoppedBy?.sessionEndedReason).toBe('revoked');
    expect(victim.stoppedAt! - endedAt).toBeLessThan(CLOSED_WITHIN_MS);
    expect(victim.client.isConnected).toBe(false);
    expect(relayedSeqs(victim)).not.toContain(after);
    expect(witness.client.isConnected).toBe(true);
  }, 60_000);
});

// Cutting a node's Redis link needs a Redis: TEST_REDIS_URL (`.ci/run` provides it), as for the other multi-node tests.
describeIf(missingRedis)(
  "a revoked socket on a node whose Redis link is cut at the moment of revocation (two in-process gateways, a TCP proxy in front of the victim's node's Redis)",
  () => {
    let proxy: TcpProxy;
    let nodeA: TestApp;
    let nodeB: TestApp;
    let practice: TestPractice;
    const clients: ParleyClient[] = [];
    const chats: Chatter[] = [];

    beforeAll(async () => {
      await ready();
      const redisUrl = testRedisUrl()!;
      const redis = new URL(redisUrl);
      const streamName = redisKeyPrefix();
      proxy = await startTcpProxy({ target: { host: redis.hostname, port: Number(redis.port || 6379) } });
      nodeA = await startTestApp({ REDIS_URL: redisUrl, REDIS_STREAM_NAME: streamName });
      nodeB = await startTestApp({ DATABASE_URL: nodeA.config.databaseUrl!, REDIS_URL: `redis://127.0.0.1:${proxy.port}`, REDIS_STREAM_NAME: streamName });
      practice = await createPracticeWithStaff(nodeA);
    });

    afterAll(async () => {
      proxy?.blackhole(false);
      for (const client of clients) client.close();
      for (const chat of chats) await chat.session.close();
      await nodeB?.close();
      await nodeA?.close();
      await proxy?.close();
    });

    it('is closed within one check interval though the session:ended from the other node never arrives, and nothing is relayed to it when the link comes back', async () => {
      // The sender, the victim and a witness are all on node B; the revocation goes through node A.
      const { sender, conversationId, victimSession, victim, witness } = await aConversation(nodeB.url, nodeA.url, practice, 'own');
      chats.push(sender);
      clients.push(victim.client, witness.client);
      const before = await sendSeen(sender, conversationId, witness, 'before the revocation');
      await waitUntil(() => relayedSeqs(victim).includes(before), 'the victim to have the first message');

      // Node B's Redis link hangs: what node A publishes (the session:ended, the disconnect) never reaches it.
      proxy.blackhole(true);
      const endedAt = Date.now();
      const signedOut = await api(nodeA.url, 'POST', '/api/auth/sign-out', { token: victimSession.token });
      const during = await sender.session.conversation(conversationId).send('sent while the link is cut');
      await waitUntil(() => victim.stoppedAt !== undefined, 'the victim to be closed', CLOSED_WITHIN_MS + 5_000);
      const closedAfterMs = victim.stoppedAt! - endedAt;
      // The link comes back (as after a TCP reset): node B relays again, to the witness and not to the victim.
      proxy.blackhole(false);
      proxy.cut();
      const after = await sendSeen(sender, conversationId, witness, 'sent after the link came back');

      expect(signedOut.status).toBe(204);
      expect(during.ok).toBe(true);
      expect(victim.stopCode).toBe('session_ended');
      // Told by the database's sweep (the session signed out) or by its notification (the device revoked with it), never by Redis.
      expect(['signed_out', 'device_revoked']).toContain(victim.client.stoppedBy?.sessionEndedReason);
      expect(closedAfterMs).toBeLessThan(CLOSED_WITHIN_MS);
      expect(relayedSeqs(victim).filter((seq) => seq > before)).toEqual([]);
      expect(relayedSeqs(witness)).toContain(after);
      expect(witness.client.isConnected).toBe(true);
    }, 90_000);
  },
);
