import { Logger, UseFilters, UseInterceptors } from '@nestjs/common';
import { type OnGatewayConnection, WebSocketGateway } from '@nestjs/websockets';
import { HoursGet, type ClientToServer, type ServerToClient } from '@parley/protocol';
import type { Socket } from 'socket.io';
import { AckInterceptor } from '../common/ack.interceptor.js';
import { Actor } from '../common/actor.js';
import { On } from '../common/on.decorator.js';
import { Payload } from '../common/payload.decorator.js';
import { rooms } from '../common/rooms.js';
import { WsErrorFilter } from '../common/ws-error.filter.js';
import { HoursService } from './hours.service.js';

/**
 * Opening hours on the socket: a patient's socket joins its practice's patients room (where status
 * changes are published) and gets the status at once; `hours:get` answers it on demand.
 */
@WebSocketGateway()
@UseInterceptors(AckInterceptor)
@UseFilters(WsErrorFilter)
export class HoursGateway implements OnGatewayConnection {
  private readonly logger = new Logger(HoursGateway.name);

  constructor(private readonly hours: HoursService) {}

  async handleConnection(socket: Socket<ClientToServer, ServerToClient>): Promise<void> {
    const actor = (socket.data as { actor?: Actor }).actor;
    if (!actor?.roles.includes('patient')) return;
    // Join first, then read: a change published in between reaches the socket too, so none is missed.
    await socket.join(rooms.practicePatients(actor.practiceId));
    try {
      socket.emit('hours:status', await this.hours.status(actor.practiceId));
    } catch (error) {
      this.logger.error({ socketId: socket.id, practiceId: actor.practiceId, err: error }, 'hours status on connect failed');
    }
  }

  @On('hours:get')
  get(@Actor() actor: Actor, @Payload(HoursGet) _payload: HoursGet) {
    return this.hours.status(actor.practiceId);
  }
}
