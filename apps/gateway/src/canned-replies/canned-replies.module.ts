import { Module } from '@nestjs/common';
import { AuditModule } from '../audit/audit.module.js';
import { AuthModule } from '../auth/auth.module.js';
import { CannedRepliesController } from './canned-replies.controller.js';
import { CannedRepliesRepository } from './canned-replies.repository.js';
import { CannedRepliesService } from './canned-replies.service.js';

/** Practice-wide canned replies (HTTP routes under /api/practice/canned-replies). */
@Module({ imports: [AuthModule, AuditModule], controllers: [CannedRepliesController], providers: [CannedRepliesService, CannedRepliesRepository] })
export class CannedRepliesModule {}
