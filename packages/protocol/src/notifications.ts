import { z } from 'zod';

// ---------------------------------------------------------------------------------------------
// Notifications when the app is closed (issue #19). A notice says only "you have a new message": never content, never
// a clinician's name, and the practice's name only when its manager chose so (docs/protocol.md, "Notifications").

/** Unpadded base64url whose decoded length is exactly `bytes` bytes (Web Push keys come in this form). */
function base64urlExact(bytes: number) {
  const length = Math.ceil((bytes * 4) / 3);
  return z
    .string()
    .length(length, `must be ${bytes} bytes in unpadded base64url`)
    .regex(/^[A-Za-z0-9_-]*$/, 'not base64url');
}

/** A P-256 public key, uncompressed (0x04 ‖ x ‖ y). */
export const P256_PUBLIC_KEY_BYTES = 65;
/** The Web Push authentication secret (RFC 8291). */
export const PUSH_AUTH_SECRET_BYTES = 16;
/** The longest push endpoint URL accepted. */
export const MAX_PUSH_ENDPOINT_LENGTH = 2_048;

/**
 * `PUT /api/push/subscription`: the caller's device's Web Push subscription, as `PushSubscription.toJSON()` gives it
 * (without `expirationTime`). The endpoint is https; http only to a loopback host, which the gateway allows only when
 * `PUSH_ALLOW_INSECURE_ENDPOINTS=true` (tests).
 */
export const PushSubscriptionRequest = z
  .object({
    endpoint: z.url({ protocol: /^https?$/ }).max(MAX_PUSH_ENDPOINT_LENGTH),
    keys: z
      .object({
        p256dh: base64urlExact(P256_PUBLIC_KEY_BYTES).refine((key) => key.startsWith('B'), 'not an uncompressed P-256 point'),
        auth: base64urlExact(PUSH_AUTH_SECRET_BYTES),
      })
      .strict(),
  })
  .strict();
export type PushSubscriptionRequest = z.infer<typeof PushSubscriptionRequest>;

/** `GET /api/push/vapid-public-key`: the application server key a device subscribes with. */
export interface VapidPublicKey {
  /** Unpadded base64url of the 65-byte uncompressed P-256 point. */
  publicKey: string;
}

/** A time of day, HH:MM on a 24-hour clock. */
const TimeOfDay = z.string().regex(/^([01][0-9]|2[0-3]):[0-5][0-9]$/, 'not a time HH:MM');

/** `GET`/`PUT /api/practice/notification-settings` (PUT managers): what a notice shows and when it may go. */
export const NotificationSettings = z
  .object({
    /** False (the default): the notice says only "You have a new message"; true: its title is the practice's name. */
    showPracticeName: z.boolean(),
    /** Notices due in this window (the practice's local time; may span midnight) wait until it ends. Null: none. */
    quietHours: z
      .object({ start: TimeOfDay, end: TimeOfDay })
      .strict()
      .refine((hours) => hours.start !== hours.end, 'start and end must differ')
      .nullable(),
  })
  .strict();
export type NotificationSettings = z.infer<typeof NotificationSettings>;

/** A practice that never changed its notification settings: no practice name, no quiet hours. */
export const DEFAULT_NOTIFICATION_SETTINGS: Readonly<NotificationSettings> = Object.freeze({ showPracticeName: false, quietHours: null });

/** What the push payload (encrypted to the device by Web Push) carries: nothing else, ever. */
export interface PushPayload {
  v: 1;
  kind: 'new-message';
  conversationId: string;
  /** The practice's name only when it chose `showPracticeName`; else null (the app shows a neutral title). */
  title: string | null;
}

/** An E.164 phone number: +, then up to 15 digits. */
const E164 = z.string().regex(/^\+[1-9][0-9]{6,14}$/, 'not an E.164 phone number');

/** `PUT /api/notifications/contact`: where the SMS or e-mail channel tells this patient a message has come. */
export const NotificationContactRequest = z.discriminatedUnion('channel', [
  z.object({ channel: z.literal('sms'), address: E164 }).strict(),
  z.object({ channel: z.literal('email'), address: z.email().max(254) }).strict(),
]);
export type NotificationContactRequest = z.infer<typeof NotificationContactRequest>;
export const NOTIFICATION_CONTACT_CHANNELS = ['sms', 'email'] as const;
export type NotificationContactChannel = (typeof NOTIFICATION_CONTACT_CHANNELS)[number];

/** `GET /api/notifications/channels`: what the patient app may offer. */
export interface NotificationChannels {
  /** Web Push: the VAPID key is made at first start, so always true. */
  push: boolean;
  /** The Notify adapter is configured for text messages. */
  sms: boolean;
  /** The Notify adapter is configured for e-mail. */
  email: boolean;
}
