import type { NotificationChannels, NotificationContactChannel } from '@parley/protocol';
import { contextPair } from '@parley/ui';
import * as connection from '../connection';
import {
  currentPushSubscription,
  isPushSupported,
  notificationPermission,
  PushSubscriptionError,
  requestNotificationPermission,
  subscribePush,
  unsubscribePush,
} from '../push-subscription';
import { describeError } from './notices';
import type { PatientApp } from './patient-app.svelte';

const BLOCKED =
  'Your browser is blocking notifications from Parley. To get them, allow notifications for this site in your browser’s settings, then try again.';
const UNSUPPORTED = 'This browser cannot get notifications from Parley just now. Try again later, or use another browser.';

function describePushError(error: unknown): string {
  if (error instanceof PushSubscriptionError) return error.code === 'blocked' ? BLOCKED : UNSUPPORTED;
  return describeError((error as { code?: string }).code ?? 'internal');
}

/**
 * A UK mobile number as typed (07700 900123) in the international form the gateway takes (+447700900123); anything
 * else is passed on without spaces, for the gateway to judge.
 */
export function normalisePhoneNumber(typed: string): string {
  const compact = typed.replace(/[\s()-]/g, '');
  return /^0\d{10}$/.test(compact) ? `+44${compact.slice(1)}` : compact;
}

/**
 * Notifications on this device, as the patient chose them: a content-free Web Push notification when the practice
 * replies and no window of Parley is connected, and (when the practice set it up) a text or e-mail instead. The
 * patient is asked once, after their first conversation opened (docs/patient-client.md, "Notifications and
 * installing"); the answer is kept with the keys, in `PatientApp.pushChoice`.
 */
export class NotificationsState {
  /** Whether this browser can get pushes at all. */
  readonly isSupported = isPushSupported();
  /** The site's notification permission, as last read. */
  permission = $state<NotificationPermission>(notificationPermission());
  /** Whether this device gets notifications: the browser holds a subscription the gateway was given. */
  isOn = $state(false);
  isBusy = $state(false);
  /** Plain words for the last failure to turn notifications on or off. */
  error = $state<string | null>(null);
  /** What the practice offers besides push (text, e-mail); null until known. */
  channels = $state.raw<NotificationChannels | null>(null);
  /** Plain words for the outcome of saving or removing a contact (`isError` says which). */
  contactOutcome = $state<{ text: string; isError: boolean } | null>(null);

  constructor(private readonly app: PatientApp) {}

  /** Whether the chat screen asks about notifications: this browser can get them, and the patient was never asked here. */
  get shouldOffer(): boolean {
    return this.isSupported && !this.isOn && this.permission !== 'denied' && this.app.pushChoice === null;
  }

  /** Whether the practice offers text messages or e-mails. */
  get hasContactChannels(): boolean {
    return Boolean(this.channels?.sms || this.channels?.email);
  }

  /**
   * On each new session: learns what the practice offers, and keeps the gateway told of this device's subscription
   * when the patient opted in (a new device after sign-in, or one the gateway dropped after the push service said
   * it was gone), re-subscribing if the gateway's VAPID key changed (rotation). A subscription the patient did not
   * opt into on this device (left by someone who did not sign out of a device that was not remembered) is dropped.
   */
  async refresh(): Promise<void> {
    const token = this.app.keys?.signedIn.session.token;
    if (!token) return;
    this.permission = notificationPermission();
    void this.loadChannels(token);
    const subscription = await currentPushSubscription().catch(() => null);
    if (this.app.pushChoice !== 'on' || this.permission !== 'granted') {
      this.isOn = false;
      // Opted in, then blocked in the browser's settings: the gateway need not push to this device any more.
      if (this.app.pushChoice === 'on') void connection.deletePushSubscription(token).catch(() => undefined);
      if (subscription) await unsubscribePush();
      return;
    }
    // Opted in: on while the browser has its subscription, also offline (the gateway is told when the session is back).
    this.isOn = subscription !== null;
    try {
      const subscribed = await subscribePush(await connection.vapidPublicKey(token));
      await connection.putPushSubscription(token, subscribed);
      this.isOn = true;
    } catch {
      // Offline, or the push service cannot be reached: the next session tries again.
    }
  }

