import { Logger, UseFilters, UseInterceptors } from '@nestjs/common';
import { type OnGatewayConnection, type OnGatewayDisconnect, WebSocketGateway } from '@nestjs/websockets';
import { SetAvailability, SetClinicianCaps, SetPracticeLimits } from '@parley/protocol';
import type { Socket } from 'socket.io';
import { AckInterceptor } from '../common/ack.interceptor.js';
import { Actor } from '../common/actor.js';
import { On } from '../common/on.decorator.js';
import { Payload } from '../common/payload.decorator.js';
import { WsErrorFilter } from '../common/ws-error.filter.js';
import { CapacityService } from './capacity.service.js';

/** Socket commands of capacity, and a clinician's sockets coming and going: validate, call the service, return its result. */
@WebSocketGateway()
@UseInterceptors(AckInterceptor)
@UseFilters(WsErrorFilter)
export class CapacityGateway implements OnGatewayConnection, OnGatewayDisconnect {
  private readonly logger = new Logger(CapacityGateway.name);

  constructor(private readonly capacity: CapacityService) {}

  /** A clinician's socket arrived: connected, and routing may give them work. */
  async handleConnection(socket: Socket): Promise<void> {
    const actor = (socket.data as { actor?: Actor }).actor;
    if (!actor) return;
    try {
      await this.capacity.clinicianConnected(actor);
    } catch (error) {
      // The database failed (or closed in a shutdown) before the connection was noted: close the socket, so the client's
      // reconnection notes it again, rather than keep a clinician connected whom routing cannot see. A failed routing
      // pass retries by itself.
      this.logger.warn({ userId: actor.userId, err: error }, 'could not note a connection');
      socket.disconnect(true);
    }
  }

  /** Once a clinician's last socket, on any node, has gone: offline if they signed out, else the grace period starts. */
  async handleDisconnect(socket: Socket): Promise<void> {
    const actor = (socket.data as { actor?: Actor }).actor;
    if (!actor) return;
    try {
      await this.capacity.clinicianDisconnected(actor, socket.id);
    } catch (error) {
      // During a shutdown the pool may already be closed; the next start sees the clinician as they are.
      this.logger.debug({ userId: actor.userId, err: error }, 'could not note a disconnect');
    }
  }

  @On('staff:availability')
  async availability(@Actor() actor: Actor, @Payload(SetAvailability) payload: SetAvailability) {
    await this.capacity.setAvailability(actor, payload.availability);
    return null;
  }

  @On('capacity:set-clinician')
  async clinicianCaps(@Actor() actor: Actor, @Payload(SetClinicianCaps) payload: SetClinicianCaps) {
    await this.capacity.setClinicianCaps(actor, payload);
    return null;
  }

  @On('capacity:set-practice')
  async practiceLimits(@Actor() actor: Actor, @Payload(SetPracticeLimits) payload: SetPracticeLimits) {
    await this.capacity.setPracticeLimits(actor, payload);
    return null;
  }
}
