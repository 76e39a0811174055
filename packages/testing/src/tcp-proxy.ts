import { createConnection, createServer, type AddressInfo, type Socket } from 'node:net';

/** A TCP backend: where a {@link TcpProxy} forwards the connections it accepts. */
export interface TcpTarget {
  host: string;
  port: number;
}

/** Options of {@link startTcpProxy}. */
export interface TcpProxyOptions {
  /** The backend that new connections are forwarded to; {@link TcpProxy.setTarget} changes it. */
  target: TcpTarget;
}

/**
 * A real TCP proxy on a loopback port, for fault tests of real clients: it forwards bytes both ways and can cut,
 * black-hole, slow down or re-route the connections through it. A FIN from either side closes the whole
 * connection (half-closes are not relayed; HTTP and WebSocket clients do not use them).
 */
export interface TcpProxy {
  /** `http://127.0.0.1:<port>`: give it to socket.io or fetch clients in place of the backend's URL. */
  readonly url: string;
  /** The loopback port the proxy listens on. */
  readonly port: number;
  /** Client connections currently open through the proxy, including those hanging in a black hole. */
  readonly connectionCount: number;
  /** Destroys every current connection, both the client's and the backend's side; new connections are still accepted. */
  cut(): void;
  /**
   * While on, bytes (and closes) are silently dropped in both directions, including those already delayed, and new
   * connections are accepted but never forwarded, even after the black hole ends: clients notice only through their own
   * timeouts and pings. Turned off, data flows again on the connections that survived (with a gap where bytes were
   * dropped), and a connection whose other side closed in the meantime is destroyed, as a TCP reset would.
   */
  blackhole(isOn: boolean): void;
  /** Holds each chunk for `ms` milliseconds before forwarding it, in both directions; 0 forwards at once. Order is kept. */
  delay(ms: number): void;
  /** Sends new connections to `target` (as a load balancer does after a node dies) and cuts the current ones. */
  setTarget(target: TcpTarget): void;
  /** Stops listening, destroys every connection and timer, and resolves once the listening socket is closed. */
  close(): Promise<void>;
}

