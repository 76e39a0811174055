import type { INestApplicationContext } from '@nestjs/common';
import { IoAdapter } from '@nestjs/platform-socket.io';
import type { Server, ServerOptions } from 'socket.io';

/** Largest socket frame accepted; a larger one closes the socket (clients check sizes before sending). */
export const MAX_SOCKET_FRAME_BYTES = 256 * 1024;

/**
 * socket.io server settings: a browser may connect only from the origin that served it (its Origin
 * names the Host it connects to) or from a configured origin. socket.io's `cors` option does not
 * stop WebSocket upgrades from a foreign origin, so the check is in `allowRequest`.
 */
export class ParleyIoAdapter extends IoAdapter {
  constructor(
    app: INestApplicationContext,
    private readonly allowedOrigins: readonly string[],
  ) {
    super(app);
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
    return super.createIOServer(port, settings as ServerOptions);
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
