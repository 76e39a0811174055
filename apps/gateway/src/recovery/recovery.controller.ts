import { Controller, Get, HttpCode, Ip, Post, UseGuards } from '@nestjs/common';
import {
  ApproveRecoveryRequest,
  CompleteRecoveryRequest,
  RecoveryLookupRequest,
  StartRecoveryRequest,
  SubmitRecoveryRequest,
  type RecoveryDetails,
  type RecoveryHistory,
  type RecoverySummary,
} from '@parley/protocol';
import { Actor } from '../common/actor.js';
import { UuidParam } from '../common/uuid-param.decorator.js';
import { ZodBody } from '../common/zod-body.decorator.js';
import { BearerGuard } from '../sessions/bearer.guard.js';
import { RecoveryService } from './recovery.service.js';

/** The patient's side of a recovery: no session (they forgot the passphrase), rate-limited like invitation lookups instead. */
@Controller('api/auth/recovery')
export class RecoveryPatientController {
  constructor(private readonly recoveries: RecoveryService) {}

  @Post()
  @HttpCode(200)
  lookUp(@ZodBody(RecoveryLookupRequest) body: RecoveryLookupRequest, @Ip() ip: string | undefined): Promise<RecoveryDetails> {
    return this.recoveries.lookUp(body, ip);
  }

  @Post('submit')
  @HttpCode(200)
  submit(@ZodBody(SubmitRecoveryRequest) body: SubmitRecoveryRequest, @Ip() ip: string | undefined): Promise<{ recoveryId: string }> {
    return this.recoveries.submit(body, ip);
  }
}

/** The staff side of a recovery: start, list, approve, the history to re-seal, complete. */
@Controller('api/recoveries')
@UseGuards(BearerGuard)
export class RecoveryStaffController {
  constructor(private readonly recoveries: RecoveryService) {}

  @Post()
  @HttpCode(201)
  start(@Actor() actor: Actor, @ZodBody(StartRecoveryRequest) body: StartRecoveryRequest): Promise<RecoverySummary> {
    return this.recoveries.start(actor, body);
  }

  @Get()
  list(@Actor() actor: Actor): Promise<RecoverySummary[]> {
    return this.recoveries.list(actor);
  }

  @Post(':id/approvals')
  @HttpCode(200)
  approve(@Actor() actor: Actor, @UuidParam('id') id: string, @ZodBody(ApproveRecoveryRequest) body: ApproveRecoveryRequest): Promise<RecoverySummary> {
    return this.recoveries.approve(actor, id.toLowerCase(), body);
  }

  @Get(':id/history')
  history(@Actor() actor: Actor, @UuidParam('id') id: string): Promise<RecoveryHistory> {
    return this.recoveries.history(actor, id.toLowerCase());
  }

  @Post(':id/complete')
  @HttpCode(200)
  complete(@Actor() actor: Actor, @UuidParam('id') id: string, @ZodBody(CompleteRecoveryRequest) body: CompleteRecoveryRequest): Promise<RecoverySummary> {
    return this.recoveries.complete(actor, id.toLowerCase(), body);
  }
}
