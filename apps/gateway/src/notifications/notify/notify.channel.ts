import { Inject, Injectable, Logger, type OnModuleDestroy } from '@nestjs/common';
import { Clock } from '../../common/clock.js';
import { APP_CONFIG, type AppConfig } from '../../config.js';
import type { NotificationChannel, NotificationTarget } from '../notification-channel.js';
import { NotificationContactsRepository } from '../notification-contacts.repository.js';
import { parseNotifyApiKey } from './notify-api-key.js';
import { NotifyClient, NotifyRequestError } from './notify-client.js';

/**
 * Tells a patient "you have a new message" by SMS or e-mail through GOV.UK Notify (docs/operations.md, "SMS and e-mail
 * through GOV.UK Notify"), at the contact they gave. The words are the template's, at Notify: the gateway sends the
 * template id, the address and, only when the practice chose to show its name, `practice_name`; never a message, a
 * clinician's name or a conversation id. Off (sends nothing) unless configured.
 */
@Injectable()
export class NotifyChannel implements NotificationChannel, OnModuleDestroy {
  readonly name = 'notify';
  private readonly logger = new Logger(NotifyChannel.name);
  private readonly client: NotifyClient | undefined;
  private readonly shutdown = new AbortController();

  constructor(
    @Inject(APP_CONFIG) private readonly config: Pick<AppConfig, 'notify'>,
    private readonly contacts: NotificationContactsRepository,
    private readonly clock: Clock,
  ) {
    const apiKey = config.notify ? parseNotifyApiKey(config.notify.apiKey) : null;
    if (config.notify && !apiKey) this.logger.error('NOTIFY_API_KEY is not {key_name}-{service_id}-{secret_key} with two UUIDs: no text or e-mail notices');
    this.client = config.notify && apiKey ? new NotifyClient({ apiKey, baseUrl: config.notify.baseUrl }, { signal: this.shutdown.signal }) : undefined;
  }

  onModuleDestroy(): void {
    this.shutdown.abort();
  }

  /**
   * Sends the notice to the patient's contact; false when there is none, its channel is off, or Notify did not take it.
   * A refused address (400) is marked failing and not used again until the patient changes it; a refused key (401/403)
   * is the operator's to fix. Logs ids and Notify's error names, never the address.
   */
  async notify(target: NotificationTarget): Promise<boolean> {
    if (!this.client) return false;
    const contact = await this.contacts.contactOf(target.patientUserId);
    if (!contact) return false;
    const templateId = contact.channel === 'sms' ? this.config.notify?.smsTemplateId : this.config.notify?.emailTemplateId;
    // A contact given while the channel was on, kept after the operator turned it off.
    if (!templateId) return false;
    const ids = { patientUserId: target.patientUserId, conversationId: target.conversationId, channel: contact.channel };
    try {
      const { id } = await this.client.send({
        route: contact.channel,
        recipient: contact.address,
        templateId,
        ...(target.practiceName !== null && { personalisation: { practice_name: target.practiceName } }),
      });
      this.logger.log({ ...ids, notifyId: id }, 'notice sent through Notify');
      return true;
    } catch (error) {
      if (!(error instanceof NotifyRequestError)) throw error;
      const failure = { ...ids, status: error.status, errors: error.errorNames };
      if (error.status === 400) {
        await this.contacts.markFailing(target.patientUserId, this.clock.now());
        this.logger.warn(failure, 'Notify refused the contact; it is marked failing until the patient changes it');
      } else if (error.status === 401 || error.status === 403) {
        this.logger.error(failure, 'Notify refused the API key (NOTIFY_API_KEY, or the clock is off by more than 30 s)');
      } else {
        this.logger.warn(failure, 'Notify did not take the notice');
      }
      return false;
    }
  }
}
