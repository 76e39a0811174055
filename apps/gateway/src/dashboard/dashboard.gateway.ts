import { UseFilters, UseInterceptors } from '@nestjs/common';
import { WebSocketGateway } from '@nestjs/websockets';
import { DashboardGet } from '@parley/protocol';
import { AckInterceptor } from '../common/ack.interceptor.js';
import { Actor } from '../common/actor.js';
import { On } from '../common/on.decorator.js';
import { Payload } from '../common/payload.decorator.js';
import { WsErrorFilter } from '../common/ws-error.filter.js';
import { DashboardService } from './dashboard.service.js';

/** The manager's dashboard read: validate, call the service, return its result. */
@WebSocketGateway()
@UseInterceptors(AckInterceptor)
@UseFilters(WsErrorFilter)
export class DashboardGateway {
  constructor(private readonly dashboard: DashboardService) {}

  @On('dashboard:get')
  get(@Actor() actor: Actor, @Payload(DashboardGet) _payload: DashboardGet) {
    return this.dashboard.dashboard(actor);
  }
}
