import { Controller, Get, HttpCode, Post, Put, UseGuards } from '@nestjs/common';
import {
  AddAdminKeyRequest,
  AddRecordKeyGrantRequest,
  AddRecordKeyRequest,
  AddRootSuccessorRequest,
  RecertifyRecordKeyRequest,
  SetRootKeyRequest,
  type PracticeKeys,
} from '@parley/protocol';
import type { z } from 'zod';
import { BearerGuard } from '../sessions/bearer.guard.js';
import { Actor } from '../common/actor.js';
import { ZodBody } from '../common/zod-body.decorator.js';
import { PracticeKeysService } from './practice-keys.service.js';

/** The caller's practice's keys. Every route acts on the caller's own practice: there is no practice id to get wrong. */
@Controller('api/practice')
@UseGuards(BearerGuard)
export class PracticeKeysController {
  constructor(private readonly keys: PracticeKeysService) {}

  @Put('root-key')
  @HttpCode(204)
  setRootKey(@Actor() actor: Actor, @ZodBody(SetRootKeyRequest) body: z.infer<typeof SetRootKeyRequest>): Promise<void> {
    return this.keys.setRootKey(actor, Buffer.from(body.rootSignPublicKey, 'base64'));
  }

  @Post('record-keys')
  @HttpCode(204)
  addRecordKey(@Actor() actor: Actor, @ZodBody(AddRecordKeyRequest) body: AddRecordKeyRequest): Promise<void> {
    return this.keys.addRecordKey(actor, body);
  }

  @Post('root-successors')
  @HttpCode(204)
  addRootSuccessor(@Actor() actor: Actor, @ZodBody(AddRootSuccessorRequest) body: AddRootSuccessorRequest): Promise<void> {
    return this.keys.addRootSuccessor(actor, body);
  }

  @Post('admin-keys')
  @HttpCode(204)
  addAdminKey(@Actor() actor: Actor, @ZodBody(AddAdminKeyRequest) body: AddAdminKeyRequest): Promise<void> {
    return this.keys.addAdminKey(actor, body);
  }

  @Post('record-key-certifications')
  @HttpCode(204)
  recertifyRecordKey(@Actor() actor: Actor, @ZodBody(RecertifyRecordKeyRequest) body: RecertifyRecordKeyRequest): Promise<void> {
    return this.keys.recertifyRecordKey(actor, body);
  }

  @Post('record-key-grants')
  @HttpCode(204)
  addGrant(@Actor() actor: Actor, @ZodBody(AddRecordKeyGrantRequest) body: AddRecordKeyGrantRequest): Promise<void> {
    return this.keys.addGrant(actor, body);
  }

  @Get('keys')
  keysFor(@Actor() actor: Actor): Promise<PracticeKeys> {
    return this.keys.keysFor(actor);
  }
}
