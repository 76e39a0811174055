import { createHash, randomBytes } from 'node:crypto';

const TOKEN_BYTES = 32;
// base64url of 32 bytes, unpadded.
const TOKEN_FORMAT = /^[A-Za-z0-9_-]{43}$/;

/** A fresh bearer token (32 random bytes, base64url) and the SHA-256 the database keeps instead of it. */
export function newSessionToken(): { token: string; tokenHash: Buffer } {
  const token = randomBytes(TOKEN_BYTES).toString('base64url');
  return { token, tokenHash: hashSessionToken(token)! };
}

/** SHA-256 of a well-formed token, or null for anything else (so garbage never reaches a query). */
export function hashSessionToken(token: unknown): Buffer | null {
  if (typeof token !== 'string' || !TOKEN_FORMAT.test(token)) return null;
  // The token has 256 bits of entropy, so a fast hash suffices: a stolen hash cannot be turned back into it.
  return createHash('sha256').update(token).digest();
}

/** The token of an `Authorization: Bearer <token>` header, if there is one. */
export function bearerToken(header: string | undefined): string | undefined {
  const match = /^Bearer ([^\s]+)$/i.exec(header ?? '');
  return match?.[1];
}
