import type { RecordEntry, SessionEnded } from '@parley/protocol';
import { ParleyClient, ParleyConnectionError, type ConnectionState } from '../src/index.js';
import { aConversationId, aSend, settle, waitFor } from './factories.js';
import { FakeGateway } from './fake-gateway.js';

const FAST_RECONNECT = { reconnectionDelayMs: 20, reconnectionDelayMaxMs: 40 };

describe(ParleyClient.name, () => {
  let gateway: FakeGateway;
  const clients: ParleyClient[] = [];
  const track = (client: ParleyClient) => (clients.push(client), client);

  beforeEach(async () => {
    gateway = await FakeGateway.start();
  });

  afterEach(async () => {
    for (const client of clients.splice(0)) client.close();
    await gateway.close();
  });

  it('resolves a request with the server ack', async () => {
    const client = track(await ParleyClient.connect({ url: gateway.url }));

    const result = await client.request('system:ping', {});

    expect(result).toEqual({ ok: true, data: { protocolVersion: 1, serverTime: '1970-01-01T00:00:00.000Z' } });
  });

  it('resolves a request the server never acks as a timeout', async () => {
    const client = track(await ParleyClient.connect({ url: gateway.url, token: 'silent', requestTimeoutMs: 50 }));

    const result = await client.request('system:ping', {});

    expect(result).toEqual({ ok: false, error: { code: 'timeout', message: 'no answer to system:ping within 50 ms' } });
  });

  it('resolves a request made while offline as disconnected, without sending it', async () => {
    const client = track(await ParleyClient.connect({ url: gateway.url }));
    client.close();

    const result = await client.request('system:ping', {});

    expect(result).toMatchObject({ ok: false, error: { code: 'disconnected' } });
    expect(gateway.commandsNamed('system:ping')).toEqual([]);
  });

  it('rejects a refused handshake with a typed unauthorized error and does not retry it', async () => {
    const connecting = ParleyClient.connect({ url: gateway.url, token: 'bad', ...FAST_RECONNECT });

    await expect(connecting).rejects.toThrow(ParleyConnectionError);
    await expect(connecting).rejects.toMatchObject({ code: 'unauthorized', message: 'unauthorized' });
    await settle(200);
    expect(gateway.handshakes).toEqual(['bad']);
  });

  it('rejects an unreachable gateway as unreachable', async () => {
    const url = gateway.url;
    await gateway.close();

    await expect(ParleyClient.connect({ url })).rejects.toMatchObject({ code: 'unreachable' });

    gateway = await FakeGateway.start();
  });

  it('hands facts to listeners until they are removed', async () => {
    const client = track(await ParleyClient.connect({ url: gateway.url }));
    const conversationId = aConversationId();
    const relayed: RecordEntry[] = [];
    const listener = (entry: RecordEntry) => relayed.push(entry);
    client.on('message:relayed', listener);
    await client.request('conversation:join', { conversationId });

    gateway.append(conversationId, aSend(conversationId, 'one'));
    await waitFor(() => relayed.length === 1);
    client.off('message:relayed', listener);
    gateway.append(conversationId, aSend(conversationId, 'two'));
    await settle(50);

    expect(relayed.map((entry) => entry.seq)).toEqual([1]);
  });

  it('reconnects with a fresh token, reports its states and asks for a resync after each unrecovered connection', async () => {
    const tokens = ['first', 'refreshed'];
    const client = track(ParleyClient.create({ url: gateway.url, token: () => tokens.shift(), ...FAST_RECONNECT }));
    const states: ConnectionState[] = [];
    let resyncs = 0;
    client.on('state-changed', (state) => states.push(state));
    client.on('resync-needed', () => (resyncs += 1));
    await waitFor(() => client.connectionState === 'online');

    gateway.cutTransports();
    await waitFor(() => states.length === 4);

    expect(states).toEqual(['online', 'offline', 'connecting', 'online']);
    expect(resyncs).toBe(2);
    expect(gateway.handshakes).toEqual(['first', 'refreshed']);
  });

  it('asks for no resync when socket.io recovered the connection', async () => {
    await gateway.close();
    gateway = await FakeGateway.start({ isRecovering: true });
    const client = track(await ParleyClient.connect({ url: gateway.url, ...FAST_RECONNECT }));
    const conversationId = aConversationId();
    let relayed = 0;
    let resyncs = 0;
    client.on('resync-needed', () => (resyncs += 1));
    client.on('message:relayed', () => (relayed += 1));
    // socket.io recovers only a client that received a broadcast: its offset is what it resumes from.
    await client.request('conversation:join', { conversationId });
    gateway.append(conversationId, aSend(conversationId, 'one'));
    await waitFor(() => relayed === 1);

    gateway.cutTransports();
    await waitFor(() => client.connectionState === 'offline');
    await waitFor(() => client.connectionState === 'online');

    expect(resyncs).toBe(0);
  });

  it('retries a handshake the gateway failed with an internal fault', async () => {
    gateway.handshakeFaults = 2;
    const client = track(ParleyClient.create({ url: gateway.url, ...FAST_RECONNECT }));

    await waitFor(() => client.connectionState === 'online');

    expect(gateway.handshakes).toHaveLength(3);
    expect(client.stoppedBy).toBeNull();
  });

  it('stops with a typed unauthorized error when a reconnection is refused', async () => {
    const tokens = ['good', 'bad', 'good'];
    const client = track(await ParleyClient.connect({ url: gateway.url, token: () => tokens.shift(), ...FAST_RECONNECT }));
    const stops: ParleyConnectionError[] = [];
    client.on('stopped', (error) => stops.push(error));

    gateway.cutTransports();
    await waitFor(() => stops.length === 1);
    await settle(200);

    expect(stops[0]).toMatchObject({ code: 'unauthorized' });
    expect(client.stoppedBy).toBe(stops[0]);
    expect(client.connectionState).toBe('offline');
    expect(gateway.handshakes).toEqual(['good', 'bad']);
  });

  it('stops reconnecting when the session ended, and tells the app why', async () => {
    const client = track(await ParleyClient.connect({ url: gateway.url, ...FAST_RECONNECT }));
    const facts: SessionEnded[] = [];
    const stops: ParleyConnectionError[] = [];
    client.on('session:ended', (fact) => facts.push(fact));
    client.on('stopped', (error) => stops.push(error));

    gateway.endSessions('revoked');
    await waitFor(() => stops.length === 1);
    await settle(200);

    expect(facts).toEqual([{ reason: 'revoked' }]);
    expect(stops[0]).toMatchObject({ code: 'session_ended', sessionEndedReason: 'revoked' });
    expect(client.connectionState).toBe('offline');
    expect(gateway.handshakes).toHaveLength(1);
  });
});
