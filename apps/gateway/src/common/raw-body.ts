import type { IncomingMessage } from 'node:http';
import { DomainError } from './domain-error.js';

/**
 * The raw `application/octet-stream` body of one request, at most `maxBytes` (the app parses only JSON bodies, and
 * those up to 64 kB: docs/protocol.md). A longer body is refused as soon as its length is known, before it is read
 * whole, so nothing of it is kept.
 * @throws DomainError `invalid_payload` (another content type; longer than `maxBytes`)
 */
export async function readRawBody(request: IncomingMessage, maxBytes: number): Promise<Buffer> {
  const type = request.headers['content-type']?.split(';')[0]?.trim().toLowerCase();
  if (type !== 'application/octet-stream') throw new DomainError('invalid_payload', 'Send the part as application/octet-stream.');
  const tooLong = () => new DomainError('invalid_payload', `A part is at most ${maxBytes} bytes.`, { maxBytes });
  if (Number(request.headers['content-length'] ?? 0) > maxBytes) throw tooLong();
  const chunks: Buffer[] = [];
  let length = 0;
  for await (const chunk of request as AsyncIterable<Buffer>) {
    length += chunk.length;
    if (length > maxBytes) throw tooLong();
    chunks.push(chunk);
  }
  return Buffer.concat(chunks, length);
}
