import { Controller, HttpCode, Post, UseGuards } from '@nestjs/common';
import { RecordExportRequest } from '@parley/protocol';
import { BearerGuard } from '../sessions/bearer.guard.js';
import { Actor } from '../common/actor.js';
import { UuidParam } from '../common/uuid-param.decorator.js';
import { ZodBody } from '../common/zod-body.decorator.js';
import { ConversationsService } from './conversations.service.js';

/** Staff announce an export of a conversation here before their browser produces it. */
@Controller('api/conversations')
@UseGuards(BearerGuard)
export class ConversationExportsController {
  constructor(private readonly conversations: ConversationsService) {}

  @Post(':id/exports')
  @HttpCode(204)
  record(@Actor() actor: Actor, @UuidParam('id') id: string, @ZodBody(RecordExportRequest) body: RecordExportRequest): Promise<void> {
    return this.conversations.recordExport(actor, id, body.formats);
  }
}
