import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Server } from 'socket.io';
import { ParleyClient } from '../src/index.js';

describe(ParleyClient.name, () => {
  const http = createServer();
  const io = new Server(http);
  let url: string;

  beforeAll(async () => {
    io.use((socket, next) => (socket.handshake.auth['token'] === 'bad' ? next(new Error('unauthorized')) : next()));
    io.on('connection', (socket) => {
      const isSilent = socket.handshake.auth['token'] === 'silent';
      socket.on('system:ping', (_payload: unknown, ack: (r: unknown) => void) => {
        if (!isSilent) ack({ ok: true, data: { protocolVersion: 1, serverTime: new Date(0).toISOString() } });
      });
    });
    await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(http.address() as AddressInfo).port}`;
  });

  afterAll(async () => {
    await new Promise((resolve) => io.close(resolve));
  });

  it('resolves a request with the server ack', async () => {
    const client = await ParleyClient.connect({ url });

    const result = await client.request('system:ping', {});

    expect(result).toEqual({ ok: true, data: { protocolVersion: 1, serverTime: '1970-01-01T00:00:00.000Z' } });
    client.close();
  });

  it('resolves a request the server never acks as a timeout', async () => {
    const client = await ParleyClient.connect({ url, token: 'silent', requestTimeoutMs: 50 });

    const result = await client.request('system:ping', {});

    expect(result).toEqual({ ok: false, error: { code: 'timeout', message: 'no answer to system:ping within 50 ms' } });
    client.close();
  });

  it('rejects the connection the server refuses, with its reason', async () => {
    await expect(ParleyClient.connect({ url, token: 'bad' })).rejects.toThrow('unauthorized');
  });
});
