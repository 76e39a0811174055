import { ExpressAdapter } from '@nestjs/platform-express';
import type { Express } from 'express';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { get, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { brotliCompressSync, gzipSync } from 'node:zlib';
import { HASHED_CACHE_CONTROL, REVALIDATE_CACHE_CONTROL, webClientFiles } from './web-client-files.js';

interface Answer {
  status: number;
  headers: IncomingHttpHeaders;
  body: Buffer;
}

/** A raw GET: fetch() would decompress the body and choose its own Accept-Encoding. */
function rawGet(url: string, headers: Record<string, string> = {}): Promise<Answer> {
  return new Promise((resolve, reject) => {
    get(url, { headers }, (response) => {
      const chunks: Buffer[] = [];
      response.on('data', (chunk: Buffer) => chunks.push(chunk));
      response.on('end', () => resolve({ status: response.statusCode ?? 0, headers: response.headers, body: Buffer.concat(chunks) }));
    }).on('error', reject);
  });
}

describe(webClientFiles.name, () => {
  const script = 'export const greeting = "hello";\n'.repeat(50);
  const page = `<!doctype html><title>Parley</title>${'<p>landing</p>'.repeat(50)}`;
  let folder: string;
  let server: Server;
  let base: string;

  beforeAll(async () => {
    folder = mkdtempSync(join(process.cwd(), '.web-client-files-'));
    mkdirSync(join(folder, 'assets'));
    // What the apps' builds leave: each text file with its .br and .gz beside it.
    for (const [name, text] of [
      ['index.html', page],
      ['assets/index-Ab12Cd34.js', script],
    ] as const) {
      writeFileSync(join(folder, name), text);
      writeFileSync(join(folder, `${name}.br`), brotliCompressSync(text));
      writeFileSync(join(folder, `${name}.gz`), gzipSync(text));
    }
    writeFileSync(join(folder, 'favicon.svg'), '<svg xmlns="http://www.w3.org/2000/svg"/>');
    const app = new ExpressAdapter().getInstance<Express>();
    app.use('/staff', webClientFiles(folder));
    server = await new Promise<Server>((resolve) => {
      const listening = app.listen(0, '127.0.0.1', () => resolve(listening));
    });
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });

  afterAll(() => {
    server.close();
    rmSync(folder, { recursive: true, force: true });
  });

  it('answers brotli when the browser accepts it, even listed after gzip', async () => {
    const answer = await rawGet(`${base}/staff/assets/index-Ab12Cd34.js`, { 'Accept-Encoding': 'gzip, deflate, br' });

    expect(answer.status).toBe(200);
    expect(answer.headers['content-encoding']).toBe('br');
    expect(answer.headers['vary']).toBe('Accept-Encoding');
    expect(answer.headers['content-type']).toMatch(/^text\/javascript; charset=utf-8$/i);
    expect(Number(answer.headers['content-length'])).toBe(answer.body.length);
    expect(answer.body).toEqual(brotliCompressSync(script));
  });

  it('answers gzip to a browser without brotli, and the plain file to one that accepts neither', async () => {
    const gzip = await rawGet(`${base}/staff/assets/index-Ab12Cd34.js`, { 'Accept-Encoding': 'gzip' });
    const plain = await rawGet(`${base}/staff/assets/index-Ab12Cd34.js`, { 'Accept-Encoding': 'identity' });

    expect(gzip.headers['content-encoding']).toBe('gzip');
    expect(gzip.body).toEqual(gzipSync(script));
    expect(plain.headers['content-encoding']).toBeUndefined();
    expect(plain.headers['vary']).toBe('Accept-Encoding');
    expect(plain.body.toString()).toBe(script);
  });

  it('lets caches keep hashed assets for a year without asking again', async () => {
    const compressed = await rawGet(`${base}/staff/assets/index-Ab12Cd34.js`, { 'Accept-Encoding': 'br' });
    const plain = await rawGet(`${base}/staff/assets/index-Ab12Cd34.js`);

    expect(compressed.headers['cache-control']).toBe(HASHED_CACHE_CONTROL);
    expect(plain.headers['cache-control']).toBe(HASHED_CACHE_CONTROL);
  });

  it('has index.html revalidated, and answers 304 when it has not changed', async () => {
    const first = await rawGet(`${base}/staff/`, { 'Accept-Encoding': 'br' });
    const again = await rawGet(`${base}/staff/`, { 'Accept-Encoding': 'br', 'If-None-Match': String(first.headers.etag) });

    expect(first.headers['content-encoding']).toBe('br');
    expect(first.headers['content-type']).toMatch(/^text\/html; charset=utf-8$/i);
    expect(first.headers['cache-control']).toBe(REVALIDATE_CACHE_CONTROL);
    expect(again.status).toBe(304);
    expect(again.body.length).toBe(0);
    expect(again.headers['cache-control']).toBe(REVALIDATE_CACHE_CONTROL);
  });

  it('serves a file with no compressed copy as it is, revalidated', async () => {
    const answer = await rawGet(`${base}/staff/favicon.svg`, { 'Accept-Encoding': 'br, gzip' });

    expect(answer.status).toBe(200);
    expect(answer.headers['content-encoding']).toBeUndefined();
    expect(answer.headers['cache-control']).toBe(REVALIDATE_CACHE_CONTROL);
  });

  it('redirects the bare prefix to its folder and lets unknown paths fall through', async () => {
    const bare = await rawGet(`${base}/staff`);
    const unknown = await rawGet(`${base}/staff/assets/missing-00000000.js`, { 'Accept-Encoding': 'br' });

    expect(bare.status).toBe(301);
    expect(bare.headers.location).toBe('/staff/');
    expect(unknown.status).toBe(404);
  });
});
