import { Controller, Get, HttpCode, Put, UseGuards } from '@nestjs/common';
import { PutRevocationListRequest, type RevocationListResponse } from '@parley/protocol';
import { Actor } from '../common/actor.js';
import { ZodBody } from '../common/zod-body.decorator.js';
import { BearerGuard } from '../sessions/bearer.guard.js';
import { RevocationsService } from './revocations.service.js';

/** The caller's practice's signed revocation list. Every route acts on the caller's own practice. */
@Controller('api/practice/revocations')
@UseGuards(BearerGuard)
export class RevocationsController {
  constructor(private readonly revocations: RevocationsService) {}

  @Get()
  newest(@Actor() actor: Actor): Promise<RevocationListResponse> {
    return this.revocations.newest(actor);
  }

  @Put()
  @HttpCode(204)
  publish(@Actor() actor: Actor, @ZodBody(PutRevocationListRequest) body: PutRevocationListRequest): Promise<void> {
    return this.revocations.publish(actor, body);
  }
}
