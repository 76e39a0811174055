import { type INestApplicationContext, Logger } from '@nestjs/common';
import { IoAdapter } from '@nestjs/platform-socket.io';
import { createAdapter } from '@socket.io/redis-streams-adapter';
import { createClient } from 'redis';
import type { Server, ServerOptions } from 'socket.io';

/** Largest socket frame accepted; a larger one closes the socket (clients check sizes before sending). */
export const MAX_SOCKET_FRAME_BYTES = 256 * 1024;

/**
 * socket.io server settings: a browser may connect only from the origin that served it (its Origin
 * names the Host it connects to) or from a configured origin. socket.io's `cors` option does not
 * stop WebSocket upgrades from a foreign origin, so the check is in `allowRequest`.
 */
export class ParleyIoAdapter extends IoAdapter {
  private readonly redisLogger = new Logger(ParleyIoAdapter.name);
  private redis: ReturnType<typeof createClient> | undefined;
  private streamName = 'socket.io';

  constructor(
    app: INestApplicationContext,
    private readonly allowedOrigins: readonly string[],
  ) {
    super(app);
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
    await client.connect();
    this.redis = client;
  }

  override async close(server: Server): Promise<void> {
    await super.close(server);
    if (this.redis?.isOpen) await this.redis.quit().catch(() => undefined);
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
    return server;
  }
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
