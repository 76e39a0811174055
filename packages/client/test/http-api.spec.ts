import { createServer, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { SessionInfo, SignInRequest } from '@parley/protocol';
import { HttpApi } from '../src/index.js';

interface Seen {
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
  body: string;
  raw: Buffer;
}

describe(HttpApi.name, () => {
  const seen: Seen[] = [];
  let answer: { status: number; body?: string | Buffer; contentType?: string } = { status: 204 };
  const server = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      const raw = Buffer.concat(chunks);
      seen.push({ method: request.method ?? '', url: request.url ?? '', headers: request.headers, body: raw.toString(), raw });
      response.writeHead(answer.status, { 'content-type': answer.contentType ?? 'application/json' });
      response.end(answer.body);
    });
  });
  let baseUrl: string;
  const signIn: SignInRequest = {
    practice: 'Y00001',
    login: 'clinician@example.org',
    authKey: Buffer.alloc(32, 1).toString('base64'),
    device: { deviceId: '00000000-0000-4000-8000-000000000002' },
  };

  beforeAll(async () => {
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });

  beforeEach(() => {
    seen.length = 0;
  });

  afterAll(async () => {
    await new Promise((resolve) => server.close(resolve));
  });

  it('posts a sign-in without a token and resolves with the session', async () => {
    const session: SessionInfo = {
      token: 'session-token',
      expiresAt: '2030-01-01T00:00:00.000Z',
      deviceId: signIn.device && 'deviceId' in signIn.device ? signIn.device.deviceId : '',
      user: { id: '00000000-0000-4000-8000-000000000001', roles: ['clinician'], displayName: 'Dr A' },
      practice: { id: '00000000-0000-4000-8000-000000000003', odsCode: 'Y00001', name: 'Practice', rootSignPublicKey: null },
    };
    answer = { status: 200, body: JSON.stringify(session) };
    const api = new HttpApi({ baseUrl, token: 'stale' });

    const result = await api.signIn(signIn);

    expect(result).toEqual({ ok: true, data: session });
    expect(seen).toEqual([expect.objectContaining({ method: 'POST', url: '/api/auth/sign-in', body: JSON.stringify(signIn) })]);
    expect(seen[0]?.headers['authorization']).toBeUndefined();
  });

  it('sends the current token as a bearer, escapes path ids and resolves an empty answer as null', async () => {
    answer = { status: 204 };
    const tokens = ['first', 'second'];
    const api = new HttpApi({ baseUrl, token: () => tokens.shift() });

    await api.signOut();
    const result = await api.revokeDevice('a/b');

    expect(result).toEqual({ ok: true, data: null });
    expect(seen.map((request) => [request.url, request.headers['authorization']])).toEqual([
      ['/api/auth/sign-out', 'Bearer first'],
      ['/api/devices/a%2Fb/revoke', 'Bearer second'],
    ]);
  });

  it('resolves an API error as a typed failure with its status, without throwing', async () => {
    answer = { status: 401, body: JSON.stringify({ error: { code: 'unauthorized', message: 'Sign in first.' } }) };
    const api = new HttpApi({ baseUrl });

    const result = await api.listDevices();

    expect(result).toEqual({ ok: false, error: { code: 'unauthorized', message: 'Sign in first.', status: 401 } });
  });

  it("keeps an API error's flat details and drops details of any other shape", async () => {
    const api = new HttpApi({ baseUrl });
    answer = { status: 429, body: JSON.stringify({ error: { code: 'rate_limited', message: 'Wait.', details: { retryAfterSeconds: 8, scope: 'account' } } }) };
    const flat = await api.signIn(signIn);
    answer = { status: 429, body: JSON.stringify({ error: { code: 'rate_limited', message: 'Wait.', details: { nested: { retryAfterSeconds: 8 } } } }) };
    const nested = await api.signIn(signIn);

    expect(flat).toEqual({ ok: false, error: { code: 'rate_limited', message: 'Wait.', status: 429, details: { retryAfterSeconds: 8, scope: 'account' } } });
    expect(nested).toEqual({ ok: false, error: { code: 'rate_limited', message: 'Wait.', status: 429 } });
  });

  it("resolves an answer that is not the API's as unexpected_response", async () => {
    answer = { status: 502, body: '<html>Bad gateway</html>', contentType: 'text/html' };
    const api = new HttpApi({ baseUrl });

    const result = await api.getPracticeKeys();

    expect(result).toEqual({
      ok: false,
      error: { code: 'unexpected_response', message: 'GET /api/practice/keys: status 502 without an API error', status: 502 },
    });
  });

  it('sends an upload part as raw octets with the token, and resolves its empty answer as null', async () => {
    answer = { status: 204 };
    const part = Uint8Array.from({ length: 65_553 }, (_, i) => i % 256);
    const api = new HttpApi({ baseUrl, token: 'session' });

    const result = await api.putUploadChunk('00000000-0000-4000-8000-000000000009', 3, part);

    expect(result).toEqual({ ok: true, data: null });
    expect(seen[0]).toMatchObject({ method: 'PUT', url: '/api/attachments/uploads/00000000-0000-4000-8000-000000000009/chunks/3' });
    expect(seen[0]?.headers['content-type']).toBe('application/octet-stream');
    expect(seen[0]?.headers['authorization']).toBe('Bearer session');
    expect(seen[0]?.raw.equals(Buffer.from(part))).toBe(true);
  });

  it('resolves a download as the bytes of the answer, and a refusal as a typed failure', async () => {
    const api = new HttpApi({ baseUrl, token: 'session' });
    const blob = Buffer.from(Uint8Array.from({ length: 70_000 }, (_, i) => (i * 7) % 256));
    answer = { status: 200, body: blob, contentType: 'application/octet-stream' };
    const downloaded = await api.downloadAttachment('00000000-0000-4000-8000-000000000009');
    answer = { status: 404, body: JSON.stringify({ error: { code: 'not_found', message: 'No such attachment.' } }) };
    const refused = await api.downloadAttachment('00000000-0000-4000-8000-000000000009');

    expect(downloaded.ok && Buffer.from(downloaded.data).equals(blob)).toBe(true);
    expect(seen[0]).toMatchObject({ method: 'GET', url: '/api/attachments/00000000-0000-4000-8000-000000000009' });
    expect(refused).toEqual({ ok: false, error: { code: 'not_found', message: 'No such attachment.', status: 404 } });
  });

  it('resolves a size cap as too_large with which limit and its size', async () => {
    answer = { status: 413, body: JSON.stringify({ error: { code: 'too_large', message: 'Too large.', details: { limit: 'daily', maxBytes: 52_428_800 } } }) };
    const api = new HttpApi({ baseUrl });

    const result = await api.createUpload({ conversationId: '00000000-0000-4000-8000-000000000009', contentType: 'image/jpeg', cipherBytes: 100 });

    expect(result).toEqual({ ok: false, error: { code: 'too_large', message: 'Too large.', status: 413, details: { limit: 'daily', maxBytes: 52_428_800 } } });
    expect(JSON.parse(seen[0]!.body)).toEqual({ conversationId: '00000000-0000-4000-8000-000000000009', contentType: 'image/jpeg', cipherBytes: 100 });
  });

  it('resolves an unreachable gateway as a network failure, naming why', async () => {
    // A port just let go of: nothing listens there (fetch itself refuses some ports, port 1 among them, with no cause).
    const gone = createServer();
    await new Promise<void>((resolve) => gone.listen(0, '127.0.0.1', resolve));
    const { port } = gone.address() as AddressInfo;
    await new Promise((resolve) => gone.close(resolve));
    const api = new HttpApi({ baseUrl: `http://127.0.0.1:${port}` });

    const result = await api.getBackup();

    expect(result).toEqual({
      ok: false,
      error: { code: 'network', message: 'GET /api/keys/backup: the gateway could not be reached (ECONNREFUSED)', status: null },
    });
  });

  it('names a connection closed under a request as its cause', async () => {
    const closing = createServer((request) => request.socket.destroy());
    await new Promise<void>((resolve) => closing.listen(0, '127.0.0.1', resolve));
    const api = new HttpApi({ baseUrl: `http://127.0.0.1:${(closing.address() as AddressInfo).port}` });

    const result = await api.getBackup().finally(() => closing.close());

    expect(result).toEqual({
      ok: false,
      error: { code: 'network', message: 'GET /api/keys/backup: the gateway could not be reached (UND_ERR_SOCKET)', status: null },
    });
  });

  it('resolves a gateway that does not answer in time as a network failure', async () => {
    const silent = createServer(() => undefined);
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const api = new HttpApi({ baseUrl: `http://127.0.0.1:${(silent.address() as AddressInfo).port}`, timeoutMs: 50 });

    const result = await api.getBackup().finally(() => {
      silent.closeAllConnections();
      silent.close();
    });

    expect(result).toEqual({ ok: false, error: { code: 'network', message: 'GET /api/keys/backup: no answer within 50 ms', status: null } });
  });
});
