import { io, type Socket } from 'socket.io-client';
import type { Ack, ClientToServer, CommandName, CommandPayload, CommandResult, ServerToClient } from '@parley/protocol';
import { jitteredDelay, type BackoffOptions } from './backoff.js';
import { Listeners } from './listeners.js';
import { ParleyConnectionError } from './parley-connection-error.js';

/** A token, or a function asked for the current one at every (re)connection, so a refreshed token is used. */
export type TokenSource = string | (() => string | undefined | Promise<string | undefined>);

/** How to reach a gateway. */
export interface ConnectOptions {
  /** Base URL of the gateway, e.g. `http://127.0.0.1:3000`. */
  url: string;
  /** Sent in the handshake's `auth` payload; never in the URL. */
  token?: TokenSource;
  /** Extra handshake headers (Node only; browsers set `Origin` themselves). */
  extraHeaders?: Record<string, string>;
  /** How long a command may wait for its ack before it resolves as a timeout. */
  requestTimeoutMs?: number;
  /** First delay between reconnection attempts (socket.io's `reconnectionDelay`, default 1000). */
  reconnectionDelayMs?: number;
  /** Longest delay between reconnection attempts (socket.io's `reconnectionDelayMax`, default 5000). */
  reconnectionDelayMaxMs?: number;
}

/** `connecting` while an attempt is in flight, `online` while connected, `offline` otherwise. */
export type ConnectionState = 'connecting' | 'online' | 'offline';

/** The names of the facts the server pushes. */
export type FactName = keyof ServerToClient;

/** Signals the client raises itself, next to the server's facts. Their names carry no colon, so they never clash with a fact. */
export interface ClientSignals {
  /** The connection state changed. */
  'state-changed': (state: ConnectionState) => void;
  /** A (re)connection was made without socket.io's state recovery: rooms and missed facts are gone, so re-join and sync. */
  'resync-needed': () => void;
  /** The client stopped for good and will not reconnect. */
  stopped: (error: ParleyConnectionError) => void;
}

/** Everything {@link ParleyClient.on} can listen to: the server's facts and the client's signals. */
export type ClientEvents = ServerToClient & ClientSignals;

/** A command that got no ack: it timed out, or the socket was (or went) offline. Either way the server may or may not have acted on it. */
export interface TransportFailure {
  ok: false;
  error: { code: 'timeout' | 'disconnected'; message: string };
}

/** What {@link ParleyClient.request} resolves with: the server's ack, or a transport failure. */
export type RequestResult<E extends CommandName> = Ack<CommandResult<E>> | TransportFailure;

const DEFAULT_REQUEST_TIMEOUT_MS = 10_000;
const SIGNALS: ReadonlySet<string> = new Set<keyof ClientSignals>(['state-changed', 'resync-needed', 'stopped']);

/** The one typed way the apps, tests and benchmarks talk to the gateway. */
export class ParleyClient {
  private readonly socket: Socket<ServerToClient, ClientToServer>;
  private readonly requestTimeoutMs: number;
  private readonly listeners = new Listeners<ClientEvents>();
  private readonly forwardedFacts = new Set<FactName>();
  private readonly handshakeBackoff: BackoffOptions;
  private state: ConnectionState = 'connecting';
  private stopError: ParleyConnectionError | null = null;
  private isClosed = false;
  private handshakeFaults = 0;
  private handshakeRetry: ReturnType<typeof setTimeout> | null = null;

  private constructor(options: ConnectOptions) {
    this.requestTimeoutMs = options.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS;
    this.handshakeBackoff = { baseMs: options.reconnectionDelayMs ?? 1_000, maxMs: options.reconnectionDelayMaxMs ?? 5_000 };
    this.socket = io(options.url, {
      transports: ['websocket'],
      // A function, so every reconnection asks for the current token.
      auth: (send) => {
        resolveToken(options.token).then(
          (token) => send(token === undefined ? {} : { token }),
          () => send({}),
        );
      },
      extraHeaders: options.extraHeaders,
      reconnection: true,
      reconnectionDelay: options.reconnectionDelayMs,
      reconnectionDelayMax: options.reconnectionDelayMaxMs,
      forceNew: true,
    });
    this.socket.on('connect', () => {
      this.handshakeFaults = 0;
      this.setState('online');
      if (!this.socket.recovered) this.listeners.emit('resync-needed');
    });
    this.socket.on('disconnect', (reason) => {
      this.setState('offline');
      // socket.io does not reconnect after a server-side disconnect: say so rather than sit offline.
      if (reason === 'io server disconnect') this.stop(new ParleyConnectionError('closed_by_server', 'the server closed the connection'));
    });
    this.socket.on('connect_error', (error) => {
      this.setState('offline');
      // An active socket is still being retried by socket.io. An inactive one was refused by the handshake
      // middleware, which socket.io never retries: only a server fault is worth retrying, with a backoff.
      if (this.socket.active) return;
      if (isServerFault(error) && !this.isClosed) this.retryHandshake();
      else this.stop(refusalOf(error));
    });
    this.socket.io.on('reconnect_attempt', () => this.setState('connecting'));
    this.forwardedFacts.add('session:ended');
    this.socket.on('session:ended', (fact) => {
      this.listeners.emit('session:ended', fact);
      // The server disconnects next; disconnecting first means no reconnection can race it.
      this.stop(new ParleyConnectionError('session_ended', `session ended: ${fact.reason}`, fact.reason));
    });
  }

