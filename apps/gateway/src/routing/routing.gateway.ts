import { UseFilters, UseInterceptors } from '@nestjs/common';
import { WebSocketGateway } from '@nestjs/websockets';
import { ConversationRef, QueueList } from '@parley/protocol';
import { AckInterceptor } from '../common/ack.interceptor.js';
import { Actor } from '../common/actor.js';
import { On } from '../common/on.decorator.js';
import { Payload } from '../common/payload.decorator.js';
import { WsErrorFilter } from '../common/ws-error.filter.js';
import { RoutingService } from './routing.service.js';

/** Socket commands of the live queue: validate, call the service, return its result. */
@WebSocketGateway()
@UseInterceptors(AckInterceptor)
@UseFilters(WsErrorFilter)
export class RoutingGateway {
  constructor(private readonly queue: RoutingService) {}

  @On('conversation:urgent')
  urgent(@Actor() actor: Actor, @Payload(ConversationRef) payload: ConversationRef) {
    return this.queue.markUrgent(actor, payload.conversationId);
  }

  @On('queue:list')
  list(@Actor() actor: Actor, @Payload(QueueList) _payload: QueueList) {
    return this.queue.snapshot(actor);
  }
}
