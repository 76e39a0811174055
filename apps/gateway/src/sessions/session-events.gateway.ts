import { WebSocketGateway, WebSocketServer } from '@nestjs/websockets';
import type { ClientToServer, SessionEnded, ServerToClient } from '@parley/protocol';
import type { Server } from 'socket.io';

/**
 * Ends live sockets when their session ends. It handles no command: it is a gateway only to hold the
 * socket.io server. Emits and disconnects go through the server's adapter, so with REDIS_URL they
 * reach the sockets on every gateway node.
 */
@WebSocketGateway()
export class SessionEventsGateway {
  @WebSocketServer()
  private readonly server: Server<ClientToServer, ServerToClient> | undefined;

  /** Tells every socket in `room` why its session ended, then closes them (ASVS 7.4.2). */
  ended(room: string, reason: SessionEnded['reason']): void {
    if (!this.server) return;
    this.server.to(room).emit('session:ended', { reason });
    this.server.in(room).disconnectSockets(true);
  }
}
