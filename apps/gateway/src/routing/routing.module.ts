import { Module } from '@nestjs/common';
import { AuditModule } from '../audit/audit.module.js';
import { HoursModule } from '../hours/hours.module.js';
import { RecordModule } from '../record/record.module.js';
import { RoutingGateway } from './routing.gateway.js';
import { RoutingRepository } from './routing.repository.js';
import { RoutingService } from './routing.service.js';

/** Patients waiting and their assignment to clinicians: routing passes, claims, urgent marks, the queue snapshot and wait estimates. */
@Module({ imports: [RecordModule, AuditModule, HoursModule], providers: [RoutingGateway, RoutingService, RoutingRepository], exports: [RoutingService] })
export class RoutingModule {}
