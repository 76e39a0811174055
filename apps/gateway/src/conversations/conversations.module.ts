import { Module } from '@nestjs/common';
import { RecordModule } from '../record/record.module.js';
import { ConversationsGateway } from './conversations.gateway.js';
import { ConversationsRepository } from './conversations.repository.js';
import { ConversationsService } from './conversations.service.js';

@Module({
  imports: [RecordModule],
  providers: [ConversationsGateway, ConversationsService, ConversationsRepository],
  exports: [ConversationsService],
})
export class ConversationsModule {}
