import { Module } from '@nestjs/common';
import { AuditModule } from '../audit/audit.module.js';
import { RecordModule } from '../record/record.module.js';
import { RoutingModule } from '../routing/routing.module.js';
import { LifecycleGateway } from './lifecycle.gateway.js';
import { LifecycleRepository } from './lifecycle.repository.js';
import { LifecycleService } from './lifecycle.service.js';

/** A conversation's life once a clinician has it: transfer (to a colleague or back to the queue), hold, close, and the follow-ups a close leaves. */
@Module({ imports: [RoutingModule, RecordModule, AuditModule], providers: [LifecycleGateway, LifecycleService, LifecycleRepository] })
export class LifecycleModule {}
