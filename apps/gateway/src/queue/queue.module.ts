import { Module } from '@nestjs/common';
import { AuditModule } from '../audit/audit.module.js';
import { AuthModule } from '../auth/auth.module.js';
import { HoursModule } from '../hours/hours.module.js';
import { RecordModule } from '../record/record.module.js';
import { LifecycleGateway } from './lifecycle.gateway.js';
import { LifecycleRepository } from './lifecycle.repository.js';
import { LifecycleService } from './lifecycle.service.js';
import { QueueGateway } from './queue.gateway.js';
import { QueueRepository } from './queue.repository.js';
import { QueueService } from './queue.service.js';

@Module({ imports: [RecordModule, AuditModule, AuthModule, HoursModule], providers: [QueueGateway, QueueService, QueueRepository, LifecycleGateway, LifecycleService, LifecycleRepository], exports: [QueueService] })
export class QueueModule {}
