import { type INestApplicationContext, Logger } from '@nestjs/common';
import { IoAdapter } from '@nestjs/platform-socket.io';
import { createAdapter } from '@socket.io/redis-streams-adapter';
import { createClient } from 'redis';
import type { MessageMappingProperties } from '@nestjs/websockets';
import type { Observable } from 'rxjs';
import type { Server, ServerOptions, Socket } from 'socket.io';

/** Largest socket frame accepted; a larger one closes the socket (clients check sizes before sending). */
export const MAX_SOCKET_FRAME_BYTES = 256 * 1024;
/** How long closing waits for Redis to acknowledge QUIT. */
const REDIS_QUIT_TIMEOUT_MS = 2_000;

/**
 * socket.io server settings: a browser may connect only from the origin that served it (its Origin
 * names the Host it connects to) or from a configured origin. socket.io's `cors` option does not
 * stop WebSocket upgrades from a foreign origin, so the check is in `allowRequest`.
 */
export class ParleyIoAdapter extends IoAdapter {
  private readonly redisLogger = new Logger(ParleyIoAdapter.name);
  private readonly handlerLogger = new Logger('IoAdapter');
  private redis: ReturnType<typeof createClient> | undefined;
  private readonly serverListeners: ((server: Server) => void)[] = [];
  private streamName = 'socket.io';
  /** Every command some gateway handles, by name. */
  private readonly commands = new Map<string, Command>();
  /** Each socket's handlers, at their commands' indexes; dropped on disconnect. */
  private readonly handlersBySocket = new WeakMap<Socket, Handler[]>();
  /** Each socket's gateways' disconnect hooks. */
  private readonly disconnectHooks = new WeakMap<Socket, ((reason: unknown) => void)[]>();

  /** The one `disconnect` listener of every socket (socket.io calls it with the socket as `this`). */
  private readonly onDisconnect: (this: Socket, reason: unknown) => void;

  constructor(
    app: INestApplicationContext,
    private readonly allowedOrigins: readonly string[],
  ) {
    super(app);
    this.onDisconnect = sharedListener((socket, reason: unknown) => this.disconnected(socket, reason));
  }

  /**
   * Links this node to the others through Redis streams, so a fact emitted to a room reaches the
   * sockets connected to any node. Call before the server is created.
   */
  async connectToRedis(url: string, streamName: string): Promise<void> {
    this.streamName = streamName;
    const client = createClient({ url, socket: { reconnectStrategy: (retries) => Math.min(retries * 200, 5_000) } });
    // Without a listener a lost Redis connection would crash the process; the client reconnects by itself.
    client.on('error', (error: Error) => this.redisLogger.warn({ code: (error as { code?: string }).code ?? error.message }, 'redis connection problem'));
    // The adapter sends its PUB/SUB messages (fetchSockets requests) without awaiting them: one cut off by a lost
    // connection would reject unhandled and end the process. Its callers still see the rejection.
    const publish = client.publish.bind(client);
    Object.defineProperty(client, 'publish', {
      value: (...args: Parameters<typeof publish>) => {
        const published = publish(...args);
        published.catch(() => undefined);
        return published;
      },
    });
    await client.connect();
    this.redis = client;
  }

  /**
   * Hands the socket.io server, once created, to code that watches every socket (metrics, drain)
   * without being a gateway: each gateway adds a listener to every socket, and a socket with more
   * than ten makes Node warn on each connection.
   */
  onServerCreated(listener: (server: Server) => void): void {
    this.serverListeners.push(listener);
  }

  override async close(server: Server): Promise<void> {
    await super.close(server);
    const redis = this.redis;
    if (!redis?.isOpen) return;
    // A Redis that hangs (or a connection that lost bytes) never answers QUIT: give it a moment, then drop the connection.
    let timer: NodeJS.Timeout | undefined;
    const isQuit = await Promise.race([
      redis.quit().then(
        () => true,
        () => false,
      ),
      new Promise<false>((resolve) => (timer = setTimeout(() => resolve(false), REDIS_QUIT_TIMEOUT_MS))),
    ]);
    clearTimeout(timer);
    if (!isQuit && redis.isOpen) redis.destroy();
  }

  override createIOServer(port: number, options?: ServerOptions): Server {
    const settings: Partial<ServerOptions> = {
      ...options,
      maxHttpBufferSize: MAX_SOCKET_FRAME_BYTES,
      serveClient: false,
      allowRequest: (request, callback) => {
        callback(null, isAllowedOrigin(request.headers.origin, request.headers.host, this.allowedOrigins));
      },
    };
    const server = super.createIOServer(port, settings as ServerOptions);
    if (this.redis) server.adapter(createAdapter(this.redis, { streamName: this.streamName, channelPrefix: this.streamName }));
    for (const listener of this.serverListeners) listener(server);
    return server;
  }

