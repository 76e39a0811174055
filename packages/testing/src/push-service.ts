import { createDecipheriv, createECDH, createPublicKey, hkdfSync, randomBytes, randomUUID, verify, type ECDH } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/** A subscription as a browser's `PushSubscription.toJSON()` gives it: what a device sends the application server. */
export interface PushServiceSubscription {
  endpoint: string;
  keys: { p256dh: string; auth: string };
}

/** One push the service accepted, decrypted with the subscription's private keys. */
export interface PushDelivery {
  endpoint: string;
  /** The decrypted payload as text (RFC 8291), padding removed. */
  payload: string;
  ttl: number;
  urgency: string | null;
  /** The VAPID public key the request was signed with (base64url). */
  vapidPublicKey: string;
  /** The JWT's `sub` claim. */
  subject: string;
}

/** A push request the service refused, and why (a test asserts what the application server got wrong). */
export interface PushRefusal {
  endpoint: string;
  status: number;
  reason: string;
}

/** A local push service (RFC 8030) for tests: subscriptions it makes, pushes it decrypts and records. */
export interface LocalPushService {
  /** `http://127.0.0.1:<port>` */
  readonly url: string;
  readonly deliveries: readonly PushDelivery[];
  readonly refusals: readonly PushRefusal[];
  /** A new subscription on this service: a P-256 key pair and a 16-byte auth secret, of which the device gets the public parts. */
  subscribe(): PushServiceSubscription;
  /** Answers every later push to `endpoint` with `status` (404 or 410: the subscription is gone; 500: the service fails); null: normal again. */
  answerWith(endpoint: string, status: number | null): void;
  /** Answers every later push, to any endpoint, with `status` (the service is failing); null: normal again. */
  answerAllWith(status: number | null): void;
  /** Resolves with the deliveries once there are at least `count`, or rejects after `timeoutMs`. */
  waitForDeliveries(count: number, timeoutMs?: number): Promise<readonly PushDelivery[]>;
  /** Forgets what was delivered and refused. */
  clear(): void;
  close(): Promise<void>;
}

interface Subscriber {
  ecdh: ECDH;
  auth: Buffer;
}

/** A VAPID JWT may be valid for at most this long (RFC 8292 §2). */
const MAX_JWT_LIFETIME_S = 24 * 60 * 60;
const MAX_BODY_BYTES = 8_192;

/**
 * Starts a push service on a loopback port that implements what an application server uses of RFC 8030: `POST` to a
 * subscription's endpoint with a `TTL` header, VAPID authorisation (RFC 8292: `Authorization: vapid t=<ES256 JWT>,
 * k=<key>`, the JWT's `aud` the endpoint's origin, `exp` within 24 h, a `sub`), and an `aes128gcm` body (RFC 8188 with the
 * RFC 8291 key derivation), which it decrypts with the subscription's private key and auth secret. Answers `201 Created`.
 */
