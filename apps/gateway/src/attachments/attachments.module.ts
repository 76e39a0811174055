import { Module } from '@nestjs/common';
import { AuditModule } from '../audit/audit.module.js';
import { InvalidationModule } from '../invalidation/invalidation.module.js';
import { PracticesModule } from '../practices/practices.module.js';
import { RateLimitsModule } from '../rate-limits/rate-limits.module.js';
import { RecordModule } from '../record/record.module.js';
import { SessionsModule } from '../sessions/sessions.module.js';
import { AttachmentPartsRepository } from './attachment-parts.repository.js';
import { AttachmentStore } from './attachment-store.js';
import { AttachmentsController } from './attachments.controller.js';
import { AttachmentsRepository } from './attachments.repository.js';
import { AttachmentsService } from './attachments.service.js';
import { AttachmentsSweeper } from './attachments.sweeper.js';

/**
 * Encrypted attachments: the upload and download routes, the request command, the sweep. Exports the service so
 * `conversations` claims a message's uploads before appending it. The parts' store is PostgreSQL unless another
 * `AttachmentStore` is provided (docs/operations.md, "Attachments").
 */
@Module({
  imports: [SessionsModule, InvalidationModule, PracticesModule, RateLimitsModule, RecordModule, AuditModule],
  controllers: [AttachmentsController],
  providers: [AttachmentsService, AttachmentsRepository, AttachmentsSweeper, { provide: AttachmentStore, useClass: AttachmentPartsRepository }],
  exports: [AttachmentsService],
})
export class AttachmentsModule {}
