import { Module } from '@nestjs/common';
import { SessionsModule } from '../sessions/sessions.module.js';
import { AuditController } from './audit.controller.js';
import { AuditModule } from './audit.module.js';
import { PeopleController } from './people.controller.js';

/**
 * GET /api/audit, and GET /api/people (names for the ids staff screens show). Apart from AuditModule because the route needs auth's BearerGuard while auth records
 * into the trail: one module each way keeps the graph free of cycles.
 */
@Module({
  imports: [AuditModule, SessionsModule],
  controllers: [AuditController, PeopleController],
})
export class AuditLogModule {}
