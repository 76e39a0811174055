import { ConfigError, loadConfig } from './config.js';

describe('loadConfig', () => {
  it('applies defaults for an empty environment', () => {
    const config = loadConfig({});

    expect(config.port).toBe(3000);
    expect(config.databaseUrl).toBeUndefined();
    expect(config.seedDemo).toBe(true);
    expect(config.allowedOrigins).toEqual([]);
  });

  it('treats an empty variable as unset', () => {
    expect(loadConfig({ PORT: '', DATABASE_URL: '' }).port).toBe(3000);
  });

  it('does not seed the demo on an external database unless asked', () => {
    expect(loadConfig({ DATABASE_URL: 'postgres://db.example:5432/parley' }).seedDemo).toBe(false);
    expect(loadConfig({ DATABASE_URL: 'postgres://db.example:5432/parley', DEMO_SEED: 'true' }).seedDemo).toBe(true);
  });

  it('allows the public origin and an explicit list of origins', () => {
    const config = loadConfig({ PUBLIC_URL: 'https://chat.example.nhs.uk/app', ALLOWED_ORIGINS: 'https://a.example, https://b.example' });

    expect(config.allowedOrigins).toEqual(['https://chat.example.nhs.uk', 'https://a.example', 'https://b.example']);
  });

  it('takes the staff origin, allows it to open sockets, and leaves the staff app on the shared origin without it', () => {
    const config = loadConfig({ PUBLIC_URL: 'https://chat.example.nhs.uk', STAFF_PUBLIC_URL: 'HTTPS://Staff.Example.nhs.uk:443/' });

    expect(config.staffPublicUrl).toBe('https://staff.example.nhs.uk');
    expect(config.allowedOrigins).toEqual(['https://chat.example.nhs.uk', 'https://staff.example.nhs.uk']);
    expect(loadConfig({}).staffPublicUrl).toBeUndefined();
  });

  it.each(['https://staff.example.nhs.uk/staff/', 'https://staff.example.nhs.uk/?x=1', 'ftp://staff.example.nhs.uk', 'staff.example.nhs.uk'])(
    'refuses a staff URL that is not an http(s) origin: %s',
    (value) => {
      expect(() => loadConfig({ STAFF_PUBLIC_URL: value })).toThrow(/^invalid configuration: STAFF_PUBLIC_URL \(/);
    },
  );

  it("refuses a staff origin without the patient app's address, which its invitation links need", () => {
    expect(() => loadConfig({ STAFF_PUBLIC_URL: 'https://staff.example.nhs.uk' })).toThrow(
      'invalid configuration: PUBLIC_URL (required with STAFF_PUBLIC_URL: invitation links point at the patient app)',
    );
  });

  it("refuses a staff origin on the patient origin's host name, whatever its port", () => {
    expect(() => loadConfig({ PUBLIC_URL: 'https://chat.example.nhs.uk', STAFF_PUBLIC_URL: 'https://chat.example.nhs.uk:8443' })).toThrow(
      "invalid configuration: STAFF_PUBLIC_URL (needs a host name of its own, not PUBLIC_URL's)",
    );
  });

  it('names every invalid variable and never its value', () => {
    const attempt = () => loadConfig({ PORT: 'seventy', DATABASE_URL: 'mysql://secret-password@host/db', LOG_LEVEL: 'loud' });

    expect(attempt).toThrow(ConfigError);
    try {
      attempt();
    } catch (error) {
      const { keys, message } = error as ConfigError;
      expect(keys.map((key) => key.split(' ')[0])).toEqual(['PORT', 'DATABASE_URL', 'LOG_LEVEL']);
      expect(message).not.toContain('secret-password');
      expect(message).not.toContain('seventy');
    }
  });

  it('bounds the record writer and the connection queue (20,000 entries, 200 queries) unless configured, and refuses a bound of zero', () => {
    expect(loadConfig({})).toMatchObject({ recordQueueMax: 20_000, dbQueueMax: 2_000 });
    expect(loadConfig({ RECORD_QUEUE_MAX: '500', DB_QUEUE_MAX: '1' })).toMatchObject({ recordQueueMax: 500, dbQueueMax: 1 });
    expect(() => loadConfig({ RECORD_QUEUE_MAX: '0' })).toThrow(/RECORD_QUEUE_MAX/);
    expect(() => loadConfig({ DB_QUEUE_MAX: '0' })).toThrow(/DB_QUEUE_MAX/);
  });

  it('leaves /metrics off and trusts no proxy unless configured', () => {
    const config = loadConfig({});

    expect(config.metricsToken).toBeUndefined();
    expect(config.trustProxy).toBe(false);
  });

  it('reads the trusted proxies as a hop count or a list of addresses', () => {
    expect(loadConfig({ TRUST_PROXY: '1' }).trustProxy).toBe(1);
    expect(loadConfig({ TRUST_PROXY: 'loopback, 10.0.0.0/8' }).trustProxy).toEqual(['loopback', '10.0.0.0/8']);
    expect(loadConfig({ TRUST_PROXY: 'false' }).trustProxy).toBe(false);
  });

  it('refuses a metrics token too short to be a secret', () => {
    expect(() => loadConfig({ METRICS_TOKEN: 'short' })).toThrow(ConfigError);
  });

  it('takes a test clock as an ISO instant when NODE_ENV is test', () => {
    expect(loadConfig({ NODE_ENV: 'test', PARLEY_TEST_CLOCK: '2026-11-27T18:20:00Z' }).testClockStart?.toISOString()).toBe('2026-11-27T18:20:00.000Z');
    expect(loadConfig({}).testClockStart).toBeUndefined();
    expect(() => loadConfig({ NODE_ENV: 'test', PARLEY_TEST_CLOCK: 'next friday' })).toThrow(ConfigError);
  });

  it.each(['production', 'development', undefined])('refuses the test hooks when NODE_ENV is %s, naming each of them', (nodeEnv) => {
    const attempt = () => loadConfig({ NODE_ENV: nodeEnv, PARLEY_FAULTS: 'record.after-commit@1', PARLEY_TEST_CLOCK: '2026-11-27T18:20:00Z' });

    expect(attempt).toThrow(ConfigError);
    expect(attempt).toThrow(
      'invalid configuration: PARLEY_FAULTS (test-only; set NODE_ENV=test to use it), PARLEY_TEST_CLOCK (test-only; set NODE_ENV=test to use it)',
    );
  });

  it('takes fault points when NODE_ENV is test', () => {
    expect(loadConfig({ NODE_ENV: 'test', PARLEY_FAULTS: 'record.after-commit@1' }).faults).toBe('record.after-commit@1');
  });

  it('returns a frozen object', () => {
    expect(Object.isFrozen(loadConfig({}))).toBe(true);
  });

  it('signs pushes as the https public origin, else a placeholder, and accepts only mailto: or https: subjects', () => {
    expect(loadConfig({}).push).toEqual({ vapidSubject: 'mailto:operator@parley.invalid', allowInsecureEndpoints: false, ttlSeconds: 86_400 });
    expect(loadConfig({ PUBLIC_URL: 'https://chat.riverside.example/app' }).push.vapidSubject).toBe('https://chat.riverside.example');
    expect(loadConfig({ VAPID_SUBJECT: 'mailto:it@riverside.example', PUSH_TTL_SECONDS: '600' }).push).toMatchObject({
      vapidSubject: 'mailto:it@riverside.example',
      ttlSeconds: 600,
    });
    expect(() => loadConfig({ VAPID_SUBJECT: 'http://riverside.example' })).toThrow('VAPID_SUBJECT');
    expect(loadConfig({ PUSH_ALLOW_INSECURE_ENDPOINTS: 'true' }).push.allowInsecureEndpoints).toBe(true);
  });
});
