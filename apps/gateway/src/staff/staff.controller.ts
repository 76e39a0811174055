import { Controller, Get, HttpCode, Post, UseGuards } from '@nestjs/common';
import type { OffboardingProgress, OffboardResult, StaffMember } from '@parley/protocol';
import { BearerGuard } from '../sessions/bearer.guard.js';
import { Actor } from '../common/actor.js';
import { UuidParam } from '../common/uuid-param.decorator.js';
import { StaffService } from './staff.service.js';

/** Staff management (managers). `POST /api/staff` (a new account) is auth's InvitationsController. */
@Controller('api/staff')
@UseGuards(BearerGuard)
export class StaffController {
  constructor(private readonly staff: StaffService) {}

  @Get()
  list(@Actor() actor: Actor): Promise<StaffMember[]> {
    return this.staff.list(actor);
  }

  @Post(':userId/devices/:deviceId/revoke')
  @HttpCode(204)
  revokeDevice(@Actor() actor: Actor, @UuidParam('userId') userId: string, @UuidParam('deviceId') deviceId: string): Promise<void> {
    return this.staff.revokeDevice(actor, userId, deviceId);
  }

  @Post(':userId/offboard')
  @HttpCode(200)
  offboard(@Actor() actor: Actor, @UuidParam('userId') userId: string): Promise<OffboardResult> {
    return this.staff.offboard(actor, userId);
  }

  @Get(':userId/offboarding')
  offboardingProgress(@Actor() actor: Actor, @UuidParam('userId') userId: string): Promise<OffboardingProgress> {
    return this.staff.offboardingProgress(actor, userId);
  }
}
