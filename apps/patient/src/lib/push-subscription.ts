// This browser's Web Push subscription for the patient app's service worker (the SW, `/sw.js`, is registered by
// main.ts). Only browser APIs here: the gateway is told about the subscription through `connection`.
import type { PushSubscriptionRequest } from '@parley/protocol';

/** How long to wait for the service worker to be active before giving up (it may have failed to install). */
const READY_TIMEOUT_MS = 10_000;

/** A subscribe or unsubscribe that could not happen: `unsupported` (no service worker or push here), `blocked` (permission refused). */
export class PushSubscriptionError extends Error {
  constructor(readonly code: 'unsupported' | 'blocked') {
    super(code === 'blocked' ? 'notifications are blocked for this site' : 'push is not available in this browser');
    this.name = 'PushSubscriptionError';
  }
}

/** Whether this browser can receive pushes for a web page (Safari on an iPhone only once the app is on the home screen). */
export function isPushSupported(): boolean {
  return 'serviceWorker' in navigator && 'PushManager' in window && 'Notification' in window;
}

/** The notification permission of this site (`denied` where push is not supported). */
export function notificationPermission(): NotificationPermission {
  return isPushSupported() ? Notification.permission : 'denied';
}

/** Asks the browser for permission to show notifications (needs the patient's click). */
export async function requestNotificationPermission(): Promise<NotificationPermission> {
  if (!isPushSupported()) return 'denied';
  return Notification.requestPermission();
}

function fromBase64Url(text: string): Uint8Array<ArrayBuffer> {
  const base64 = text.replace(/-/g, '+').replace(/_/g, '/');
  const binary = atob(base64 + '='.repeat((4 - (base64.length % 4)) % 4));
  return Uint8Array.from(binary, (char) => char.charCodeAt(0));
}

function isSameKey(current: ArrayBuffer | null, wanted: Uint8Array): boolean {
  if (!current || current.byteLength !== wanted.length) return false;
  const bytes = new Uint8Array(current);
  return bytes.every((byte, index) => byte === wanted[index]);
}

function toBody(subscription: PushSubscription): PushSubscriptionRequest {
  const { endpoint, keys } = subscription.toJSON();
  const p256dh = keys?.['p256dh'];
  const auth = keys?.['auth'];
  if (!endpoint || !p256dh || !auth) throw new PushSubscriptionError('unsupported');
  return { endpoint, keys: { p256dh, auth } };
}

/** The service worker's registration, once it is active. @throws PushSubscriptionError `unsupported` */
async function activeRegistration(): Promise<ServiceWorkerRegistration> {
  if (!isPushSupported()) throw new PushSubscriptionError('unsupported');
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(new PushSubscriptionError('unsupported')), READY_TIMEOUT_MS);
  });
  try {
    // `ready` never settles without a service worker (one that failed to install): hence the timeout.
    return await Promise.race([navigator.serviceWorker.ready, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** This browser's subscription, if it has one (no waiting for a service worker). */
export async function currentPushSubscription(): Promise<PushSubscription | null> {
  if (!isPushSupported()) return null;
  const registration = await navigator.serviceWorker.getRegistration('/');
  return (await registration?.pushManager.getSubscription()) ?? null;
}

/**
 * Subscribes this browser under the gateway's VAPID key, or keeps its subscription when it was made under that key.
 * One made under another key (the gateway rotated its keys) is dropped and replaced: the push service would refuse the
 * gateway's pushes to it. Needs the notification permission.
 * @throws PushSubscriptionError `unsupported` (no active service worker or push service), `blocked` (permission refused)
 */
export async function subscribePush(vapidPublicKey: string): Promise<PushSubscriptionRequest> {
  if (notificationPermission() !== 'granted') throw new PushSubscriptionError('blocked');
  const registration = await activeRegistration();
  const key = fromBase64Url(vapidPublicKey);
  const existing = await registration.pushManager.getSubscription();
  if (existing && isSameKey(existing.options.applicationServerKey, key)) return toBody(existing);
  await existing?.unsubscribe().catch(() => undefined);
  try {
    return toBody(await registration.pushManager.subscribe({ userVisibleOnly: true, applicationServerKey: key }));
  } catch (error) {
    if ((error as { name?: string }).name === 'NotAllowedError') throw new PushSubscriptionError('blocked');
    throw new PushSubscriptionError('unsupported');
  }
}

/** Whether this browser's subscription was made under `vapidPublicKey` (false when it has none). */
export async function isSubscribedUnder(vapidPublicKey: string): Promise<boolean> {
  const subscription = await currentPushSubscription();
  return subscription !== null && isSameKey(subscription.options.applicationServerKey, fromBase64Url(vapidPublicKey));
}

/** Drops this browser's subscription (nothing to do when it has none): the push service forgets the endpoint. */
export async function unsubscribePush(): Promise<void> {
  const subscription = await currentPushSubscription().catch(() => null);
  await subscription?.unsubscribe().catch(() => undefined);
}
