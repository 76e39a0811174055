/**
 * The attachments scenario's HTTP side, run inside a load worker (worker.ts): one file's ciphertext uploaded part by
 * part, either through the gateway's routes (docs/protocol.md: create, PUT each part, complete) or to the baseline
 * server's plain route (one INSERT per part, no checks). Both go through the same `fetch` with the same parts, so the
 * difference measured is the server's. Uploads held mid-part (for memory per upload in flight) use raw `node:http`
 * requests, one connection each, whose body is written in two halves.
 */
import { request, type ClientRequest, type IncomingMessage } from 'node:http';
import { randomUUID } from 'node:crypto';
import { ATTACHMENT_PART_BYTES } from '@parley/protocol';
import { partRanges } from './attachment-figures.js';
import { monoMs } from './stats.js';

/** A patient who uploads into their open conversation. */
export interface UploaderSpec {
  token: string;
  conversationId: string;
  /** The gateway's base URL. */
  url: string;
}

/** Where the parts go: the gateway (as the uploader) or the baseline's plain route. */
export type UploadTarget = { kind: 'parley' } | { kind: 'baseline'; url: string };

/** Parts of the plain baseline upload: the same size as the gateway's (one secretstream chunk each, docs/crypto.md). */
export const BASELINE_PART_BYTES = ATTACHMENT_PART_BYTES;

/** One upload's outcome and timings. */
export interface UploadOutcome {
  uploadId: string | undefined;
  ok: boolean;
  /** What failed (`<step> <status> <code>`), when it did. */
  error?: string;
  bytes: number;
  finishedAt: number;
  partMs: number[];
  controlMs: number[];
}

interface Created {
  uploadId: string;
  chunkBytes: number;
}

const json = (token: string) => ({ authorization: `Bearer ${token}`, 'content-type': 'application/json' });
const octets = (token?: string) => ({ ...(token ? { authorization: `Bearer ${token}` } : {}), 'content-type': 'application/octet-stream' });

/** Why a response is not the expected one, for the report (status and error code only: never a body). */
async function failure(step: string, response: Response): Promise<string> {
  let code = '';
  try {
    code = ((await response.json()) as { error?: { code?: string } }).error?.code ?? '';
  } catch {
    // not JSON: the status says enough
  }
  return `${step} ${response.status}${code ? ` ${code}` : ''}`;
}

/** `POST /api/attachments/uploads` as the uploader. */
async function createUpload(uploader: UploaderSpec, cipherBytes: number, contentType: string): Promise<Created | string> {
  const response = await fetch(`${uploader.url}/api/attachments/uploads`, {
    method: 'POST',
    headers: json(uploader.token),
    body: JSON.stringify({ conversationId: uploader.conversationId, contentType, cipherBytes }),
  });
  if (response.status !== 201) return failure('create', response);
  return (await response.json()) as Created;
}

/** Uploads `cipher` once: create, every part in order, complete (Parley), or every part (baseline). */
export async function uploadOnce(target: UploadTarget, uploader: UploaderSpec, cipher: Uint8Array, contentType: string): Promise<UploadOutcome> {
  const outcome: UploadOutcome = { uploadId: undefined, ok: false, bytes: 0, finishedAt: 0, partMs: [], controlMs: [] };
  const done = (error?: string) => ({ ...outcome, ok: error === undefined, error, bytes: error === undefined ? cipher.length : 0, finishedAt: monoMs() });
  let partBytes = BASELINE_PART_BYTES;
  let partUrl: (index: number) => string;
  if (target.kind === 'parley') {
    const started = monoMs();
    const created = await createUpload(uploader, cipher.length, contentType);
    outcome.controlMs.push(monoMs() - started);
    if (typeof created === 'string') return done(created);
    outcome.uploadId = created.uploadId;
    partBytes = created.chunkBytes;
    partUrl = (index) => `${uploader.url}/api/attachments/uploads/${created.uploadId}/chunks/${index}`;
  } else {
    const uploadId = randomUUID();
    outcome.uploadId = uploadId;
    partUrl = (index) => `${target.url}/uploads/${uploadId}/parts/${index}`;
  }
  const token = target.kind === 'parley' ? uploader.token : undefined;
  for (const [index, [start, end]] of partRanges(cipher.length, partBytes).entries()) {
    const started = monoMs();
    const response = await fetch(partUrl(index), { method: 'PUT', headers: octets(token), body: cipher.subarray(start, end) });
    if (response.status !== 204) return done(await failure(`part ${index}`, response));
    await response.arrayBuffer();
    outcome.partMs.push(monoMs() - started);
  }
  if (target.kind === 'parley') {
    const started = monoMs();
    const response = await fetch(`${uploader.url}/api/attachments/uploads/${outcome.uploadId}/complete`, { method: 'POST', headers: json(uploader.token) });
    if (response.status !== 200) return done(await failure('complete', response));
    const status = (await response.json()) as { isComplete?: boolean };
    outcome.controlMs.push(monoMs() - started);
    if (status.isComplete !== true) return done('complete: not complete');
  }
  return done();
}

