import { Module } from '@nestjs/common';
import { AuthModule } from '../auth/auth.module.js';
import { AuditController } from './audit.controller.js';
import { AuditModule } from './audit.module.js';

/**
 * GET /api/audit. Apart from AuditModule because the route needs auth's BearerGuard while auth records
 * into the trail: one module each way keeps the graph free of cycles.
 */
@Module({
  imports: [AuditModule, AuthModule],
  controllers: [AuditController],
})
export class AuditLogModule {}
