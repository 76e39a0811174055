import { Controller, HttpCode, Post, UseGuards } from '@nestjs/common';
import { CreateInvitationRequest, CreateStaffRequest, type CodeIssued, type InvitationCreated } from '@parley/protocol';
import { Actor } from '../common/actor.js';
import { ZodBody } from '../common/zod-body.decorator.js';
import { BearerGuard } from '../sessions/bearer.guard.js';
import { InvitationsService } from './invitations.service.js';

/** New patient and staff accounts, each answered with its one-time code. */
@Controller('api')
@UseGuards(BearerGuard)
export class InvitationsController {
  constructor(private readonly invitations: InvitationsService) {}

  @Post('invitations')
  @HttpCode(201)
  invitePatient(@Actor() actor: Actor, @ZodBody(CreateInvitationRequest) body: CreateInvitationRequest): Promise<InvitationCreated> {
    return this.invitations.invitePatient(actor, body);
  }

  @Post('staff')
  @HttpCode(201)
  createStaff(@Actor() actor: Actor, @ZodBody(CreateStaffRequest) body: CreateStaffRequest): Promise<CodeIssued> {
    return this.invitations.createStaff(actor, body);
  }
}