  /**
   * Turns notifications on (from the patient's click: the browser asks its permission), subscribes this browser under
   * the gateway's key and gives the gateway the subscription. Answers whether they are on; `error` says why not.
   */
  async turnOn(): Promise<boolean> {
    const token = this.app.keys?.signedIn.session.token;
    if (!token || this.isBusy) return false;
    this.isBusy = true;
    this.error = null;
    try {
      this.permission = await requestNotificationPermission();
      if (this.permission !== 'granted') throw new PushSubscriptionError('blocked');
      const subscribed = await subscribePush(await connection.vapidPublicKey(token));
      await connection.putPushSubscription(token, subscribed);
      this.isOn = true;
      await this.app.setPushChoice('on');
      return true;
    } catch (error) {
      this.error = describePushError(error);
      // Half done (subscribed, but the gateway was not told): the browser keeps nothing the patient did not get.
      if (!this.isOn) await unsubscribePush();
      return false;
    } finally {
      this.isBusy = false;
    }
  }

  /** Turns notifications off on this device: the gateway forgets the subscription and the browser drops it. Not asked again. */
  async turnOff(): Promise<void> {
    const token = this.app.keys?.signedIn.session.token;
    if (!token || this.isBusy) return;
    this.isBusy = true;
    this.error = null;
    // Offline, the gateway keeps it for now; the push service answers its next push with 410 and the gateway drops it then.
    await connection.deletePushSubscription(token).catch(() => undefined);
    await unsubscribePush();
    this.isOn = false;
    await this.app.setPushChoice('declined').catch(() => undefined);
    this.isBusy = false;
  }

  /** "Not now": the chat screen does not ask again on this device (Privacy and security still can turn them on). */
  async notNow(): Promise<void> {
    await this.app.setPushChoice('declined');
  }

  /** Keeps the patient's mobile number or e-mail address at the practice for "you have a new message" texts or e-mails. */
  async saveContact(channel: NotificationContactChannel, typed: string): Promise<boolean> {
    const token = this.app.keys?.signedIn.session.token;
    if (!token) return false;
    const address = channel === 'sms' ? normalisePhoneNumber(typed) : typed.trim();
    try {
      await connection.putNotificationContact(token, { channel, address });
      this.contactOutcome = {
        text: channel === 'sms' ? 'Saved. A text will say only “You have a new message”.' : 'Saved. An e-mail will say only “You have a new message”.',
        isError: false,
      };
      return true;
    } catch (error) {
      const code = (error as { code?: string }).code ?? 'internal';
      this.contactOutcome = {
        text:
          code === 'invalid_payload'
            ? channel === 'sms'
              ? 'That is not a mobile number we can text. Check it and try again, for example 07700 900123.'
              : 'That is not an e-mail address we can use. Check it and try again.'
            : describeError(code),
        isError: true,
      };
      return false;
    }
  }

  /** Removes the patient's number or address from the practice's server: no more texts or e-mails. */
  async removeContact(): Promise<void> {
    const token = this.app.keys?.signedIn.session.token;
    if (!token) return;
    try {
      await connection.deleteNotificationContact(token);
      this.contactOutcome = { text: 'Removed. The practice will not text or e-mail you about new messages.', isError: false };
    } catch (error) {
      this.contactOutcome = { text: describeError((error as { code?: string }).code ?? 'internal'), isError: true };
    }
  }

  private async loadChannels(token: string): Promise<void> {
    try {
      this.channels = await connection.notificationChannels(token);
    } catch {
      // Offline: the next session asks again; until then no text or e-mail is offered.
    }
  }
}

export const [setNotificationsState, getNotificationsState] = contextPair<NotificationsState>('notifications');
