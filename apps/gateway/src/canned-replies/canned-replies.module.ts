import { Module } from '@nestjs/common';
import { AuditModule } from '../audit/audit.module.js';
import { SessionsModule } from '../sessions/sessions.module.js';
import { CannedRepliesController } from './canned-replies.controller.js';
import { CannedRepliesRepository } from './canned-replies.repository.js';
import { CannedRepliesService } from './canned-replies.service.js';

/** Practice-wide canned replies (HTTP routes under /api/practice/canned-replies). */
@Module({ imports: [SessionsModule, AuditModule], controllers: [CannedRepliesController], providers: [CannedRepliesService, CannedRepliesRepository] })
export class CannedRepliesModule {}
