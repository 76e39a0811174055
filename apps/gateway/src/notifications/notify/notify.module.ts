import { Module } from '@nestjs/common';
import { NOTIFY_CHANNEL } from '../notification-channel.js';
import { NotificationContactsModule } from '../notification-contacts.module.js';
import { NotifyChannel } from './notify.channel.js';

/** The SMS/e-mail channel through GOV.UK Notify, under NOTIFY_CHANNEL for the notifications dispatcher. */
@Module({
  imports: [NotificationContactsModule],
  providers: [NotifyChannel, { provide: NOTIFY_CHANNEL, useExisting: NotifyChannel }],
  exports: [NOTIFY_CHANNEL],
})
export class NotifyModule {}
