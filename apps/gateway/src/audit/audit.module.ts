import { Module } from '@nestjs/common';
import { AuditRepository } from './audit.repository.js';
import { AuditService } from './audit.service.js';

/**
 * The audit trail's writer, imported by every feature that records (auth included), so it imports
 * no feature itself. The log viewer route needs auth's guard, so it lives in AuditLogModule.
 */
@Module({
  providers: [AuditService, AuditRepository],
  exports: [AuditService],
})
export class AuditModule {}
