import { Module } from '@nestjs/common';
import { AuditModule } from '../audit/audit.module.js';
import { AuthModule } from '../auth/auth.module.js';
import { QueueModule } from '../queue/queue.module.js';
import { StaffController } from './staff.controller.js';
import { StaffRepository } from './staff.repository.js';
import { StaffService } from './staff.service.js';

/** Staff management for managers: listing, revoking a colleague's device, offboarding. */
@Module({ imports: [AuthModule, QueueModule, AuditModule], controllers: [StaffController], providers: [StaffService, StaffRepository] })
export class StaffModule {}
