import { Controller, Delete, Get, HttpCode, Put, UseGuards } from '@nestjs/common';
import { NotificationContactRequest, NotificationSettings, type NotificationChannels } from '@parley/protocol';
import { Actor } from '../common/actor.js';
import { ZodBody } from '../common/zod-body.decorator.js';
import { BearerGuard } from '../sessions/bearer.guard.js';
import { NotificationsService } from './notifications.service.js';

/** The channels on offer, a patient's SMS/e-mail contact, and the practice's notification settings (docs/protocol.md, "Notifications"). */
@Controller('api')
@UseGuards(BearerGuard)
export class NotificationsController {
  constructor(private readonly notifications: NotificationsService) {}

  @Get('notifications/channels')
  channels(): NotificationChannels {
    return this.notifications.channels();
  }

  @Put('notifications/contact')
  @HttpCode(204)
  putContact(@Actor() actor: Actor, @ZodBody(NotificationContactRequest) body: NotificationContactRequest): Promise<void> {
    return this.notifications.putContact(actor, body);
  }

  @Delete('notifications/contact')
  @HttpCode(204)
  deleteContact(@Actor() actor: Actor): Promise<void> {
    return this.notifications.deleteContact(actor);
  }

  @Get('practice/notification-settings')
  settings(@Actor() actor: Actor): Promise<NotificationSettings> {
    return this.notifications.settingsFor(actor);
  }

  @Put('practice/notification-settings')
  updateSettings(@Actor() actor: Actor, @ZodBody(NotificationSettings) body: NotificationSettings): Promise<NotificationSettings> {
    return this.notifications.updateSettings(actor, body);
  }
}
