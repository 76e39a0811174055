import type { Socket as NetSocket } from 'node:net';
import type { Server } from 'socket.io';

/** What this module touches of an engine.io connection (socket.io's `socket.conn`). */
interface EngineConnection {
  flush(): void;
  on(event: 'connection', listener: (connection: EngineConnection) => void): void;
  transport?: { socket?: { _socket?: NetSocket } };
}

/** Connections with packets written during this turn of the event loop, flushed together at its end. */
const waiting = new Set<EngineConnection>();
let isScheduled = false;

/**
 * Sends what each socket is given during one turn of the event loop in one write to the kernel, at the end of the turn.
 *
 * engine.io writes every packet as it comes, and while one write is under way holds the next ones back until it
 * completes: a socket told three things in one turn (a committed batch answers a device's sends and relays its own
 * and its peer's messages to it) made three system calls and woke its client three times. Here a connection's flush
 * waits for `setImmediate` (after the turn's promise callbacks, so the acks of a batch go with its relays), and then
 * writes all its packets with the TCP socket corked: one `writev`. A packet waits less than one turn of the loop.
 */
export function coalesceWrites(server: Server): void {
  const engine = server.engine as unknown as EngineConnection;
  engine.on('connection', (connection) => {
    connection.flush = deferredFlush;
  });
}

/** A connection's `flush`, whoever calls it (engine.io after a packet is queued, or when the transport drains). */
function deferredFlush(this: EngineConnection): void {
  waiting.add(this);
  if (isScheduled) return;
  isScheduled = true;
  setImmediate(flushWaiting);
}

function flushWaiting(): void {
  isScheduled = false;
  const connections = [...waiting];
  waiting.clear();
  for (const connection of connections) {
    const tcp = connection.transport?.socket?._socket;
    tcp?.cork();
    try {
      (Object.getPrototypeOf(connection) as EngineConnection).flush.call(connection);
    } catch {
      // engine.io reports a failing transport on the connection itself (its error and close events); the others go on.
    } finally {
      tcp?.uncork();
    }
  }
}
