import { Module } from '@nestjs/common';
import { AttachmentsModule } from '../attachments/attachments.module.js';
import { AuditModule } from '../audit/audit.module.js';
import { AccountKeysModule } from '../account-keys/account-keys.module.js';
import { SessionsModule } from '../sessions/sessions.module.js';
import { ConsentModule } from '../consent/consent.module.js';
import { HoursModule } from '../hours/hours.module.js';
import { PracticesModule } from '../practices/practices.module.js';
import { RoutingModule } from '../routing/routing.module.js';
import { RecordModule } from '../record/record.module.js';
import { ConversationExportsController } from './conversation-exports.controller.js';
import { ConversationsGateway } from './conversations.gateway.js';
import { ConversationsRepository } from './conversations.repository.js';
import { ConversationsService } from './conversations.service.js';
import { ConversationOpeningRepository } from './opening.repository.js';
import { ConversationOpeningService } from './opening.service.js';
import { ConversationEpochsService } from './epochs.service.js';

@Module({
  imports: [AttachmentsModule, SessionsModule, AccountKeysModule, RecordModule, RoutingModule, AuditModule, ConsentModule, PracticesModule, HoursModule],
  controllers: [ConversationExportsController],
  providers: [
    ConversationsGateway,
    ConversationsService,
    ConversationOpeningService,
    ConversationEpochsService,
    ConversationsRepository,
    ConversationOpeningRepository,
  ],
  exports: [ConversationsService],
})
export class ConversationsModule {}
