import { Module } from '@nestjs/common';
import { NotificationContactsRepository } from './notification-contacts.repository.js';

/** The patients' SMS/e-mail contacts, for the Notify channel (notify/notify.module.ts imports this, not NotificationsModule). */
@Module({ providers: [NotificationContactsRepository], exports: [NotificationContactsRepository] })
export class NotificationContactsModule {}
