import { Inject, Injectable, Logger } from '@nestjs/common';
import type { NotificationChannels, NotificationContactRequest, NotificationSettings, PushSubscriptionRequest, VapidPublicKey } from '@parley/protocol';
import { AuditService } from '../audit/audit.service.js';
import type { Actor } from '../common/actor.js';
import { Clock } from '../common/clock.js';
import { DomainError } from '../common/domain-error.js';
import { requireRole } from '../common/require-role.js';
import { APP_CONFIG, type AppConfig } from '../config.js';
import { NotificationContactsRepository } from './notification-contacts.repository.js';
import { NotificationsRepository } from './notifications.repository.js';
import { isAllowedPushEndpoint } from './push-endpoint.js';
import { PushSubscriptionsRepository } from './push-subscriptions.repository.js';
import { VapidKeysService } from './vapid-keys.service.js';

/**
 * What patients and managers change about notices (docs/protocol.md, "Notifications"): a patient's devices' push
 * subscriptions and their SMS/e-mail contact, the practice's settings. None of it is content; contacts are audited
 * without the address.
 */
@Injectable()
export class NotificationsService {
  private readonly logger = new Logger(NotificationsService.name);

  constructor(
    private readonly subscriptions: PushSubscriptionsRepository,
    private readonly contacts: NotificationContactsRepository,
    private readonly notices: NotificationsRepository,
    private readonly vapid: VapidKeysService,
    private readonly audit: AuditService,
    private readonly clock: Clock,
    @Inject(APP_CONFIG) private readonly config: Pick<AppConfig, 'push' | 'notify'>,
  ) {}

  /** The application server key a patient's device subscribes with. @throws DomainError `forbidden` (not a patient) */
  async vapidPublicKey(actor: Actor): Promise<VapidPublicKey> {
    requireRole(actor, 'patient');
    return { publicKey: (await this.vapid.currentKey()).publicKey };
  }

  /**
   * Stores the caller's device's subscription, replacing the device's earlier one.
   * @throws DomainError `forbidden` (not a patient), `invalid_payload` (an endpoint the gateway does not post to), `unauthorized` (the session ended meanwhile)
   */
  async putSubscription(actor: Actor, subscription: PushSubscriptionRequest): Promise<void> {
    requireRole(actor, 'patient');
    if (!isAllowedPushEndpoint(subscription.endpoint, this.config.push.allowInsecureEndpoints)) {
      throw new DomainError('invalid_payload', 'The push endpoint must be an https address of a push service.');
    }
    const key = await this.vapid.currentKey();
    if (!(await this.subscriptions.put(actor.userId, actor.deviceId, subscription, key.id))) throw new DomainError('unauthorized');
    this.logger.log({ userId: actor.userId, deviceId: actor.deviceId }, 'push subscription stored');
  }

  /** Forgets the caller's device's subscription (none is fine). */
  async deleteSubscription(actor: Actor): Promise<void> {
    await this.subscriptions.removeForDevice(actor.deviceId);
  }

  /** Which channels the patient app may offer: push always; text and e-mail when the Notify adapter has their template. */
  channels(): NotificationChannels {
    return { push: true, sms: this.isContactChannelOn('sms'), email: this.isContactChannelOn('email') };
  }

  /**
   * Sets the patient's contact for text or e-mail notices (replacing any other).
   * @throws DomainError `forbidden` (not a patient, or that channel is not configured)
   */
  async putContact(actor: Actor, contact: NotificationContactRequest): Promise<void> {
    requireRole(actor, 'patient');
    if (!this.isContactChannelOn(contact.channel)) throw new DomainError('forbidden', 'The practice does not send notices that way.');
    await this.contacts.set(actor.userId, contact, this.clock.now());
    // The channel only: the number or address stays out of the trail and the logs.
    await this.audit.record(actor, 'notification-contact.set', { subjectUserId: actor.userId, data: { channel: contact.channel } });
  }

  /** Forgets the patient's contact (allowed even when the channel was turned off since). @throws DomainError `forbidden` (not a patient) */
  async deleteContact(actor: Actor): Promise<void> {
    requireRole(actor, 'patient');
    if (await this.contacts.remove(actor.userId)) await this.audit.record(actor, 'notification-contact.removed', { subjectUserId: actor.userId });
  }

  /** The caller's practice's notification settings (anyone signed in there). */
  settingsFor(actor: Actor): Promise<NotificationSettings> {
    return this.notices.settings(actor.practiceId);
  }

  /** Sets whether notices name the practice and its quiet hours. @throws DomainError `forbidden` (not a manager) */
  async updateSettings(actor: Actor, settings: NotificationSettings): Promise<NotificationSettings> {
    requireRole(actor, 'manager');
    await this.notices.updateSettings(actor.practiceId, settings, actor.userId, this.clock.now());
    await this.audit.record(actor, 'practice.notification_settings_changed', {
      data: { showPracticeName: settings.showPracticeName, quietStart: settings.quietHours?.start ?? null, quietEnd: settings.quietHours?.end ?? null },
    });
    this.logger.log({ userId: actor.userId, practiceId: actor.practiceId }, 'notification settings changed');
    return this.settingsFor(actor);
  }

  private isContactChannelOn(channel: NotificationContactRequest['channel']): boolean {
    const notify = this.config.notify;
    return channel === 'sms' ? !!notify?.smsTemplateId : !!notify?.emailTemplateId;
  }
}