/** Removes an upload (Parley: the uploader's cancel; baseline: its parts), so that runs do not add up against the caps. */
export async function removeUpload(target: UploadTarget, uploader: UploaderSpec, uploadId: string): Promise<boolean> {
  const response =
    target.kind === 'parley'
      ? await fetch(`${uploader.url}/api/attachments/uploads/${uploadId}`, { method: 'DELETE', headers: { authorization: `Bearer ${uploader.token}` } })
      : await fetch(`${target.url}/uploads/${uploadId}`, { method: 'DELETE' });
  await response.arrayBuffer();
  return response.status === 204;
}

/** The whole ciphertext of an upload as the gateway serves it back to its uploader (`GET /api/attachments/:id`). */
export async function downloadUpload(uploader: UploaderSpec, uploadId: string): Promise<{ status: number; bytes: Uint8Array; cacheControl: string | null }> {
  const response = await fetch(`${uploader.url}/api/attachments/${uploadId}`, { headers: { authorization: `Bearer ${uploader.token}` } });
  return { status: response.status, bytes: new Uint8Array(await response.arrayBuffer()), cacheControl: response.headers.get('cache-control') };
}

/** A part PUT left open with half its body written: finish it to let the server answer. */
export interface HeldPart {
  uploader: UploaderSpec;
  uploadId: string;
  finish(): Promise<number>;
}

/**
 * Opens an upload (Parley: creates it) and starts its first part's PUT on a connection of its own, writing the first
 * half of the part and holding the rest: the server has the request, its headers and half a body in memory.
 * @returns the held part, or the failure (`<step> <status> <code>`)
 */
export async function holdPart(target: UploadTarget, uploader: UploaderSpec, cipher: Uint8Array, contentType: string): Promise<HeldPart | string> {
  let uploadId: string;
  let partBytes = BASELINE_PART_BYTES;
  let url: URL;
  if (target.kind === 'parley') {
    const created = await createUpload(uploader, cipher.length, contentType);
    if (typeof created === 'string') return created;
    uploadId = created.uploadId;
    partBytes = created.chunkBytes;
    url = new URL(`${uploader.url}/api/attachments/uploads/${uploadId}/chunks/0`);
  } else {
    uploadId = randomUUID();
    url = new URL(`${target.url}/uploads/${uploadId}/parts/0`);
  }
  const part = cipher.subarray(0, Math.min(partBytes, cipher.length));
  const half = Math.floor(part.length / 2);
  const put: ClientRequest = request({
    host: url.hostname,
    port: url.port,
    path: url.pathname,
    method: 'PUT',
    agent: false,
    headers: { ...octets(target.kind === 'parley' ? uploader.token : undefined), 'content-length': String(part.length) },
  });
  const answered = new Promise<number>((resolve) => {
    put.once('response', (response: IncomingMessage) => {
      response.resume();
      response.once('end', () => resolve(response.statusCode ?? 0));
    });
    put.once('error', () => resolve(0));
  });
  await new Promise<void>((resolve, reject) => put.write(part.subarray(0, half), (error) => (error ? reject(error) : resolve())));
  return {
    uploader,
    uploadId,
    finish: async () => {
      put.end(part.subarray(half));
      return answered;
    },
  };
}
