// What the page and the service worker tell each other about the verified code bundle (docs/patient-client.md,
// "Verified code bundle"). Shared by both, so each side speaks the other's messages.

/**
 * Why an update was refused: `signature` — the manifest is missing its valid signature by the pinned release key (or
 * is malformed); `file` — a file the server serves differs from the hash its signed manifest lists; `key` — a new
 * service worker carries another release key than the one pinned at install.
 */
export type RefusalReason = 'signature' | 'file' | 'key';

/** The service worker refused what the server now serves; it keeps serving the installed, verified version. */
export interface BundleRefusedMessage {
  type: 'parley:bundle-refused';
  reason: RefusalReason;
}

/** A newer release verified and is stored: the next page load uses it. */
export interface BundleUpdateReadyMessage {
  type: 'parley:bundle-update-ready';
  release: string;
}

/** The page asks the service worker to look for an update now (at start and now and then). */
export interface BundleCheckMessage {
  type: 'parley:bundle-check';
}

export type BundleMessage = BundleRefusedMessage | BundleUpdateReadyMessage;

const REASONS: readonly RefusalReason[] = ['signature', 'file', 'key'];

/** Whether `data` (from `navigator.serviceWorker`'s message event) is one of the bundle's messages. */
export function isBundleMessage(data: unknown): data is BundleMessage {
  if (typeof data !== 'object' || data === null) return false;
  const candidate = data as Record<string, unknown>;
  if (candidate['type'] === 'parley:bundle-refused') return REASONS.includes(candidate['reason'] as RefusalReason);
  return candidate['type'] === 'parley:bundle-update-ready' && typeof candidate['release'] === 'string';
}

/** Whether `data` (from a page) asks for an update check. */
export function isBundleCheckMessage(data: unknown): data is BundleCheckMessage {
  return typeof data === 'object' && data !== null && (data as Partial<BundleCheckMessage>).type === 'parley:bundle-check';
}
