import { Inject, Injectable, Logger } from '@nestjs/common';
import type { PushPayload } from '@parley/protocol';
import webPush from 'web-push';
import { APP_CONFIG, type AppConfig } from '../config.js';
import type { NotificationChannel, NotificationTarget } from './notification-channel.js';
import { PushSubscriptionsRepository, type StoredPushSubscription } from './push-subscriptions.repository.js';
import { VapidKeysService } from './vapid-keys.service.js';

/** How long one push request may take before it counts as failed. */
const PUSH_TIMEOUT_MS = 10_000;

/**
 * Web Push (RFC 8030 with VAPID, RFC 8292, and an aes128gcm payload, RFC 8291): one request per subscribed device of
 * the patient, carrying only the content-free `PushPayload`. `web-push` signs and encrypts; the request goes through
 * fetch, so a push service on loopback http (tests, PUSH_ALLOW_INSECURE_ENDPOINTS) works as an https one does.
 * A 404 or 410 means the subscription is gone: it is deleted.
 */
@Injectable()
export class PushChannel implements NotificationChannel {
  readonly name = 'push';
  private readonly logger = new Logger(PushChannel.name);

  constructor(
    private readonly subscriptions: PushSubscriptionsRepository,
    private readonly vapid: VapidKeysService,
    @Inject(APP_CONFIG) private readonly config: Pick<AppConfig, 'push'>,
  ) {}

  async notify(target: NotificationTarget): Promise<boolean> {
    const devices = await this.subscriptions.forUser(target.patientUserId);
    if (devices.length === 0) return false;
    const key = await this.vapid.currentKey();
    const payload: PushPayload = { v: 1, kind: 'new-message', conversationId: target.conversationId, title: target.practiceName };
    const body = JSON.stringify(payload);
    const sent = await Promise.all(
      devices
        // A subscription made under a retired key would be refused by its push service: the rotation dropped those.
        .filter((device) => device.vapidKeyId === key.id)
        .map((device) => this.send(device, body, key)),
    );
    return sent.some(Boolean);
  }

  private async send(device: StoredPushSubscription, body: string, key: { publicKey: string; privateKey: string }): Promise<boolean> {
    const request = webPush.generateRequestDetails({ endpoint: device.endpoint, keys: device.keys }, body, {
      vapidDetails: { subject: this.config.push.vapidSubject, publicKey: key.publicKey, privateKey: key.privateKey },
      TTL: this.config.push.ttlSeconds,
      urgency: 'high',
      contentEncoding: 'aes128gcm',
    });
    let status: number;
    try {
      const response = await fetch(request.endpoint, {
        method: request.method,
        headers: request.headers as Record<string, string>,
        body: request.body,
        redirect: 'error',
        signal: AbortSignal.timeout(PUSH_TIMEOUT_MS),
      });
      await response.body?.cancel();
      status = response.status;
    } catch (error) {
      // The endpoint's host is the push service's; logged by device id only (the endpoint URL identifies the device there).
      this.logger.warn({ deviceId: device.deviceId, err: error }, 'push request failed');
      return false;
    }
    if (status === 404 || status === 410) {
      await this.subscriptions.removeGone(device.deviceId, device.endpoint);
      this.logger.log({ deviceId: device.deviceId, status }, 'push subscription gone: deleted');
      return false;
    }
    if (status < 200 || status >= 300) {
      this.logger.warn({ deviceId: device.deviceId, status }, 'push service refused the notice');
      return false;
    }
    return true;
  }
}