export async function startLocalPushService(): Promise<LocalPushService> {
  const subscribers = new Map<string, Subscriber>();
  const answers = new Map<string, number>();
  let answerAll: number | null = null;
  const deliveries: PushDelivery[] = [];
  const refusals: PushRefusal[] = [];
  const waiters = new Set<() => void>();

  const server = createServer((request, response) => {
    void handle(request, response).catch(() => {
      if (!response.headersSent) response.writeHead(500).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  async function handle(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const endpoint = `${url}${request.url ?? ''}`;
    const refuse = (status: number, reason: string) => {
      refusals.push({ endpoint, status, reason });
      response.writeHead(status, { 'content-type': 'text/plain' }).end(reason);
    };
    const body = await readBody(request);
    if (request.method !== 'POST') return refuse(405, 'method');
    const subscriber = subscribers.get(request.url ?? '');
    const forced = answers.get(endpoint) ?? answerAll;
    if (forced !== null && forced !== undefined) return refuse(forced, 'told to');
    if (!subscriber) return refuse(404, 'no such subscription');
    const ttl = request.headers['ttl'];
    if (ttl === undefined || !/^[0-9]+$/.test(String(ttl))) return refuse(400, 'TTL header missing');
    const vapid = checkVapid(request.headers['authorization'], new URL(url).origin);
    if (typeof vapid === 'string') return refuse(401, vapid);
    if (request.headers['content-encoding'] !== 'aes128gcm') return refuse(415, 'content encoding is not aes128gcm');
    let payload: string;
    try {
      payload = decrypt(body, subscriber);
    } catch (error) {
      return refuse(400, `cannot decrypt: ${(error as Error).message}`);
    }
    deliveries.push({
      endpoint,
      payload,
      ttl: Number(ttl),
      urgency: (request.headers['urgency'] as string | undefined) ?? null,
      vapidPublicKey: vapid.key,
      subject: vapid.sub,
    });
    for (const wake of waiters) wake();
    response.writeHead(201, { location: `${url}/messages/${randomUUID()}` }).end();
  }

  return {
    url,
    get deliveries() {
      return deliveries;
    },
    get refusals() {
      return refusals;
    },
    subscribe() {
      const ecdh = createECDH('prime256v1');
      ecdh.generateKeys();
      const auth = randomBytes(16);
      const path = `/push/${randomUUID()}`;
      subscribers.set(path, { ecdh, auth });
      return { endpoint: `${url}${path}`, keys: { p256dh: ecdh.getPublicKey().toString('base64url'), auth: auth.toString('base64url') } };
    },
    answerWith(endpoint, status) {
      if (status === null) answers.delete(endpoint);
      else answers.set(endpoint, status);
    },
    answerAllWith(status) {
      answerAll = status;
    },
    waitForDeliveries(count, timeoutMs = 5_000) {
      return new Promise((resolve, reject) => {
        const check = () => {
          if (deliveries.length < count) return;
          waiters.delete(check);
          clearTimeout(timer);
          resolve(deliveries);
        };
        const timer = setTimeout(() => {
          waiters.delete(check);
          reject(
            new Error(`push service: ${deliveries.length} of ${count} deliveries after ${timeoutMs} ms (refused: ${refusals.map((r) => r.reason).join('; ')})`),
          );
        }, timeoutMs);
        waiters.add(check);
        check();
      });
    },
    clear() {
      deliveries.length = 0;
      refusals.length = 0;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

async function readBody(request: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of request) {
    size += (chunk as Buffer).length;
    if (size > MAX_BODY_BYTES) throw new Error('body too large');
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks);
}

/** Checks `vapid t=<jwt>, k=<key>`: an ES256 JWT signed by k, for this origin, not expired nor valid over 24 h, with a sub. */
function checkVapid(header: string | undefined, origin: string): { key: string; sub: string } | string {
  const match = /^vapid t=([A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+), k=([A-Za-z0-9_-]+)$/.exec(header ?? '');
  if (!match) return 'Authorization is not "vapid t=…, k=…"';
  const [, token, key] = match as unknown as [string, string, string];
  const [headerPart, claimsPart, signaturePart] = token.split('.') as [string, string, string];
  const jwtHeader = JSON.parse(Buffer.from(headerPart, 'base64url').toString()) as { alg?: string; typ?: string };
  if (jwtHeader.alg !== 'ES256') return 'JWT alg is not ES256';
  const point = Buffer.from(key, 'base64url');
  if (point.length !== 65 || point[0] !== 4) return 'k is not an uncompressed P-256 point';
  const publicKey = createPublicKey({
    key: { kty: 'EC', crv: 'P-256', x: point.subarray(1, 33).toString('base64url'), y: point.subarray(33).toString('base64url') },
    format: 'jwk',
  });
  const isValid = verify(
    'sha256',
    Buffer.from(`${headerPart}.${claimsPart}`),
    { key: publicKey, dsaEncoding: 'ieee-p1363' },
    Buffer.from(signaturePart, 'base64url'),
  );
  if (!isValid) return 'JWT signature does not verify under k';
  const claims = JSON.parse(Buffer.from(claimsPart, 'base64url').toString()) as { aud?: string; exp?: number; sub?: string };
  if (claims.aud !== origin) return `JWT aud is not ${origin}`;
  const now = Math.floor(Date.now() / 1000);
  if (typeof claims.exp !== 'number' || claims.exp <= now) return 'JWT expired';
  if (claims.exp > now + MAX_JWT_LIFETIME_S) return 'JWT exp is more than 24 h ahead';
  if (typeof claims.sub !== 'string' || !/^(mailto:|https:)/.test(claims.sub)) return 'JWT sub is not a mailto: or https: URL';
  return { key, sub: claims.sub };
}

/** RFC 8291 / RFC 8188 `aes128gcm`: one record, keys derived from the ECDH secret, the auth secret and the salt. */
function decrypt(body: Buffer, subscriber: Subscriber): string {
  if (body.length < 21) throw new Error('body shorter than its header');
  const salt = body.subarray(0, 16);
  const recordSize = body.readUInt32BE(16);
  const idLength = body[20]!;
  const serverPublicKey = body.subarray(21, 21 + idLength);
  const ciphertext = body.subarray(21 + idLength);
  if (idLength !== 65) throw new Error('keyid is not the server key');
  if (ciphertext.length > recordSize) throw new Error('more than one record');
  const sharedSecret = subscriber.ecdh.computeSecret(serverPublicKey);
  const keyInfo = Buffer.concat([Buffer.from('WebPush: info\0'), subscriber.ecdh.getPublicKey(), serverPublicKey]);
  const ikm = Buffer.from(hkdfSync('sha256', sharedSecret, subscriber.auth, keyInfo, 32));
  const contentKey = Buffer.from(hkdfSync('sha256', ikm, salt, Buffer.from('Content-Encoding: aes128gcm\0'), 16));
  const nonce = Buffer.from(hkdfSync('sha256', ikm, salt, Buffer.from('Content-Encoding: nonce\0'), 12));
  const decipher = createDecipheriv('aes-128-gcm', contentKey, nonce);
  decipher.setAuthTag(ciphertext.subarray(ciphertext.length - 16));
  const padded = Buffer.concat([decipher.update(ciphertext.subarray(0, ciphertext.length - 16)), decipher.final()]);
  // The last record ends with the delimiter 0x02, then zero padding.
  let end = padded.length - 1;
  while (end >= 0 && padded[end] === 0) end -= 1;
  if (padded[end] !== 2) throw new Error('no last-record delimiter');
  return padded.subarray(0, end).toString('utf8');
}
