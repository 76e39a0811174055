import { Module } from '@nestjs/common';
import { AuditModule } from '../audit/audit.module.js';
import { CapacityModule } from '../capacity/capacity.module.js';
import { DevicesModule } from '../devices/devices.module.js';
import { SessionsModule } from '../sessions/sessions.module.js';
import { StaffController } from './staff.controller.js';
import { StaffRepository } from './staff.repository.js';
import { StaffService } from './staff.service.js';

/** Staff management for managers: listing, revoking a colleague's device, offboarding. */
@Module({ imports: [SessionsModule, DevicesModule, CapacityModule, AuditModule], controllers: [StaffController], providers: [StaffService, StaffRepository] })
export class StaffModule {}
