// The service worker's push and notification-tap handlers (registered by sw.ts). A notification is seen by whoever
// holds the phone, perhaps the person a patient is afraid of: it says only that there is a message, never what it says,
// who wrote it or (unless the practice chose to show its name) where it is from (docs/patient-client.md, "Notifications
// and installing"). The push payload is read for the conversation to open and the practice's name, nothing else.
import type { PushPayload } from '@parley/protocol';
import { conversationLink, isConversationId, openConversationMessage } from '../lib/notification-link.js';

/** The only words a notification shows, whatever the push carried. */
export const NOTIFICATION_BODY = 'You have a new message';
/** The title when the practice did not choose to show its name: the app's own name, which names no practice or person. */
export const NEUTRAL_TITLE = 'Parley';
/** A practice name longer than this is cut: a title is a name, not a place for text. */
const MAX_TITLE_LENGTH = 60;
/** The app's icon beside the notification (the same for every practice). */
const ICON = '/icons/icon-192.png';
/** The tag of a notification whose push named no conversation: each such one replaces the last. */
const UNNAMED_TAG = 'parley';

/** The parts of a `PushEvent` the handler reads. */
interface PushEventLike {
  readonly data: { text(): string } | null;
  waitUntil(promise: Promise<unknown>): void;
}

/** The parts of a `NotificationEvent` the handler reads. */
interface NotificationClickEventLike {
  readonly notification: { readonly data: unknown; close(): void };
  waitUntil(promise: Promise<unknown>): void;
}

/** The parts of a `WindowClient` the handler uses. */
interface WindowClientLike {
  readonly url: string;
  focus(): Promise<unknown>;
  postMessage(message: unknown): void;
}

/**
 * The parts of the service worker's global scope the handlers use: `ServiceWorkerGlobalScope` has them all. Declared
 * here so this file also compiles with the page's DOM types (the app's tsconfig), which have no worker scope.
 */
export interface PushWorkerScope {
  readonly location: { readonly origin: string };
  readonly registration: { showNotification(title: string, options?: NotificationOptions): Promise<void> };
  readonly clients: {
    matchAll(options: { type: 'window'; includeUncontrolled: boolean }): Promise<readonly WindowClientLike[]>;
    openWindow(url: string): Promise<unknown>;
  };
  addEventListener(type: 'push', listener: (event: PushEventLike) => void): void;
  addEventListener(type: 'notificationclick', listener: (event: NotificationClickEventLike) => void): void;
}

/** What a notification shows and opens, read from a push's payload (`PushPayload` in @parley/protocol, JSON). */
export interface PushNotice {
  title: string;
  conversationId: string | null;
}

/**
 * Reads a push payload defensively: the server sends it, and the server is not trusted. Only a well-formed conversation
 * id and the practice's name (a short single line) are taken; a payload that is missing, not JSON or of another shape
 * still gives a notice (a push the patient asked for must show one) that opens the app's home.
 */
export function readPushNotice(text: string | null): PushNotice {
  let payload: unknown;
  try {
    payload = text ? JSON.parse(text) : null;
  } catch {
    payload = null;
  }
  const candidate = (typeof payload === 'object' && payload !== null ? payload : {}) as Partial<Record<keyof PushPayload, unknown>>;
  if (candidate.v !== 1 || candidate.kind !== 'new-message') return { title: NEUTRAL_TITLE, conversationId: null };
  const title = typeof candidate.title === 'string' ? candidate.title.replace(/\s+/g, ' ').trim().slice(0, MAX_TITLE_LENGTH) : '';
  return { title: title || NEUTRAL_TITLE, conversationId: isConversationId(candidate.conversationId) ? candidate.conversationId.toLowerCase() : null };
}

/** Whether a window is one of the patient app's (the staff app may share the origin under /staff/, docs/operations.md). */
function isPatientAppWindow(client: WindowClientLike, origin: string): boolean {
  const url = new URL(client.url);
  return url.origin === origin && !url.pathname.startsWith('/staff');
}

/**
 * Brings the patient app to the front and asks it to show the conversation: an open window gets a message (a reload
 * would lock it again, and it opens the conversation itself once unlocked), else a new window opens the conversation's
 * link (the app starts locked, or at sign-in, and opens it afterwards).
 */
async function openApp(scope: PushWorkerScope, conversationId: string | null): Promise<void> {
  const windows = await scope.clients.matchAll({ type: 'window', includeUncontrolled: true });
  const appWindow = windows.find((client) => isPatientAppWindow(client, scope.location.origin));
  if (!appWindow) {
    await scope.clients.openWindow(conversationId ? conversationLink(conversationId) : '/');
    return;
  }
  if (conversationId) appWindow.postMessage(openConversationMessage(conversationId));
  // A browser may refuse focus (no user activation left): the message has been delivered anyway.
  await appWindow.focus().catch(() => undefined);
}

/** Registers the `push` (show a content-free notification) and `notificationclick` (open the conversation) handlers. */
export function registerPushHandlers(scope: PushWorkerScope): void {
  scope.addEventListener('push', (event) => {
    let text: string | null;
    try {
      text = event.data?.text() ?? null;
    } catch {
      text = null;
    }
    const notice = readPushNotice(text);
    event.waitUntil(
      scope.registration.showNotification(notice.title, {
        body: NOTIFICATION_BODY,
        // One notification per conversation: a second push replaces the first instead of stacking up.
        tag: notice.conversationId ?? UNNAMED_TAG,
        icon: ICON,
        data: { conversationId: notice.conversationId },
      }),
    );
  });

  scope.addEventListener('notificationclick', (event) => {
    event.notification.close();
    const data = event.notification.data as { conversationId?: unknown } | null;
    const conversationId = isConversationId(data?.conversationId) ? data.conversationId : null;
    event.waitUntil(openApp(scope, conversationId));
  });
}
