import { Module } from '@nestjs/common';
import { AuditModule } from '../audit/audit.module.js';
import { PracticesModule } from '../practices/practices.module.js';
import { SessionsModule } from '../sessions/sessions.module.js';
import { RevocationsController } from './revocations.controller.js';
import { RevocationsRepository } from './revocations.repository.js';
import { RevocationsService } from './revocations.service.js';

/** The practice's root-signed revocation list, which clients fetch and enforce themselves. */
@Module({
  imports: [SessionsModule, PracticesModule, AuditModule],
  controllers: [RevocationsController],
  providers: [RevocationsService, RevocationsRepository],
  exports: [RevocationsService],
})
export class RevocationsModule {}
