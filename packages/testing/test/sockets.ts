import { createHook } from 'node:async_hooks';
import { createConnection, createServer, type AddressInfo, type Socket } from 'node:net';

/** A TCP backend that greets each connection with `<name>\n`, then echoes every byte back. */
export interface EchoServer {
  name: string;
  port: number;
  /** Connections it has accepted so far. */
  accepted: number;
  /** Everything it has received so far, as latin1 text. */
  received(): string;
  /** Its connections still open. */
  readonly openCount: number;
  close(): Promise<void>;
}

/** Starts an {@link EchoServer} on a free loopback port. */
export async function startEchoServer(name: string): Promise<EchoServer> {
  const sockets = new Set<Socket>();
  let received = '';
  const server = createServer((socket) => {
    echo.accepted++;
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
    socket.on('error', () => undefined);
    socket.write(`${name}\n`);
    socket.on('data', (chunk: Buffer) => (received += chunk.toString('latin1')));
    socket.pipe(socket);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const echo: EchoServer = {
    name,
    port: (server.address() as AddressInfo).port,
    accepted: 0,
    received: () => received,
    get openCount() {
      return sockets.size;
    },
    close: () => {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      for (const socket of sockets) socket.destroy();
      return closed;
    },
  };
  return echo;
}

/** A raw TCP client that keeps everything it receives. */
export interface TestClient {
  socket: Socket;
  /** Everything received so far, as latin1 text. */
  received(): string;
  /** Resolves once `received()` contains `text`; rejects after `timeoutMs`. */
  receive(text: string, timeoutMs?: number): Promise<void>;
  /** Resolves once the socket has closed. */
  closed: Promise<void>;
}

/** Connects a {@link TestClient} to a loopback port; rejects if the connection closes before it opens. */
export async function connectTo(port: number): Promise<TestClient> {
  const socket = createConnection({ host: '127.0.0.1', port });
  socket.on('error', () => undefined);
  let received = '';
  socket.setEncoding('latin1').on('data', (chunk: string) => (received += chunk));
  const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('close', () => reject(new Error('closed before connecting')));
  });
  return {
    socket,
    received: () => received,
    closed,
    receive: (text, timeoutMs = 2_000) =>
      new Promise<void>((resolve, reject) => {
        const check = (): void => {
          if (!received.includes(text)) return;
          clearTimeout(timer);
          socket.off('data', check);
          resolve();
        };
        const timer = setTimeout(() => {
          socket.off('data', check);
          reject(new Error(`did not receive ${JSON.stringify(text)} in ${timeoutMs} ms; got ${JSON.stringify(received.slice(-200))}`));
        }, timeoutMs);
        socket.on('data', check);
        check();
      }),
  };
}

/** Waits real time: only for giving real sockets the chance to do what they must not. */
export function pause(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Records the timers set by code whose stack names `file`, until `stop()`; `pendingCount()` counts those neither fired nor cleared. */
export function trackTimers(file: string): { pendingCount(): number; stop(): void } {
  const pending = new Set<number>();
  const hook = createHook({
    init(asyncId, type) {
      if (type !== 'Timeout') return;
      const limit = Error.stackTraceLimit;
      Error.stackTraceLimit = 50;
      const stack = new Error().stack ?? '';
      Error.stackTraceLimit = limit;
      if (stack.includes(file)) pending.add(asyncId);
    },
    destroy(asyncId) {
      pending.delete(asyncId);
    },
  }).enable();
  return { pendingCount: () => pending.size, stop: () => void hook.disable() };
}
