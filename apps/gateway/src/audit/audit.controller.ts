import { Controller, Get, UseGuards } from '@nestjs/common';
import { AuditQuery, type AuditPage } from '@parley/protocol';
import { BearerGuard } from '../sessions/bearer.guard.js';
import { Actor } from '../common/actor.js';
import { ZodQuery } from '../common/zod-query.decorator.js';
import { AuditService } from './audit.service.js';

/** The audit log viewer: the caller's practice's events, for managers. */
@Controller('api/audit')
@UseGuards(BearerGuard)
export class AuditController {
  constructor(private readonly audit: AuditService) {}

  @Get()
  query(@Actor() actor: Actor, @ZodQuery(AuditQuery) query: AuditQuery): Promise<AuditPage> {
    return this.audit.query(actor, query);
  }
}
