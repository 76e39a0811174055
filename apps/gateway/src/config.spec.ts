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

  it('returns a frozen object', () => {
    expect(Object.isFrozen(loadConfig({}))).toBe(true);
  });
});
