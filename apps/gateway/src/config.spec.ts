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

  it('takes a test clock outside production only, as an ISO instant', () => {
    expect(loadConfig({ PARLEY_TEST_CLOCK: '2026-11-27T18:20:00Z' }).testClockStart?.toISOString()).toBe('2026-11-27T18:20:00.000Z');
    expect(loadConfig({}).testClockStart).toBeUndefined();
    expect(() => loadConfig({ PARLEY_TEST_CLOCK: 'next friday' })).toThrow(ConfigError);
    expect(() => loadConfig({ NODE_ENV: 'production', PARLEY_TEST_CLOCK: '2026-11-27T18:20:00Z' })).toThrow(/PARLEY_TEST_CLOCK/);
  });

  it('returns a frozen object', () => {
    expect(Object.isFrozen(loadConfig({}))).toBe(true);
  });
});
