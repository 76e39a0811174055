import { Controller, Get, UseGuards } from '@nestjs/common';
import { PeopleQuery, type People } from '@parley/protocol';
import { BearerGuard } from '../sessions/bearer.guard.js';
import { Actor } from '../common/actor.js';
import { ZodQuery } from '../common/zod-query.decorator.js';
import { AuditService } from './audit.service.js';

/** Names for the user ids staff screens show (follow-ups: the patient and the owner), within the caller's practice. */
@Controller('api/people')
@UseGuards(BearerGuard)
export class PeopleController {
  constructor(private readonly audit: AuditService) {}

  @Get()
  names(@Actor() actor: Actor, @ZodQuery(PeopleQuery) query: PeopleQuery): Promise<People> {
    return this.audit.people(actor, query.ids);
  }
}
