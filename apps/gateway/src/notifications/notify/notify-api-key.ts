import { createHmac } from 'node:crypto';

/** The two parts of a GOV.UK Notify API key the gateway uses: whose service it is, and the secret that signs tokens. */
export interface NotifyApiKey {
  /** The `iss` of every token. */
  serviceId: string;
  /** The HS256 signing key; never sent, never logged. */
  secretKey: string;
}

const UUID = '[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}';
// `{key_name}-{service_id}-{secret_key}`: the name may itself hold hyphens, so the two UUIDs are read from the end.
const API_KEY = new RegExp(`^[^\\s]+-(${UUID})-(${UUID})$`, 'i');

/** Splits a Notify API key (`{key_name}-{service_id}-{secret_key}`, both ids UUIDs); `null` when it has another shape. */
export function parseNotifyApiKey(value: string): NotifyApiKey | null {
  const match = API_KEY.exec(value.trim());
  if (!match?.[1] || !match[2]) return null;
  return { serviceId: match[1], secretKey: match[2] };
}

/**
 * The bearer token of one Notify request (docs/operations.md, "Text and e-mail notices"): a JWT signed
 * HS256 with the secret key, claims `iss` (the service id) and `iat` (seconds). Notify refuses a token whose `iat` is
 * more than 30 s from its clock, so one is made for every request and never cached.
 */
export function notifyToken(key: NotifyApiKey, now: Date): string {
  const header = base64url(JSON.stringify({ typ: 'JWT', alg: 'HS256' }));
  const claims = base64url(JSON.stringify({ iss: key.serviceId, iat: Math.floor(now.getTime() / 1000) }));
  const signature = createHmac('sha256', key.secretKey).update(`${header}.${claims}`).digest('base64url');
  return `${header}.${claims}.${signature}`;
}

function base64url(text: string): string {
  return Buffer.from(text, 'utf8').toString('base64url');
}
