import { type CanActivate, type ExecutionContext, Injectable, Logger } from '@nestjs/common';
import type { ClientToServer, ServerToClient } from '@parley/protocol';
import type { Socket } from 'socket.io';
import type { Actor } from '../common/actor.js';
import { DomainError } from '../common/domain-error.js';
import { SessionsService } from './sessions.service.js';

/**
 * Checks before every socket command that the socket's session, device and account are still active
 * (SessionsModule installs it globally; it lets HTTP through, which BearerGuard covers). A revocation is
 * normally pushed at once (`session:ended`, then disconnect), but that push can be missed (another
 * node's message lost, an expiry), and this check cannot be: the command is refused `unauthorized`,
 * then the socket is told why and closed.
 */
@Injectable()
export class SessionGuard implements CanActivate {
  private readonly logger = new Logger(SessionGuard.name);

  constructor(private readonly sessions: SessionsService) {}

  async canActivate(context: ExecutionContext): Promise<boolean> {
    if (context.getType() !== 'ws') return true;
    return this.allowsSocket(context.switchToWs().getClient<Socket<ClientToServer, ServerToClient>>());
  }

  /** The check itself, for a socket's command (`conversation:send` calls it directly, without Nest's context). */
  async allowsSocket(socket: Socket<ClientToServer, ServerToClient>): Promise<true> {
    const actor = (socket.data as { actor?: Actor }).actor;
    if (!actor) throw new DomainError('unauthorized');
    const reason = await this.sessions.endedReason(actor);
    if (reason === null) return true;
    this.logger.log({ socketId: socket.id, sessionId: actor.sessionId, reason }, 'command refused: session ended');
    // After the current tick, so the command's `unauthorized` ack goes out before the socket closes.
    setImmediate(() => {
      socket.emit('session:ended', { reason });
      socket.disconnect(true);
    });
    throw new DomainError('unauthorized');
  }
}
