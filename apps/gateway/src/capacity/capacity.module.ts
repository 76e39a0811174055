import { Module } from '@nestjs/common';
import { AuditModule } from '../audit/audit.module.js';
import { RecordModule } from '../record/record.module.js';
import { RoutingModule } from '../routing/routing.module.js';
import { SessionsModule } from '../sessions/sessions.module.js';
import { CapacityGateway } from './capacity.gateway.js';
import { CapacityRepository } from './capacity.repository.js';
import { CapacityService } from './capacity.service.js';

/** Per-clinician caps, practice limits and availability (with the grace period after a dropped connection); what managers change live. */
@Module({
  imports: [RoutingModule, SessionsModule, RecordModule, AuditModule],
  providers: [CapacityGateway, CapacityService, CapacityRepository],
  exports: [CapacityService],
})
export class CapacityModule {}
