import { io, type Socket } from 'socket.io-client';
import type { Ack, ClientToServer, CommandName, CommandPayload, CommandResult, ServerToClient } from '@parley/protocol';

/** How to reach a gateway. */
export interface ConnectOptions {
  /** Base URL of the gateway, e.g. `http://127.0.0.1:3000`. */
  url: string;
  /** Sent in the handshake's `auth` payload; never in the URL. */
  token?: string;
  /** Extra handshake headers (Node only; browsers set `Origin` themselves). */
  extraHeaders?: Record<string, string>;
  /** How long a command may wait for its ack before it resolves as a timeout. */
  requestTimeoutMs?: number;
}

const DEFAULT_REQUEST_TIMEOUT_MS = 10_000;

/** The one typed way the apps, tests and benchmarks talk to the gateway. */
export class ParleyClient {
  private constructor(
    private readonly socket: Socket<ServerToClient, ClientToServer>,
    private readonly requestTimeoutMs: number,
  ) {}

  /** Opens a WebSocket connection and resolves once the gateway accepted it. Rejects with the server's reason otherwise. */
  static connect(options: ConnectOptions): Promise<ParleyClient> {
    const socket: Socket<ServerToClient, ClientToServer> = io(options.url, {
      transports: ['websocket'],
      auth: options.token ? { token: options.token } : {},
      extraHeaders: options.extraHeaders,
      reconnection: true,
    });
    return new Promise((resolve, reject) => {
      socket.once('connect', () => {
        socket.off('connect_error');
        resolve(new ParleyClient(socket, options.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS));
      });
      socket.once('connect_error', (error) => {
        socket.close();
        reject(error);
      });
    });
  }

  /** Whether the socket is connected now. */
  get isConnected(): boolean {
    return this.socket.connected;
  }

  /** Sends a command and resolves with its ack; a missing ack resolves as a `timeout` failure instead of hanging. */
  async request<E extends CommandName>(
    event: E,
    payload: CommandPayload<E>,
  ): Promise<Ack<CommandResult<E>> | { ok: false; error: { code: 'timeout'; message: string } }> {
    try {
      return (await this.untyped.timeout(this.requestTimeoutMs).emitWithAck(event, payload)) as Ack<CommandResult<E>>;
    } catch {
      return { ok: false, error: { code: 'timeout', message: `no answer to ${event} within ${this.requestTimeoutMs} ms` } };
    }
  }

  /** Sends an event that bypasses the compile-time contract: for tests of the gateway's edge only. */
  requestRaw(event: string, payload: unknown): Promise<unknown> {
    return this.untyped.timeout(this.requestTimeoutMs).emitWithAck(event, payload);
  }

  /** socket.io's typed emitWithAck cannot follow a generic event name; call sites are checked by `request`'s signature. */
  private get untyped(): Socket {
    return this.socket as unknown as Socket;
  }

  /** Closes the connection; no reconnect follows. */
  close(): void {
    this.socket.close();
  }
}
