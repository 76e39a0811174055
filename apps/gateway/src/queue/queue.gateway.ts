import { UseFilters, UseInterceptors } from '@nestjs/common';
import { WebSocketGateway } from '@nestjs/websockets';
import { ConversationRef, QueueList, SetAvailability, SetClinicianCaps, SetPracticeLimits } from '@parley/protocol';
import { AckInterceptor } from '../common/ack.interceptor.js';
import { Actor } from '../common/actor.js';
import { On } from '../common/on.decorator.js';
import { Payload } from '../common/payload.decorator.js';
import { WsErrorFilter } from '../common/ws-error.filter.js';
import { QueueService } from './queue.service.js';

/** Socket commands of the live queue and of capacity: validate, call the service, return its result. */
@WebSocketGateway()
@UseInterceptors(AckInterceptor)
@UseFilters(WsErrorFilter)
export class QueueGateway {
  constructor(private readonly queue: QueueService) {}

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
