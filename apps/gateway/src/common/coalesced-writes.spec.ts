import { createServer, type Server as HttpServer } from 'node:http';
import type { AddressInfo, Socket as NetSocket } from 'node:net';
import { Server, type Socket } from 'socket.io';
import { io as connect, type Socket as ClientSocket } from 'socket.io-client';
import { coalesceWrites } from './coalesced-writes.js';

/** A real socket.io server on loopback, with or without coalesced writes, and a real client over a WebSocket. */
async function serve(isCoalescing: boolean) {
  const http: HttpServer = createServer();
  const server = new Server(http);
  if (isCoalescing) coalesceWrites(server);
  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
  const connected = new Promise<Socket>((resolve) => server.on('connection', resolve));
  const client: ClientSocket = connect(`http://127.0.0.1:${(http.address() as AddressInfo).port}`, { transports: ['websocket'] });
  // The handshake's own writes are done once the client has read the last of them (socket.io's CONNECT).
  const [socket] = await Promise.all([connected, new Promise((resolve) => client.once('connect', () => resolve(undefined)))]);
  const tcp = (socket.conn as unknown as { transport: { socket: { _socket: NetSocket } } }).transport.socket._socket;
  const writes = countWrites(tcp);
  const close = async () => {
    client.close();
    await server.close();
  };
  return { socket, client, writes, close };
}

/** Counts the writes the TCP socket hands to the kernel (one `_write`, or one `_writev` for what was corked). */
function countWrites(tcp: NetSocket): { count: number } {
  const counter = { count: 0 };
  const stream = tcp as unknown as Record<'_write' | '_writev', (...args: unknown[]) => unknown>;
  for (const method of ['_write', '_writev'] as const) {
    const original = stream[method].bind(tcp);
    stream[method] = (...args: unknown[]) => {
      counter.count += 1;
      return original(...args);
    };
  }
  return counter;
}

function received(client: ClientSocket, count: number): Promise<unknown[]> {
  const events: unknown[] = [];
  return new Promise((resolve) =>
    client.onAny((event: string, data: unknown) => {
      events.push([event, data]);
      if (events.length === count) resolve(events);
    }),
  );
}

/** What a committed batch does to one socket: relays in the loop, then the acks from promise callbacks. */
function emitLikeABatch(socket: Socket): void {
  socket.emit('message:relayed', { seq: 1 });
  socket.emit('message:relayed', { seq: 2 });
  void Promise.resolve().then(() => socket.emit('ack', { seq: 1 }));
  void Promise.resolve()
    .then(() => undefined)
    .then(() => socket.emit('ack', { seq: 2 }));
  socket.emit('message:relayed', { seq: 3 });
}

const EXPECTED = [
  ['message:relayed', { seq: 1 }],
  ['message:relayed', { seq: 2 }],
  ['message:relayed', { seq: 3 }],
  ['ack', { seq: 1 }],
  ['ack', { seq: 2 }],
];

describe('coalesceWrites', () => {
  it('sends what a socket is given in one turn of the event loop, promise callbacks included, in one write and in order', async () => {
    const { socket, client, writes, close } = await serve(true);
    const arrived = received(client, 5);

    emitLikeABatch(socket);

    expect(await arrived).toEqual(EXPECTED);
    expect(writes.count).toBe(1);
    await close();
  });

  it('(the same without it: engine.io writes packet by packet)', async () => {
    const { socket, client, writes, close } = await serve(false);
    const arrived = received(client, 5);

    emitLikeABatch(socket);

    expect(await arrived).toEqual(EXPECTED);
    expect(writes.count).toBeGreaterThanOrEqual(3);
    await close();
  });

  it('sends a lone packet at the end of its turn, and what a later turn adds in a write of its own', async () => {
    const { socket, client, writes, close } = await serve(true);
    const arrived = received(client, 2);

    socket.emit('first', 1);
    setImmediate(() => setImmediate(() => socket.emit('second', 2)));

    expect(await arrived).toEqual([
      ['first', 1],
      ['second', 2],
    ]);
    expect(writes.count).toBe(2);
    await close();
  });

  it('delivers what was emitted just before the server disconnects the socket', async () => {
    const { socket, client, close } = await serve(true);
    const arrived = received(client, 1);
    const disconnected = new Promise<string>((resolve) => client.on('disconnect', resolve));

    socket.emit('session:revoked', { reason: 'signed_out' });
    socket.disconnect(true);

    expect(await arrived).toEqual([['session:revoked', { reason: 'signed_out' }]]);
    expect(await disconnected).toBe('io server disconnect');
    await close();
  });
});