  /**
   * Each command's listener is one function shared by every socket (it finds the socket as `this`), and each socket keeps
   * only Nest's handlers, in a table by command: no closure, rxjs pipeline or subscription per command and socket (Nest's
   * default builds all four for every command of every gateway). The same dispatch, acks and error logging, for much less
   * of the memory each idle socket holds (docs/benchmarks.md, "Idle connections").
   */
  override bindMessageHandlers(socket: Socket, handlers: MessageMappingProperties[], transform: (data: unknown) => Observable<unknown>): void {
    let table = this.handlersBySocket.get(socket);
    if (!table) {
      table = [];
      this.handlersBySocket.set(socket, table);
    }
    for (const { message, callback, isAckHandledManually } of handlers) {
      const command = this.commandOf(String(message), isAckHandledManually, transform);
      // Two gateways answering one command would each have answered its ack; one table slot cannot hold both.
      if (table[command.index]) throw new Error(`two gateways handle ${command.event}`);
      table[command.index] = callback as Handler;
      socket.on(command.event, command.listener);
    }
  }

  /**
   * One `disconnect` listener per socket, shared by every socket, runs each gateway's disconnect hook in the order Nest
   * bound them (Nest's default adds a `once` wrapper and two closures per gateway and socket).
   */
  override bindClientDisconnect(client: Socket, callback: (reason: unknown) => void): void {
    const callbacks = this.disconnectHooks.get(client);
    if (callbacks) {
      callbacks.push(callback);
      return;
    }
    this.disconnectHooks.set(client, [callback]);
    client.on('disconnect', this.onDisconnect);
  }

  private disconnected(socket: Socket, reason: unknown): void {
    const callbacks = this.disconnectHooks.get(socket) ?? [];
    this.disconnectHooks.delete(socket);
    this.handlersBySocket.delete(socket);
    for (const callback of callbacks) callback(reason);
  }

  /** The shared description of one command, made when the first socket binds it. */
  private commandOf(event: string, isAckHandledManually: boolean, transform: (data: unknown) => Observable<unknown>): Command {
    const known = this.commands.get(event);
    if (known) return known;
    const command: Command = {
      event,
      index: this.commands.size,
      listener: sharedListener((socket, ...args: unknown[]) => this.dispatch(socket, command, args)),
      // Nest hands every socket the same transform (await the handler, then flatten its Observable): the first one serves all.
      transform,
      isAckHandledManually,
    };
    this.commands.set(event, command);
    return command;
  }

  private dispatch(socket: Socket, command: Command, args: unknown[]): void {
    const callback = this.handlersBySocket.get(socket)?.[command.index];
    if (!callback) return;
    // As rxjs' fromEvent hands it over: one argument as is, several as an array (payload, then the ack).
    const { data, ack } = this.mapPayload(args.length === 1 ? args[0] : args);
    let response$: Observable<unknown>;
    try {
      response$ = command.transform(callback(data, ack));
    } catch (error) {
      this.handlerLogger.error(error);
      return;
    }
    response$.subscribe({
      next: (response) => {
        if (response === null || response === undefined) return;
        const { event, data: eventData } = response as { event?: string; data?: unknown };
        if (event) socket.emit(event, eventData);
        else if (!command.isAckHandledManually && typeof ack === 'function') (ack as (answer: unknown) => void)(response);
      },
      error: (error: unknown) => this.handlerLogger.error(error),
    });
  }
}

/** A listener one function for every socket: socket.io calls a socket's listeners with the socket as `this`. */
function sharedListener<A extends unknown[]>(run: (socket: Socket, ...args: A) => void): (this: Socket, ...args: A) => void {
  return function (this: Socket, ...args: A) {
    run(this, ...args);
  };
}

/** Nest's handler of one command, bound to its gateway and socket. */
type Handler = (data: unknown, ack: unknown) => unknown;

/** One command as every socket shares it: its slot in a socket's handler table and its one listener. */
interface Command {
  event: string;
  index: number;
  listener: (this: Socket, ...args: unknown[]) => void;
  transform: (data: unknown) => Observable<unknown>;
  isAckHandledManually: boolean;
}

/** Whether a handshake's Origin may open a socket. Non-browser clients (tests, benchmarks, native apps) send none; they still need a token. */
export function isAllowedOrigin(origin: string | undefined, host: string | undefined, allowedOrigins: readonly string[]): boolean {
  if (origin === undefined) return true;
  if (allowedOrigins.includes(origin)) return true;
  try {
    return host !== undefined && new URL(origin).host === host;
  } catch {
    return false;
  }
}
