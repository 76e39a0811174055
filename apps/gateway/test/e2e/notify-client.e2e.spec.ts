import { createServer } from 'node:net';
import { startNotifyDouble, type NotifyDouble } from '@parley/testing';
import { notifyToken, parseNotifyApiKey, type NotifyApiKey } from '../../src/notifications/notify/notify-api-key.js';
import { NotifyClient, NotifyRequestError } from '../../src/notifications/notify/notify-client.js';

const MOBILE = '+447700900123';
const EMAIL = 'patient@example.org';
/** Short waits between retries, so a test of three retries takes milliseconds. */
const RETRY_DELAYS_MS = [10, 20, 30];

/** A loopback port nothing listens on: a request there gets no answer. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

async function failureOf(promise: Promise<unknown>): Promise<NotifyRequestError> {
  const error = await promise.then(
    () => undefined,
    (caught: unknown) => caught,
  );
  expect(error).toBeInstanceOf(NotifyRequestError);
  return error as NotifyRequestError;
}

describe('NotifyClient against a local GOV.UK Notify over real HTTP', () => {
  let notify: NotifyDouble;
  let apiKey: NotifyApiKey;
  let client: NotifyClient;

  beforeAll(async () => {
    notify = await startNotifyDouble();
    apiKey = parseNotifyApiKey(notify.apiKey)!;
    client = new NotifyClient({ apiKey, baseUrl: notify.url }, { retryDelaysMs: RETRY_DELAYS_MS });
  });

  afterEach(() => notify.reset());

  afterAll(() => notify.close());

  it('sends a text message with a bearer JWT Notify accepts, and a body of the template id and the number only', async () => {
    const { id } = await client.send({ route: 'sms', recipient: MOBILE, templateId: notify.smsTemplateId });

    expect(notify.sent).toHaveLength(1);
    expect(notify.sent[0]).toMatchObject({ id, route: 'sms', body: { phone_number: MOBILE, template_id: notify.smsTemplateId } });
    expect(Object.keys(notify.sent[0]!.body).sort()).toEqual(['phone_number', 'template_id']);
    expect(notify.requests[0]?.claims).toEqual({ iss: notify.serviceId, iat: expect.any(Number) });
  });

  it('sends an e-mail with the personalisation it is given', async () => {
    await client.send({ route: 'email', recipient: EMAIL, templateId: notify.emailTemplateId, personalisation: { practice_name: 'Riverside Surgery' } });

    expect(notify.sent.map((notice) => notice.body)).toEqual([
      { email_address: EMAIL, template_id: notify.emailTemplateId, personalisation: { practice_name: 'Riverside Surgery' } },
    ]);
  });

  it('retries a 429 and a 500, then sends once', async () => {
    notify.failNext(429);
    notify.failNext(500);

    await client.send({ route: 'sms', recipient: MOBILE, templateId: notify.smsTemplateId });

    expect(notify.requests.map((request) => request.status)).toEqual([429, 500, 201]);
    expect(notify.sent).toHaveLength(1);
  });

  it('gives up after three retries with the last status and Notify’s error name', async () => {
    notify.failNext(503, 10);

    const error = await failureOf(client.send({ route: 'sms', recipient: MOBILE, templateId: notify.smsTemplateId }));

    expect([error.status, error.errorNames, error.isPermanent]).toEqual([503, ['Exception'], false]);
    expect(notify.requests).toHaveLength(4);
    expect(notify.sent).toHaveLength(0);
  });

  it('does not retry a number Notify refuses (400), and its error never carries the number', async () => {
    const error = await failureOf(client.send({ route: 'sms', recipient: '+441632960000', templateId: notify.smsTemplateId }));

    expect([error.status, error.errorNames, error.isPermanent]).toEqual([400, ['ValidationError'], true]);
    expect(error.message).not.toContain('1632960000');
    expect(notify.requests).toHaveLength(1);
  });

  it('does not retry a key Notify refuses (403)', async () => {
    const wrongSecret = new NotifyClient(
      { apiKey: { ...apiKey, secretKey: '00000000-0000-4000-8000-000000000000' }, baseUrl: notify.url },
      { retryDelaysMs: RETRY_DELAYS_MS },
    );

    const error = await failureOf(wrongSecret.send({ route: 'sms', recipient: MOBILE, templateId: notify.smsTemplateId }));

    expect([error.status, error.errorNames]).toEqual([403, ['AuthError']]);
    expect(notify.requests).toHaveLength(1);
  });

  it('retries when no answer comes, then fails with no status', async () => {
    const nowhere = new NotifyClient({ apiKey, baseUrl: `http://127.0.0.1:${await closedPort()}` }, { retryDelaysMs: RETRY_DELAYS_MS });

    const error = await failureOf(nowhere.send({ route: 'sms', recipient: MOBILE, templateId: notify.smsTemplateId }));

    expect([error.status, error.isPermanent]).toEqual([null, false]);
  });

  it('stops waiting to retry when its signal aborts (the gateway shutting down)', async () => {
    const shutdown = new AbortController();
    const patient = new NotifyClient({ apiKey, baseUrl: notify.url }, { retryDelaysMs: [60_000], signal: shutdown.signal });
    notify.failNext(500);
    const sending = failureOf(patient.send({ route: 'sms', recipient: MOBILE, templateId: notify.smsTemplateId }));
    const startedAt = Date.now();

    await new Promise((resolve) => setTimeout(resolve, 100));
    shutdown.abort();

    expect((await sending).status).toBe(500);
    expect(Date.now() - startedAt).toBeLessThan(5_000);
    expect(notify.sent).toHaveLength(0);
  });
});

describe('the local GOV.UK Notify', () => {
  let notify: NotifyDouble;

  beforeAll(async () => {
    notify = await startNotifyDouble({ templates: [{ id: '5c3c2d2e-4f1b-4a57-9d0e-1f7a1b1c9a01', type: 'sms', placeholders: ['practice_name'] }] });
  });

  afterAll(() => notify.close());

  const post = (body: unknown, token: string | null) =>
    fetch(`${notify.url}/v2/notifications/sms`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...(token !== null && { authorization: `Bearer ${token}` }) },
      body: JSON.stringify(body),
    }).then(async (response) => ({ status: response.status, body: (await response.json()) as unknown }));
  const key = () => parseNotifyApiKey(notify.apiKey)!;
  const body = { phone_number: MOBILE, template_id: '5c3c2d2e-4f1b-4a57-9d0e-1f7a1b1c9a01', personalisation: { practice_name: 'Riverside' } };

  it('refuses a request without a token, a token older than 30 s, and one of another service, in Notify’s error shape', async () => {
    const stale = notifyToken(key(), new Date(Date.now() - 60_000));
    const otherService = notifyToken({ ...key(), serviceId: '00000000-0000-4000-8000-000000000000' }, new Date());

    expect(await post(body, null)).toEqual({
      status: 401,
      body: { status_code: 401, errors: [{ error: 'AuthError', message: 'Unauthorized: authentication token must be provided' }] },
    });
    expect(await post(body, stale)).toEqual({
      status: 403,
      body: { status_code: 403, errors: [{ error: 'AuthError', message: 'Error: Your system clock must be accurate to within 30 seconds' }] },
    });
    expect((await post(body, otherService)).status).toBe(403);
    expect(notify.sent).toHaveLength(0);
  });

  it('refuses unknown fields and a send missing a placeholder of its template, and accepts a whole one', async () => {
    const token = notifyToken(key(), new Date());

    expect(await post({ ...body, message: 'hello' }, token)).toMatchObject({ status: 400, body: { errors: [{ error: 'ValidationError' }] } });
    expect(await post({ phone_number: MOBILE, template_id: body.template_id }, token)).toEqual({
      status: 400,
      body: { status_code: 400, errors: [{ error: 'BadRequestError', message: 'Missing personalisation: practice_name' }] },
    });
    expect((await post(body, token)).status).toBe(201);
    expect(notify.sent).toHaveLength(1);
  });
});