/** Starts a {@link TcpProxy} on a free loopback port, forwarding to `options.target`. */
export async function startTcpProxy(options: TcpProxyOptions): Promise<TcpProxy> {
  const conditions: Conditions = { isBlackholed: false, delayMs: 0 };
  const links = new Set<Link>();
  let target = { ...options.target };

  const cut = (): void => {
    for (const link of links) link.destroy();
    links.clear();
  };

  // allowHalfOpen stays false: a FIN from one side ends our socket too, so every socket reaches 'close'.
  const server = createServer((client) => {
    // A connection accepted during a black hole is never forwarded: like a SYN lost on the way.
    const upstream = conditions.isBlackholed ? undefined : createConnection({ host: target.host, port: target.port });
    const link = new Link(client, upstream, conditions, () => links.delete(link));
    links.add(link);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const { port } = server.address() as AddressInfo;

  return {
    url: `http://127.0.0.1:${port}`,
    port,
    get connectionCount() {
      let count = 0;
      for (const link of links) if (!link.client.destroyed) count++;
      return count;
    },
    cut,
    blackhole(isOn) {
      conditions.isBlackholed = isOn;
      if (isOn) return;
      for (const link of links) if (link.isSevered) link.destroy();
    },
    delay(ms) {
      if (!Number.isFinite(ms) || ms < 0) throw new RangeError(`delay must be a finite number of milliseconds >= 0, got ${ms}`);
      conditions.delayMs = ms;
    },
    setTarget(next) {
      target = { ...next };
      cut();
    },
    close() {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      cut();
      return closed;
    },
  };
}

/** The network conditions every link of one proxy shares, changed live by the proxy's methods. */
interface Conditions {
  isBlackholed: boolean;
  delayMs: number;
}

/** What travels through a pipe: bytes, or the news that the sending side has closed. */
type Packet = { kind: 'data'; chunk: Buffer } | { kind: 'close' };

/** One accepted client connection and, unless it hangs in a black hole, its connection to the backend. */
class Link {
  /** One side closed while black-holed, so the other never heard of it. */
  isSevered = false;
  private readonly pipes: Pipe[] = [];
  private openSockets: number;

  constructor(
    readonly client: Socket,
    readonly upstream: Socket | undefined,
    private readonly conditions: Conditions,
    private readonly onClosed: () => void,
  ) {
    this.openSockets = upstream ? 2 : 1;
    if (upstream) {
      this.pipes.push(this.connect(client, upstream), this.connect(upstream, client));
    } else {
      this.watch(client);
      client.resume(); // a hanging connection swallows what the client sends
    }
  }

  /** Destroys both sides at once and drops whatever is still delayed. */
  destroy(): void {
    for (const pipe of this.pipes) pipe.stop();
    this.client.destroy();
    this.upstream?.destroy();
  }

  private connect(from: Socket, to: Socket): Pipe {
    const pipe = new Pipe(from, to, this.conditions, () => (this.isSevered = true));
    from.on('data', (chunk: Buffer) => pipe.send({ kind: 'data', chunk }));
    this.watch(from, () => pipe.send({ kind: 'close' }));
    return pipe;
  }

  private watch(socket: Socket, onClose?: () => void): void {
    // Resets and refused connections are expected here; they show up as 'close'.
    socket.on('error', () => undefined);
    socket.once('close', () => {
      onClose?.();
      if (--this.openSockets > 0) return;
      for (const pipe of this.pipes) pipe.stop();
      this.onClosed();
    });
  }
}

/** One direction of a link: forwards what `from` sends to `to`, in order, after the current delay, unless black-holed. */
class Pipe {
  private readonly queue: { packet: Packet; dueAt: number }[] = [];
  private timer: NodeJS.Timeout | undefined;
  private isPaused = false;

  constructor(
    private readonly from: Socket,
    private readonly to: Socket,
    private readonly conditions: Conditions,
    private readonly onCloseLost: () => void,
  ) {}

  send(packet: Packet): void {
    if (this.conditions.isBlackholed) return this.lose(packet);
    if (this.queue.length === 0 && this.conditions.delayMs === 0) return this.deliver(packet);
    // Never earlier than the packet before it, so a shortened delay cannot reorder the stream.
    const dueAt = Math.max(Date.now() + this.conditions.delayMs, this.queue.at(-1)?.dueAt ?? 0);
    this.queue.push({ packet, dueAt });
    this.schedule();
  }

  /** Drops what is still queued and its timer. */
  stop(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    this.queue.length = 0;
  }

  private schedule(): void {
    const head = this.queue[0];
    if (this.timer || !head) return;
    this.timer = setTimeout(
      () => {
        this.timer = undefined;
        this.flush();
      },
      Math.max(0, head.dueAt - Date.now()),
    );
  }

  private flush(): void {
    const now = Date.now();
    for (let head = this.queue[0]; head && head.dueAt <= now; head = this.queue[0]) {
      this.queue.shift();
      // Packets in flight when the black hole opened are lost too.
      if (this.conditions.isBlackholed) this.lose(head.packet);
      else this.deliver(head.packet);
    }
    this.schedule();
  }

  private deliver(packet: Packet): void {
    if (this.to.destroyed) return;
    if (packet.kind === 'close') return this.to.destroySoon();
    if (this.to.writableEnded) return;
    // Backpressure: stop reading while the other side's buffer is full, as TCP would.
    if (!this.to.write(packet.chunk) && !this.isPaused) {
      this.isPaused = true;
      this.from.pause();
      this.to.once('drain', () => {
        this.isPaused = false;
        this.from.resume();
      });
    }
  }

  private lose(packet: Packet): void {
    if (packet.kind === 'close') this.onCloseLost();
  }
}
