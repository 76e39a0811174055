import { Module } from '@nestjs/common';
import { AuditModule } from '../audit/audit.module.js';
import { RecordModule } from '../record/record.module.js';
import { SessionsModule } from '../sessions/sessions.module.js';
import { NOTIFICATION_CHANNELS, NOTIFY_CHANNEL, type NotificationChannel } from './notification-channel.js';
import { NotificationContactsModule } from './notification-contacts.module.js';
import { NotificationDispatcher } from './notification-dispatcher.js';
import { NotificationsController } from './notifications.controller.js';
import { NotificationsGateway } from './notifications.gateway.js';
import { NotificationsRepository } from './notifications.repository.js';
import { NotificationsService } from './notifications.service.js';
import { NotifyModule } from './notify/notify.module.js';
import { PushChannel } from './push.channel.js';
import { PushController } from './push.controller.js';
import { PushSubscriptionsRepository } from './push-subscriptions.repository.js';
import { VapidKeysService } from './vapid-keys.service.js';

/**
 * Notices when the app is closed (docs/protocol.md, "Notifications"): the push and notification routes, the VAPID key,
 * and the dispatcher that tells an away patient "you have a new message" through the channels in order — Web Push,
 * then the Notify channel (SMS/e-mail) when its module provides `NOTIFY_CHANNEL`.
 */
@Module({
  imports: [SessionsModule, AuditModule, RecordModule, NotificationContactsModule, NotifyModule],
  controllers: [PushController, NotificationsController],
  providers: [
    NotificationsService,
    NotificationsRepository,
    PushSubscriptionsRepository,
    VapidKeysService,
    PushChannel,
    NotificationsGateway,
    NotificationDispatcher,
    {
      provide: NOTIFICATION_CHANNELS,
      useFactory: (push: PushChannel, notify?: NotificationChannel): NotificationChannel[] => (notify ? [push, notify] : [push]),
      inject: [PushChannel, { token: NOTIFY_CHANNEL, optional: true }],
    },
  ],
  exports: [NotificationDispatcher],
})
export class NotificationsModule {}
