import { UseFilters, UseInterceptors } from '@nestjs/common';
import { WebSocketGateway } from '@nestjs/websockets';
import { ConversationClose, ConversationHold, ConversationTransfer, FollowUpDone, FollowUpList } from '@parley/protocol';
import { AckInterceptor } from '../common/ack.interceptor.js';
import { Actor } from '../common/actor.js';
import { On } from '../common/on.decorator.js';
import { Payload } from '../common/payload.decorator.js';
import { WsErrorFilter } from '../common/ws-error.filter.js';
import { LifecycleService } from './lifecycle.service.js';

/** Socket commands of a conversation's life after assignment, and of follow-ups: validate, call the service, return its result. */
@WebSocketGateway()
@UseInterceptors(AckInterceptor)
@UseFilters(WsErrorFilter)
export class LifecycleGateway {
  constructor(private readonly lifecycle: LifecycleService) {}

  @On('conversation:transfer')
  transfer(@Actor() actor: Actor, @Payload(ConversationTransfer) payload: ConversationTransfer) {
    return this.lifecycle.transfer(actor, payload);
  }

  @On('conversation:hold')
  hold(@Actor() actor: Actor, @Payload(ConversationHold) payload: ConversationHold) {
    return this.lifecycle.hold(actor, payload);
  }

  @On('conversation:close')
  close(@Actor() actor: Actor, @Payload(ConversationClose) payload: ConversationClose) {
    return this.lifecycle.close(actor, payload);
  }

  @On('follow-up:list')
  listFollowUps(@Actor() actor: Actor, @Payload(FollowUpList) _payload: FollowUpList) {
    return this.lifecycle.listFollowUps(actor);
  }

  @On('follow-up:done')
  completeFollowUp(@Actor() actor: Actor, @Payload(FollowUpDone) payload: FollowUpDone) {
    return this.lifecycle.completeFollowUp(actor, payload.followUpId);
  }
}
