import { UseFilters, UseInterceptors } from '@nestjs/common';
import { WebSocketGateway } from '@nestjs/websockets';
import { PROTOCOL_VERSION, SystemPing, type SystemPong } from '@parley/protocol';
import { AckInterceptor } from '../common/ack.interceptor.js';
import { On } from '../common/on.decorator.js';
import { Payload } from '../common/payload.decorator.js';
import { WsErrorFilter } from '../common/ws-error.filter.js';

/** Protocol-level commands that belong to no feature. */
@WebSocketGateway()
@UseInterceptors(AckInterceptor)
@UseFilters(WsErrorFilter)
export class SystemGateway {
  /** Lets a client check that it speaks this server's protocol version. */
  @On('system:ping')
  ping(@Payload(SystemPing) _payload: SystemPing): SystemPong {
    return { protocolVersion: PROTOCOL_VERSION, serverTime: new Date().toISOString() };
  }
}
