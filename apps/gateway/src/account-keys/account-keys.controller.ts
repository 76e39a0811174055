import { Controller, Get, HttpCode, Put, UseGuards } from '@nestjs/common';
import { AccountKeyCertificateRequest, KeyBackup, type AccountEnrolment } from '@parley/protocol';
import type { z } from 'zod';
import { Actor } from '../common/actor.js';
import { UuidParam } from '../common/uuid-param.decorator.js';
import { ZodBody } from '../common/zod-body.decorator.js';
import { AccountKeysService } from './account-keys.service.js';
import { BearerGuard } from '../sessions/bearer.guard.js';

/** Patient account keys: the caller's backup, and the practice's certificate over a patient's key. */
@Controller('api')
@UseGuards(BearerGuard)
export class AccountKeysController {
  constructor(private readonly accountKeys: AccountKeysService) {}

  @Get('keys/account')
  accountEnrolment(@Actor() actor: Actor): Promise<AccountEnrolment> {
    return this.accountKeys.accountEnrolment(actor);
  }

  @Get('keys/backup')
  backup(@Actor() actor: Actor): Promise<KeyBackup> {
    return this.accountKeys.backup(actor);
  }

  @Put('keys/backup')
  @HttpCode(204)
  replaceBackup(@Actor() actor: Actor, @ZodBody(KeyBackup) body: KeyBackup): Promise<void> {
    return this.accountKeys.replaceBackup(actor, body);
  }

  @Put('users/:id/account-key-certificate')
  @HttpCode(204)
  certify(
    @Actor() actor: Actor,
    @UuidParam('id') patientId: string,
    @ZodBody(AccountKeyCertificateRequest) body: z.infer<typeof AccountKeyCertificateRequest>,
  ): Promise<void> {
    return this.accountKeys.certify(actor, patientId, Buffer.from(body.certificate, 'base64'));
  }
}
