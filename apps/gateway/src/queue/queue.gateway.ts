import { Logger, UseFilters, UseInterceptors } from '@nestjs/common';
import { type OnGatewayConnection, type OnGatewayDisconnect, WebSocketGateway } from '@nestjs/websockets';
import { ConversationRef, QueueList, SetAvailability, SetClinicianCaps, SetPracticeLimits } from '@parley/protocol';
import { AckInterceptor } from '../common/ack.interceptor.js';
import type { Socket } from 'socket.io';
import { Actor } from '../common/actor.js';
import { On } from '../common/on.decorator.js';
import { Payload } from '../common/payload.decorator.js';
import { WsErrorFilter } from '../common/ws-error.filter.js';
import { QueueService } from './queue.service.js';

/** Socket commands of the live queue and of capacity: validate, call the service, return its result. */
@WebSocketGateway()
@UseInterceptors(AckInterceptor)
@UseFilters(WsErrorFilter)
export class QueueGateway implements OnGatewayConnection, OnGatewayDisconnect {
  private readonly logger = new Logger(QueueGateway.name);

  constructor(private readonly queue: QueueService) {}

  async handleConnection(socket: Socket): Promise<void> {
    const actor = (socket.data as { actor?: Actor }).actor;
    if (actor) await this.queue.clinicianConnected(actor);
  }

  /** Once a clinician's last socket, on any node, has gone: offline if they signed out, else the grace period starts. */
  async handleDisconnect(socket: Socket): Promise<void> {
    const actor = (socket.data as { actor?: Actor }).actor;
    if (!actor) return;
    try {
      await this.queue.clinicianDisconnected(actor, socket.id);
    } catch (error) {
      // During a shutdown the pool may already be closed; the next start sees the clinician as they are.
      this.logger.debug({ userId: actor.userId, err: error }, 'could not note a disconnect');
    }
  }

  @On('conversation:urgent')
  urgent(@Actor() actor: Actor, @Payload(ConversationRef) payload: ConversationRef) {
    return this.queue.markUrgent(actor, payload.conversationId);
  }

  @On('queue:list')
  list(@Actor() actor: Actor, @Payload(QueueList) _payload: QueueList) {
    return this.queue.snapshot(actor);
  }

  @On('staff:availability')
  async availability(@Actor() actor: Actor, @Payload(SetAvailability) payload: SetAvailability) {
    await this.queue.setAvailability(actor, payload.availability);
    return null;
  }

  @On('capacity:set-clinician')
  async clinicianCaps(@Actor() actor: Actor, @Payload(SetClinicianCaps) payload: SetClinicianCaps) {
    await this.queue.setClinicianCaps(actor, payload);
    return null;
  }

  @On('capacity:set-practice')
  async practiceLimits(@Actor() actor: Actor, @Payload(SetPracticeLimits) payload: SetPracticeLimits) {
    await this.queue.setPracticeLimits(actor, payload);
    return null;
  }
}
