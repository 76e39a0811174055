import { ParleyClient } from '@parley/client';
import { PROTOCOL_VERSION } from '@parley/protocol';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { HTTP_KEEP_ALIVE_MS } from '../../src/app.js';
import { DrainService } from '../../src/health/drain.service.js';
import { startTestApp, type TestApp } from '../app.js';
import { createPracticeWithManager, type TestStaff } from '../factories.js';

describe('gateway (in-process, real PostgreSQL and sockets)', () => {
  let gateway: TestApp;
  let staff: TestStaff;
  const clients: ParleyClient[] = [];
  const connect = async (extraHeaders?: Record<string, string>) => {
    const client = await ParleyClient.connect({ url: gateway.url, token: staff.token, extraHeaders, requestTimeoutMs: 2_000 });
    clients.push(client);
    return client;
  };

  beforeAll(async () => {
    gateway = await startTestApp({ ALLOWED_ORIGINS: 'https://practice.example' });
    staff = (await createPracticeWithManager(gateway)).manager;
  });

  afterAll(async () => {
    for (const client of clients) client.close();
    await gateway.close();
  });

  describe('health', () => {
    it('answers live and ready once migrations are applied', async () => {
      const live = await fetch(`${gateway.url}/health/live`);
      const ready = await fetch(`${gateway.url}/health/ready`);

      expect(live.status).toBe(200);
      expect(ready.status).toBe(200);
      expect(await ready.json()).toEqual({ status: 'ready' });
    });

    it('reports not ready while a migration is pending, and ready again once it is applied', async () => {
      await gateway.dataSource.undoLastMigration({ transaction: 'all' });

      const pending = await fetch(`${gateway.url}/health/ready`);
      await gateway.dataSource.runMigrations({ transaction: 'all' });
      const restored = await fetch(`${gateway.url}/health/ready`);

      expect(pending.status).toBe(503);
      expect(await pending.json()).toEqual({ status: 'not_ready', reasons: ['migrations_pending'] });
      expect(restored.status).toBe(200);
    });
  });

  describe('http', () => {
    it('tells anyone the protocol version, without a session', async () => {
      const response = await fetch(`${gateway.url}/api/version`);

      expect(response.status).toBe(200);
      expect(await response.json()).toMatchObject({ protocolVersion: PROTOCOL_VERSION });
    });

    it('answers an unknown route with a typed not_found error', async () => {
      const response = await fetch(`${gateway.url}/api/nothing-here`);

      expect(response.status).toBe(404);
      expect(await response.json()).toEqual({ error: { code: 'not_found', message: 'Not found.' } });
    });

    it('sends the security headers on every response', async () => {
      const response = await fetch(`${gateway.url}/health/live`);

      expect(response.headers.get('content-security-policy')).toContain("script-src 'self' 'wasm-unsafe-eval'");
      expect(response.headers.get('content-security-policy')).toContain("frame-ancestors 'none'");
      expect(response.headers.get('x-content-type-options')).toBe('nosniff');
      expect(response.headers.get('x-powered-by')).toBeNull();
    });

    it("keeps an idle connection open longer than nginx's upstream keep-alive does, so nginx never sends on one being closed", async () => {
      const conf = await readFile(join(import.meta.dirname, '..', '..', '..', '..', 'infra', 'nginx', 'parley.conf'), 'utf8');
      const upstream = /^upstream parley_gateways \{([^}]*)\}/m.exec(conf)?.[1] ?? '';
      const nginxSeconds = Number(/^\s*keepalive_timeout (\d+)s;$/m.exec(upstream)?.[1]);

      expect(gateway.app.getHttpServer().keepAliveTimeout).toBe(HTTP_KEEP_ALIVE_MS);
      expect(nginxSeconds * 1_000).toBeLessThan(HTTP_KEEP_ALIVE_MS);
    });
  });

  describe('socket', () => {
    it('answers system:ping with the protocol version over a real socket', async () => {
      const client = await connect();

      const result = await client.request('system:ping', {});

      expect(result).toMatchObject({ ok: true, data: { protocolVersion: PROTOCOL_VERSION } });
    });

    it('refuses a payload with unknown fields as invalid_payload and stays usable', async () => {
      const client = await connect();

      const refused = await client.requestRaw('system:ping', { sneaky: true });
      const wrongType = await client.requestRaw('system:ping', 'not an object');
      const after = await client.request('system:ping', {});

      expect(refused).toMatchObject({ ok: false, error: { code: 'invalid_payload' } });
      expect(wrongType).toMatchObject({ ok: false, error: { code: 'invalid_payload' } });
      expect(after.ok).toBe(true);
      expect(client.isConnected).toBe(true);
    });

    it('answers an event the protocol does not define as invalid_payload', async () => {
      const client = await connect();

      const result = await client.requestRaw('admin:drop-tables', {});

      expect(result).toEqual({ ok: false, error: { code: 'invalid_payload', message: 'Unknown event.' } });
    });

    it('counts an answered unknown event as answered, so a drain does not wait for it', async () => {
      const client = await connect();
      const drain = gateway.app.get(DrainService);

      const answers = await Promise.all([1, 2, 3].map((n) => client.requestRaw(`admin:unknown-${n}`, {})));

      expect(answers).toEqual([1, 2, 3].map(() => ({ ok: false, error: { code: 'invalid_payload', message: 'Unknown event.' } })));
      expect(drain.commandsInFlight).toBe(0);
    });

    it('accepts a browser from its own or a configured origin and refuses one from any other', async () => {
      const configured = await connect({ origin: 'https://practice.example' });
      const sameOrigin = await connect({ origin: gateway.url });

      const refused = connect({ origin: 'https://evil.example' });

      expect(configured.isConnected).toBe(true);
      expect(sameOrigin.isConnected).toBe(true);
      await expect(refused).rejects.toThrow();
    });
  });
});
