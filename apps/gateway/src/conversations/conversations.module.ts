import { Module } from '@nestjs/common';
import { AuditModule } from '../audit/audit.module.js';
import { ConsentModule } from '../consent/consent.module.js';
import { HoursModule } from '../hours/hours.module.js';
import { PracticesModule } from '../practices/practices.module.js';
import { QueueModule } from '../queue/queue.module.js';
import { RecordModule } from '../record/record.module.js';
import { ConversationsGateway } from './conversations.gateway.js';
import { ConversationsRepository } from './conversations.repository.js';
import { ConversationsService } from './conversations.service.js';

@Module({
  imports: [RecordModule, QueueModule, AuditModule, ConsentModule, PracticesModule, HoursModule],
  providers: [ConversationsGateway, ConversationsService, ConversationsRepository],
  exports: [ConversationsService],
})
export class ConversationsModule {}
