import { Controller, Get, HttpCode, Post, Put, UseGuards } from '@nestjs/common';
import { DeviceCertificateRequest, type DeviceInfo } from '@parley/protocol';
import type { z } from 'zod';
import { Actor } from '../common/actor.js';
import { UuidParam } from '../common/uuid-param.decorator.js';
import { ZodBody } from '../common/zod-body.decorator.js';
import { BearerGuard } from '../sessions/bearer.guard.js';
import { DevicesService } from './devices.service.js';

/** The caller's devices. */
@Controller('api/devices')
@UseGuards(BearerGuard)
export class DevicesController {
  constructor(private readonly devices: DevicesService) {}

  @Get()
  list(@Actor() actor: Actor): Promise<DeviceInfo[]> {
    return this.devices.list(actor);
  }

  @Post(':id/revoke')
  @HttpCode(204)
  revoke(@Actor() actor: Actor, @UuidParam('id') deviceId: string): Promise<void> {
    return this.devices.revoke(actor, deviceId);
  }

  @Put(':id/certificate')
  @HttpCode(204)
  certify(
    @Actor() actor: Actor,
    @UuidParam('id') deviceId: string,
    @ZodBody(DeviceCertificateRequest) body: z.infer<typeof DeviceCertificateRequest>,
  ): Promise<void> {
    return this.devices.certify(actor, deviceId, Buffer.from(body.certificate, 'base64'), body.certifiedAs);
  }
}
