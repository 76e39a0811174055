import { UseFilters, UseInterceptors } from '@nestjs/common';
import { WebSocketGateway } from '@nestjs/websockets';
import { ConversationRequestAttachment } from '@parley/protocol';
import { AckInterceptor } from '../common/ack.interceptor.js';
import { Actor } from '../common/actor.js';
import { On } from '../common/on.decorator.js';
import { Payload } from '../common/payload.decorator.js';
import { WsErrorFilter } from '../common/ws-error.filter.js';
import { AttachmentsService } from './attachments.service.js';

/** The socket command of attachments: a clinician's request for a photo or document. */
@WebSocketGateway()
@UseInterceptors(AckInterceptor)
@UseFilters(WsErrorFilter)
export class AttachmentsGateway {
  constructor(private readonly attachments: AttachmentsService) {}

  @On('conversation:request-attachment')
  requestAttachment(@Actor() actor: Actor, @Payload(ConversationRequestAttachment) payload: ConversationRequestAttachment) {
    return this.attachments.requestAttachment(actor, payload);
  }
}
