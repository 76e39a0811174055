import { Logger } from '@nestjs/common';
import { type OnGatewayConnection, WebSocketGateway } from '@nestjs/websockets';
import type { Socket } from 'socket.io';
import type { Actor } from '../common/actor.js';
import { NotificationsRepository } from './notifications.repository.js';

/** A patient who connects has seen what they were told of: the next message away from the app tells them again (coalescing). */
@WebSocketGateway()
export class NotificationsGateway implements OnGatewayConnection {
  private readonly logger = new Logger(NotificationsGateway.name);

  constructor(private readonly notices: NotificationsRepository) {}

  handleConnection(socket: Socket): void {
    const actor = (socket.data as { actor?: Actor }).actor;
    if (!actor?.roles.includes('patient')) return;
    this.notices.clearFor(actor.userId).catch((error: unknown) => this.logger.warn({ userId: actor.userId, err: error }, 'clearing notices failed'));
  }
}
