import { Controller, Delete, Get, HttpCode, Post, Put, UseGuards } from '@nestjs/common';
import { CannedReplyRequest, type CannedReply } from '@parley/protocol';
import { BearerGuard } from '../sessions/bearer.guard.js';
import { Actor } from '../common/actor.js';
import { UuidParam } from '../common/uuid-param.decorator.js';
import { ZodBody } from '../common/zod-body.decorator.js';
import { CannedRepliesService } from './canned-replies.service.js';

/** The caller's practice's canned replies: read by its staff, written by its managers. */
@Controller('api/practice/canned-replies')
@UseGuards(BearerGuard)
export class CannedRepliesController {
  constructor(private readonly replies: CannedRepliesService) {}

  @Get()
  list(@Actor() actor: Actor): Promise<CannedReply[]> {
    return this.replies.list(actor);
  }

  @Post()
  @HttpCode(201)
  create(@Actor() actor: Actor, @ZodBody(CannedReplyRequest) body: CannedReplyRequest): Promise<CannedReply> {
    return this.replies.create(actor, body);
  }

  @Put(':id')
  update(@Actor() actor: Actor, @UuidParam('id') id: string, @ZodBody(CannedReplyRequest) body: CannedReplyRequest): Promise<CannedReply> {
    return this.replies.update(actor, id, body);
  }

  @Delete(':id')
  @HttpCode(204)
  delete(@Actor() actor: Actor, @UuidParam('id') id: string): Promise<void> {
    return this.replies.delete(actor, id);
  }
}
