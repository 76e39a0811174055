import { Module } from '@nestjs/common';
import { AuditModule } from '../audit/audit.module.js';
import { AuthModule } from '../auth/auth.module.js';
import { ConsentModule } from '../consent/consent.module.js';
import { HoursModule } from '../hours/hours.module.js';
import { PracticesModule } from '../practices/practices.module.js';
import { QueueModule } from '../queue/queue.module.js';
import { RecordModule } from '../record/record.module.js';
import { ConversationExportsController } from './conversation-exports.controller.js';
import { ConversationsGateway } from './conversations.gateway.js';
import { ConversationsRepository } from './conversations.repository.js';
import { ConversationsService } from './conversations.service.js';

@Module({
  imports: [AuthModule, RecordModule, QueueModule, AuditModule, ConsentModule, PracticesModule, HoursModule],
  controllers: [ConversationExportsController],
  providers: [ConversationsGateway, ConversationsService, ConversationsRepository],
  exports: [ConversationsService],
})
export class ConversationsModule {}
