/**
 * Where a tapped notification takes the patient: `<app URL>#conversation=<id>`. The id travels in the fragment, which
 * browsers never send to a server; the app reads it once, removes it from the address bar, and opens that conversation
 * only once the patient has opened the lock, and only if it is one of their own (docs/patient-client.md, "Notifications
 * and installing"). Shared by the page and the service worker, so both speak the same link and message.
 */
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** Whether a value is a conversation id (a UUID): anything else from a push, a link or a message is ignored. */
export function isConversationId(value: unknown): value is string {
  return typeof value === 'string' && UUID.test(value);
}

/** The app's address that opens a conversation (behind the lock). */
export function conversationLink(conversationId: string): string {
  return `/#conversation=${encodeURIComponent(conversationId)}`;
}

/** The conversation a fragment (`#conversation=<id>`) names; null when it names none. */
export function parseConversationLink(hash: string): string | null {
  if (!hash.startsWith('#')) return null;
  const id = new URLSearchParams(hash.slice(1)).get('conversation');
  return isConversationId(id) ? id.toLowerCase() : null;
}

/** What the service worker posts to an open app window when the patient taps a notification. */
export interface OpenConversationMessage {
  type: 'parley:open-conversation';
  conversationId: string;
}

/** The message that asks an open app window to show a conversation. */
export function openConversationMessage(conversationId: string): OpenConversationMessage {
  return { type: 'parley:open-conversation', conversationId };
}

/** Whether a message from the service worker asks to open a conversation (with a well-formed id). */
export function isOpenConversationMessage(data: unknown): data is OpenConversationMessage {
  const candidate = data as Partial<OpenConversationMessage> | null;
  return typeof candidate === 'object' && candidate !== null && candidate.type === 'parley:open-conversation' && isConversationId(candidate.conversationId);
}
