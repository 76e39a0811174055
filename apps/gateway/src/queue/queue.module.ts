import { Module } from '@nestjs/common';
import { AuditModule } from '../audit/audit.module.js';
import { RecordModule } from '../record/record.module.js';
import { QueueGateway } from './queue.gateway.js';
import { QueueRepository } from './queue.repository.js';
import { QueueService } from './queue.service.js';

@Module({ imports: [RecordModule, AuditModule], providers: [QueueGateway, QueueService, QueueRepository], exports: [QueueService] })
export class QueueModule {}
