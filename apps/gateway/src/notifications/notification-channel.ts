/** Whom to tell that a new message has come, and nothing else (docs/protocol.md, "Notifications"). */
export interface NotificationTarget {
  practiceId: string;
  patientUserId: string;
  conversationId: string;
  /** The practice's name only when its manager chose to show it; else null (the notice names nobody). */
  practiceName: string | null;
}

/**
 * One way to tell a patient "you have a new message", content-free: no message text, no clinician's name. Resolves
 * true when it sent something; it may reject (the dispatcher logs the failure and tries the next channel).
 */
export interface NotificationChannel {
  readonly name: string;
  notify(target: NotificationTarget): Promise<boolean>;
}

/** The channels the dispatcher tries, in order (Web Push first, then Notify when configured). */
export const NOTIFICATION_CHANNELS = Symbol('NOTIFICATION_CHANNELS');

/** The Notify channel's token (notify/notify.module.ts provides it when the adapter is built; optional). */
export const NOTIFY_CHANNEL = Symbol('NOTIFY_CHANNEL');