  /**
   * Opens a WebSocket connection and resolves once the gateway accepted it.
   * Rejects with a {@link ParleyConnectionError}: `unauthorized` or `refused` when the handshake is refused, `unreachable` when the first attempt fails; the client is closed then.
   */
  static connect(options: ConnectOptions): Promise<ParleyClient> {
    const client = new ParleyClient(options);
    return new Promise((resolve, reject) => {
      client.socket.once('connect', () => {
        client.socket.off('connect_error', onError);
        resolve(client);
      });
      const onError = (error: Error) => {
        const reason = client.stopError ?? (client.socket.active ? new ParleyConnectionError('unreachable', error.message) : refusalOf(error));
        client.close();
        reject(reason);
      };
      client.socket.once('connect_error', onError);
    });
  }

  /**
   * Creates a client that keeps trying to connect in the background (socket.io's reconnection), for apps that start offline.
   * Never throws; a refused handshake surfaces as the `stopped` signal.
   */
  static create(options: ConnectOptions): ParleyClient {
    return new ParleyClient(options);
  }

  /** Whether the socket is connected now. */
  get isConnected(): boolean {
    return this.socket.connected;
  }

  /** The current connection state. */
  get connectionState(): ConnectionState {
    return this.state;
  }

  /** Why the client stopped for good, or null while it is connected or still reconnecting. */
  get stoppedBy(): ParleyConnectionError | null {
    return this.stopError;
  }

  /** Listens to a server fact or a client signal (`state-changed`, `resync-needed`, `stopped`). */
  on<E extends keyof ClientEvents>(event: E, listener: ClientEvents[E]): void {
    if (!SIGNALS.has(event)) this.forwardFact(event as FactName);
    this.listeners.add(event, listener);
  }

  /** Stops listening; unknown listeners are ignored. */
  off<E extends keyof ClientEvents>(event: E, listener: ClientEvents[E]): void {
    this.listeners.remove(event, listener);
  }

  /**
   * Sends a command and resolves with its ack. Never throws: a missing ack resolves as `timeout`,
   * and a command issued while offline (or cut off by a disconnection) as `disconnected`.
   */
  async request<E extends CommandName>(event: E, payload: CommandPayload<E>): Promise<RequestResult<E>> {
    // Fail fast instead of letting socket.io buffer the emit: a buffered command would be sent after a
    // reconnection with its ack already given up on, which the caller cannot tell from a lost one.
    if (!this.socket.connected) return { ok: false, error: { code: 'disconnected', message: `not connected: ${event} was not sent` } };
    try {
      return (await this.untyped.timeout(this.requestTimeoutMs).emitWithAck(event, payload)) as Ack<CommandResult<E>>;
    } catch {
      if (!this.socket.connected) return { ok: false, error: { code: 'disconnected', message: `disconnected before ${event} was answered` } };
      return { ok: false, error: { code: 'timeout', message: `no answer to ${event} within ${this.requestTimeoutMs} ms` } };
    }
  }

  /** Sends an event that bypasses the compile-time contract: for tests of the gateway's edge only. */
  requestRaw(event: string, payload: unknown): Promise<unknown> {
    return this.untyped.timeout(this.requestTimeoutMs).emitWithAck(event, payload);
  }

  /** Closes the connection; no reconnect follows. */
  close(): void {
    this.isClosed = true;
    if (this.handshakeRetry !== null) clearTimeout(this.handshakeRetry);
    this.socket.close();
    this.setState('offline');
  }

  /** socket.io's typed emitWithAck cannot follow a generic event name; call sites are checked by `request`'s signature. */
  private get untyped(): Socket {
    return this.socket as unknown as Socket;
  }

  private forwardFact(fact: FactName): void {
    if (this.forwardedFacts.has(fact)) return;
    this.forwardedFacts.add(fact);
    this.untyped.on(fact, (...args: unknown[]) => this.listeners.emit(fact, ...(args as Parameters<ServerToClient[typeof fact]>)));
  }

  private retryHandshake(): void {
    this.handshakeFaults += 1;
    this.handshakeRetry = setTimeout(
      () => {
        this.handshakeRetry = null;
        if (this.isClosed || this.stopError) return;
        this.setState('connecting');
        this.socket.connect();
      },
      jitteredDelay(this.handshakeFaults, this.handshakeBackoff),
    );
  }

  private stop(error: ParleyConnectionError): void {
    if (this.stopError) return;
    this.stopError = error;
    this.socket.disconnect();
    this.setState('offline');
    this.listeners.emit('stopped', error);
  }

  private setState(state: ConnectionState): void {
    if (this.state === state) return;
    this.state = state;
    this.listeners.emit('state-changed', state);
  }
}

async function resolveToken(token: TokenSource | undefined): Promise<string | undefined> {
  return typeof token === 'function' ? token() : token;
}

/** The gateway answers a handshake it could not check (database down, …) with `internal`: a fault, not a verdict. */
function isServerFault(error: Error): boolean {
  return error.message === 'internal';
}

/** The gateway refuses a handshake with an Error whose message (or `data.code`) is the error code. */
function refusalOf(error: Error): ParleyConnectionError {
  const data: unknown = (error as Error & { data?: unknown }).data;
  const dataCode = typeof data === 'object' && data !== null && 'code' in data ? data.code : undefined;
  const isUnauthorized = error.message === 'unauthorized' || dataCode === 'unauthorized';
  return new ParleyConnectionError(isUnauthorized ? 'unauthorized' : 'refused', error.message);
}
