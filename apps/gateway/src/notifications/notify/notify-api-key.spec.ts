import { createHmac } from 'node:crypto';
import { ConfigError, loadConfig } from '../../config.js';
import { notifyToken, parseNotifyApiKey } from './notify-api-key.js';

const SERVICE_ID = '26785a09-ab16-4eb0-8407-a37497a57506';
const SECRET_KEY = '3d844edf-8d35-48ac-975b-e847b4f122b0';
const API_KEY = `my-practice_live-key-${SERVICE_ID}-${SECRET_KEY}`;
const SMS_TEMPLATE_ID = 'f33517ff-2a88-4f6e-b855-c550268ce08a';

function decode(part: string | undefined): unknown {
  return JSON.parse(Buffer.from(part ?? '', 'base64url').toString('utf8'));
}

describe(parseNotifyApiKey.name, () => {
  it('reads the service id and the secret from the end of the key, whose name may hold hyphens', () => {
    expect(parseNotifyApiKey(API_KEY)).toEqual({ serviceId: SERVICE_ID, secretKey: SECRET_KEY });
  });

  it.each([
    ['no name', `${SERVICE_ID}-${SECRET_KEY}`],
    ['one uuid only', `name-${SERVICE_ID}`],
    ['a uuid cut short', `name-${SERVICE_ID}-${SECRET_KEY.slice(0, -1)}`],
    ['a space in the name', `my key-${SERVICE_ID}-${SECRET_KEY}`],
    ['empty', ''],
  ])('refuses a key with %s', (_case, value) => {
    expect(parseNotifyApiKey(value)).toBeNull();
  });
});

describe(notifyToken.name, () => {
  it('makes an HS256 JWT whose claims are the service id and the time in seconds, signed with the secret', () => {
    const token = notifyToken({ serviceId: SERVICE_ID, secretKey: SECRET_KEY }, new Date('2026-12-05T10:00:00.900Z'));

    const [header, claims, signature] = token.split('.');
    expect(decode(header)).toEqual({ typ: 'JWT', alg: 'HS256' });
    expect(decode(claims)).toEqual({ iss: SERVICE_ID, iat: Date.parse('2026-12-05T10:00:00Z') / 1000 });
    expect(signature).toBe(createHmac('sha256', SECRET_KEY).update(`${header}.${claims}`).digest('base64url'));
  });

  it('differs only in its signature under another secret', () => {
    const now = new Date();
    const ours = notifyToken({ serviceId: SERVICE_ID, secretKey: SECRET_KEY }, now);
    const theirs = notifyToken({ serviceId: SERVICE_ID, secretKey: '00000000-0000-4000-8000-000000000000' }, now);

    expect(ours.split('.').slice(0, 2)).toEqual(theirs.split('.').slice(0, 2));
    expect(ours.split('.')[2]).not.toBe(theirs.split('.')[2]);
  });
});

describe('loadConfig: the Notify channel', () => {
  it('is off by default, and with a key but no template', () => {
    expect(loadConfig({}).notify).toBeUndefined();
    expect(loadConfig({ NOTIFY_API_KEY: API_KEY }).notify).toBeUndefined();
  });

  it('takes the key, the default base URL and the templates', () => {
    const { notify } = loadConfig({ NOTIFY_API_KEY: API_KEY, NOTIFY_SMS_TEMPLATE_ID: SMS_TEMPLATE_ID });

    expect(notify).toEqual({
      apiKey: API_KEY,
      baseUrl: 'https://api.notifications.service.gov.uk',
      smsTemplateId: SMS_TEMPLATE_ID,
      emailTemplateId: undefined,
    });
    expect(parseNotifyApiKey(notify!.apiKey)).toEqual({ serviceId: SERVICE_ID, secretKey: SECRET_KEY });
  });

  it('takes a base URL without its trailing slash', () => {
    const { notify } = loadConfig({ NOTIFY_API_KEY: API_KEY, NOTIFY_EMAIL_TEMPLATE_ID: SMS_TEMPLATE_ID, NOTIFY_BASE_URL: 'http://127.0.0.1:4100/' });

    expect(notify?.baseUrl).toBe('http://127.0.0.1:4100');
  });

  it.each([
    ['a key of another shape', { NOTIFY_API_KEY: 'not-a-key', NOTIFY_SMS_TEMPLATE_ID: SMS_TEMPLATE_ID }, 'NOTIFY_API_KEY'],
    ['a template id that is no UUID', { NOTIFY_API_KEY: API_KEY, NOTIFY_SMS_TEMPLATE_ID: 'welcome' }, 'NOTIFY_SMS_TEMPLATE_ID'],
  ])('refuses %s, naming the variable and never the key', (_case, env, named) => {
    let error: unknown;
    try {
      loadConfig(env);
    } catch (caught) {
      error = caught;
    }

    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).keys.join()).toContain(named);
    expect((error as ConfigError).message).not.toContain(SECRET_KEY);
  });
});
