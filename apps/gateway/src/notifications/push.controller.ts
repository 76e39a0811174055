import { Controller, Delete, Get, HttpCode, Put, UseGuards } from '@nestjs/common';
import { PushSubscriptionRequest, type VapidPublicKey } from '@parley/protocol';
import { Actor } from '../common/actor.js';
import { ZodBody } from '../common/zod-body.decorator.js';
import { BearerGuard } from '../sessions/bearer.guard.js';
import { NotificationsService } from './notifications.service.js';

/** Web Push for a patient's device (docs/protocol.md, "Notifications"): the VAPID key, the device's subscription. */
@Controller('api/push')
@UseGuards(BearerGuard)
export class PushController {
  constructor(private readonly notifications: NotificationsService) {}

  @Get('vapid-public-key')
  vapidPublicKey(@Actor() actor: Actor): Promise<VapidPublicKey> {
    return this.notifications.vapidPublicKey(actor);
  }

  @Put('subscription')
  @HttpCode(204)
  putSubscription(@Actor() actor: Actor, @ZodBody(PushSubscriptionRequest) body: PushSubscriptionRequest): Promise<void> {
    return this.notifications.putSubscription(actor, body);
  }

  @Delete('subscription')
  @HttpCode(204)
  deleteSubscription(@Actor() actor: Actor): Promise<void> {
    return this.notifications.deleteSubscription(actor);
  }
}
