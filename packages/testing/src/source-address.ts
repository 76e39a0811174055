import { createConnection, createServer, type AddressInfo, type Socket } from 'node:net';

/**
 * A loopback entry whose connections reach `target` from `sourceAddress` (any of 127.0.0.0/8 on Linux): a client
 * given its `url` looks, to the load balancer at `target`, like a client on another machine. nginx's `ip_hash`
 * keys on the first three octets, so 127.0.1.1 and 127.0.2.1 are different clients to it; every test client
 * would otherwise be 127.0.0.1 and land on the same node.
 */
export interface SourceAddressEntry {
  /** `http://127.0.0.1:<port>`: give it to socket.io, fetch or the SDK as the server's URL. */
  readonly url: string;
  readonly sourceAddress: string;
  /** Stops listening and destroys every connection through it. */
  close(): Promise<void>;
}

/** Starts a {@link SourceAddressEntry} on a free loopback port. */
export async function startSourceAddressEntry(options: { target: { host: string; port: number }; sourceAddress: string }): Promise<SourceAddressEntry> {
  const sockets = new Set<Socket>();
  const track = (socket: Socket): void => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  };
  const server = createServer((client) => {
    const upstream = createConnection({ host: options.target.host, port: options.target.port, localAddress: options.sourceAddress });
    track(client);
    track(upstream);
    client.pipe(upstream).pipe(client);
    // An end or error on either side ends both: the client then sees what it would see from the balancer.
    for (const [socket, other] of [
      [client, upstream],
      [upstream, client],
    ] as const) {
      socket.once('error', () => other.destroy());
      socket.once('close', () => other.destroy());
    }
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    sourceAddress: options.sourceAddress,
    close: async () => {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      for (const socket of sockets) socket.destroy();
      await closed;
    },
  };
}
