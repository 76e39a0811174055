import { createHmac, randomUUID, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/** A template the double knows, as one made in Notify's admin pages: its kind and the placeholders it needs. */
export interface NotifyDoubleTemplate {
  id: string;
  type: 'sms' | 'email';
  /** `((name))` placeholders of the template; a send without a value for each is refused, as Notify does. */
  placeholders?: readonly string[];
}

/** A request the double answered, whatever the answer. */
export interface NotifyDoubleRequest {
  method: string;
  path: string;
  status: number;
  /** The parsed JSON body, or `undefined` when it was not JSON. */
  body: unknown;
  /** The bearer token's claims when its signature verified, else `null`. */
  claims: { iss: unknown; iat: unknown } | null;
}

/** A notification the double accepted (201), as Notify would have sent it. */
export interface NotifyDoubleNotification {
  id: string;
  route: 'sms' | 'email';
  /** The request body exactly as received. */
  body: Record<string, unknown>;
  receivedAt: Date;
}

/** Options of {@link startNotifyDouble}. */
export interface NotifyDoubleOptions {
  /** The templates of the service; default one SMS and one e-mail template without placeholders. */
  templates?: readonly NotifyDoubleTemplate[];
  /** The API key's name part; default `parley_test`. */
  keyName?: string;
}

/**
 * A local GOV.UK Notify (API v2, the two sending routes) over real HTTP, for tests of a client that must speak to
 * the real one: it verifies the bearer JWT as Notify does (HS256 under the service's secret key, `iss` the service
 * id, `iat` within 30 s), validates bodies as Notify does and answers with Notify's shapes (201 with the notification,
 * or `{ status_code, errors: [{ error, message }] }`), and records everything.
 */
export interface NotifyDouble {
  /** `http://127.0.0.1:<port>`: give it as NOTIFY_BASE_URL. */
  readonly url: string;
  /** An API key of this service (`{key_name}-{service_id}-{secret_key}`): give it as NOTIFY_API_KEY. */
  readonly apiKey: string;
  readonly serviceId: string;
  readonly templates: readonly NotifyDoubleTemplate[];
  /** The id of the default SMS and e-mail templates. */
  readonly smsTemplateId: string;
  readonly emailTemplateId: string;
  /** Every request, in order of arrival. */
  readonly requests: readonly NotifyDoubleRequest[];
  /** The notifications accepted, in order. */
  readonly sent: readonly NotifyDoubleNotification[];
  /** The next `count` authenticated sends are answered `status` (429 rate limit, 500, 503) instead of being accepted. */
  failNext(status: 429 | 500 | 502 | 503, count?: number): void;
  /** Forgets the recorded requests and pending failures. */
  reset(): void;
  close(): Promise<void>;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const CLOCK_SKEW_SECONDS = 30;
const MAX_BODY_BYTES = 1_000_000;

interface NotifyError {
  status: number;
  errors: { error: string; message: string }[];
}

const failureAnswers: Record<number, { error: string; message: string }> = {
  429: { error: 'RateLimitError', message: 'Exceeded rate limit for key type LIVE of 3000 requests per 60 seconds' },
  500: { error: 'Exception', message: 'Internal server error' },
  502: { error: 'Exception', message: 'Bad gateway' },
  503: { error: 'Exception', message: 'Service unavailable' },
};

/** Starts a {@link NotifyDouble} on a free loopback port. */
export async function startNotifyDouble(options: NotifyDoubleOptions = {}): Promise<NotifyDouble> {
  const serviceId = randomUUID();
  const secretKey = randomUUID();
  const smsTemplateId = randomUUID();
  const emailTemplateId = randomUUID();
  const templates = options.templates ?? [
    { id: smsTemplateId, type: 'sms' },
    { id: emailTemplateId, type: 'email' },
  ];
  const requests: NotifyDoubleRequest[] = [];
  const sent: NotifyDoubleNotification[] = [];
  const failures: number[] = [];

  const handle = async (request: IncomingMessage, response: ServerResponse): Promise<void> => {
    const path = (request.url ?? '/').split('?')[0] ?? '/';
    const record = (status: number, body: unknown, claims: NotifyDoubleRequest['claims']) =>
      requests.push({ method: request.method ?? '', path, status, body, claims });
    const text = await readBody(request);
    let body: unknown;
    try {
      body = text === '' ? undefined : JSON.parse(text);
    } catch {
      body = undefined;
    }
    const route =
      request.method === 'POST' && path === '/v2/notifications/sms' ? 'sms' : request.method === 'POST' && path === '/v2/notifications/email' ? 'email' : null;
    if (!route) {
      record(404, body, null);
      return answerError(response, { status: 404, errors: [{ error: 'ResourceNotFound', message: 'Not found' }] });
    }
    const auth = authenticate(request.headers.authorization, serviceId, secretKey);
    if ('status' in auth) {
      record(auth.status, body, null);
      return answerError(response, auth);
    }
    const failure = failures.shift();
    if (failure !== undefined) {
      record(failure, body, auth.claims);
      return answerError(response, { status: failure, errors: [failureAnswers[failure] ?? { error: 'Exception', message: 'Internal server error' }] });
    }
    const invalid = validate(route, body, templates);
    if (invalid) {
      record(invalid.status, body, auth.claims);
      return answerError(response, invalid);
    }
    const fields = body as Record<string, unknown>;
    const id = randomUUID();
    sent.push({ id, route, body: fields, receivedAt: new Date() });
    record(201, body, auth.claims);
    const templateId = String(fields['template_id']);
    answer(response, 201, {
      id,
      reference: typeof fields['reference'] === 'string' ? fields['reference'] : null,
      content:
        route === 'sms'
          ? { body: 'You have a new message', from_number: 'GOVUK' }
          : { body: 'You have a new message', subject: 'New message', from_email: 'practice@notifications.service.gov.uk' },
      uri: `${url}/v2/notifications/${id}`,
      template: { id: templateId, version: 1, uri: `${url}/v2/template/${templateId}/version/1` },
    });
  };

  const server = createServer((request, response) => {
    handle(request, response).catch(() => {
      if (!response.headersSent) answerError(response, { status: 500, errors: [{ error: 'Exception', message: 'Internal server error' }] });
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  const url = `http://127.0.0.1:${port}`;

  return {
    url,
    apiKey: `${options.keyName ?? 'parley_test'}-${serviceId}-${secretKey}`,
    serviceId,
    templates,
    smsTemplateId,
    emailTemplateId,
    requests,
    sent,
    failNext(status, count = 1) {
      for (let i = 0; i < count; i++) failures.push(status);
    },
    reset() {
      requests.length = 0;
      sent.length = 0;
      failures.length = 0;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

/** Checks the bearer JWT as Notify does; the claims when it holds, else Notify's 401/403 answer. */
function authenticate(header: string | undefined, serviceId: string, secretKey: string): { claims: { iss: unknown; iat: unknown } } | NotifyError {
  const authError = (status: number, message: string): NotifyError => ({ status, errors: [{ error: 'AuthError', message }] });
  if (!header) return authError(401, 'Unauthorized: authentication token must be provided');
  const [scheme, token] = header.split(' ');
  if (scheme !== 'Bearer' || !token) return authError(401, 'Unauthorized: authentication bearer scheme must be used');
  const [encodedHeader, encodedClaims, signature] = token.split('.');
  if (!encodedHeader || !encodedClaims || signature === undefined) return authError(403, 'Invalid token: signature, api token is not valid');
  const jwtHeader = parseJson(encodedHeader);
  if (jwtHeader?.['alg'] !== 'HS256') return authError(403, 'Invalid token: algorithm used is not HS256');
  const claims = parseJson(encodedClaims);
  if (!claims || typeof claims['iss'] !== 'string') return authError(403, 'Invalid token: iss field not provided');
  if (claims['iss'] !== serviceId) return authError(403, 'Invalid token: service not found');
  const expected = createHmac('sha256', secretKey).update(`${encodedHeader}.${encodedClaims}`).digest();
  const given = Buffer.from(signature, 'base64url');
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) return authError(403, 'Invalid token: API key not found');
  const iat = claims['iat'];
  if (typeof iat !== 'number' || Math.abs(Date.now() / 1000 - iat) > CLOCK_SKEW_SECONDS) {
    return authError(403, 'Error: Your system clock must be accurate to within 30 seconds');
  }
  return { claims: { iss: claims['iss'], iat } };
}

/** Notify's checks of a send's body, in its words; `null` when it would be accepted. */
function validate(route: 'sms' | 'email', body: unknown, templates: readonly NotifyDoubleTemplate[]): NotifyError | null {
  const invalid = (message: string): NotifyError => ({ status: 400, errors: [{ error: 'ValidationError', message }] });
  const bad = (message: string): NotifyError => ({ status: 400, errors: [{ error: 'BadRequestError', message }] });
  if (typeof body !== 'object' || body === null || Array.isArray(body)) return invalid('Invalid JSON supplied in POST data');
  const fields = body as Record<string, unknown>;
  const recipientField = route === 'sms' ? 'phone_number' : 'email_address';
  const allowed = [recipientField, 'template_id', 'personalisation', 'reference', route === 'sms' ? 'sms_sender_id' : 'email_reply_to_id'];
  const unexpected = Object.keys(fields).filter((key) => !allowed.includes(key));
  if (unexpected.length > 0) return invalid(`Additional properties are not allowed (${unexpected.join(', ')} was unexpected)`);
  if (fields[recipientField] === undefined) return invalid(`${recipientField} is a required property`);
  if (fields['template_id'] === undefined) return invalid('template_id is a required property');
  if (typeof fields['template_id'] !== 'string' || !UUID.test(fields['template_id'])) return invalid('template_id is not a valid UUID');
  const recipient = fields[recipientField];
  if (route === 'sms' && (typeof recipient !== 'string' || !isMobileNumber(recipient))) return invalid('phone_number Not a UK mobile number');
  if (route === 'email' && (typeof recipient !== 'string' || !/^[^\s@]+@[^\s@]+\.[^\s@]+$/.test(recipient)))
    return invalid('email_address Not a valid email address');
  const personalisation = fields['personalisation'];
  if (personalisation !== undefined && (typeof personalisation !== 'object' || personalisation === null || Array.isArray(personalisation))) {
    return invalid('personalisation is not of type object');
  }
  if (fields['reference'] !== undefined && (typeof fields['reference'] !== 'string' || fields['reference'].length > 1000))
    return invalid('reference is not valid');
  const template = templates.find((candidate) => candidate.id === fields['template_id']);
  if (!template) return bad('Template not found');
  if (template.type !== route) return bad(`${template.type} template is not suitable for ${route} notification`);
  const values = (personalisation ?? {}) as Record<string, unknown>;
  const missing = (template.placeholders ?? []).filter((name) => values[name] === undefined);
  if (missing.length > 0) return bad(`Missing personalisation: ${missing.join(', ')}`);
  return null;
}

/** A UK mobile number (07…, +447…, 00447…) as Notify accepts without international sending. */
function isMobileNumber(value: string): boolean {
  const digits = value.replace(/[\s()-]/g, '').replace(/^(\+44|0044|44)/, '0');
  return /^07\d{9}$/.test(digits);
}

function parseJson(base64url: string): Record<string, unknown> | null {
  try {
    const value: unknown = JSON.parse(Buffer.from(base64url, 'base64url').toString('utf8'));
    return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : null;
  } catch {
    return null;
  }
}

async function readBody(request: IncomingMessage): Promise<string> {
  let size = 0;
  const chunks: Buffer[] = [];
  for await (const chunk of request) {
    size += (chunk as Buffer).length;
    if (size > MAX_BODY_BYTES) throw new Error('body too large');
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks).toString('utf8');
}

function answerError(response: ServerResponse, error: NotifyError): void {
  answer(response, error.status, { status_code: error.status, errors: error.errors });
}

function answer(response: ServerResponse, status: number, body: unknown): void {
  response.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
}
