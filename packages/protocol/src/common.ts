import { z } from 'zod';

/**
 * Standard base64's alphabet with at most two '=' at the end. With a length that is a multiple of 4, the same strings
 * as one pattern of groups of four, which V8 matches several times slower (this runs on every message, both ways).
 */
export const BASE64_TEXT = /^[A-Za-z0-9+/]*={0,2}$/;

/** Standard base64's 64 characters, by character code (below 128). */
const BASE64_CHARACTERS = new Uint8Array(128);
for (const character of 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/') BASE64_CHARACTERS[character.charCodeAt(0)] = 1;

/** `BASE64_TEXT.test(text)` by a table lookup per character, about three times faster for the hot path (`isPlainTextSend`). */
export function isBase64Text(text: string): boolean {
  let end = text.length;
  if (text.charCodeAt(end - 1) === 61) end -= text.charCodeAt(end - 2) === 61 ? 2 : 1;
  for (let index = 0; index < end; index += 1) if (BASE64_CHARACTERS[text.charCodeAt(index)] !== 1) return false;
  return true;
}

/** How many bytes a padded base64 text (a multiple of 4 long) decodes to. */
export const base64Bytes = (text: string) => (text.length / 4) * 3 - (text.endsWith('==') ? 2 : text.endsWith('=') ? 1 : 0);

/** Standard base64 (with padding) whose decoded length is within [min, max] bytes. */
export function base64(maxBytes: number, minBytes = 1) {
  return z
    .string()
    .max(Math.ceil(maxBytes / 3) * 4)
    .regex(BASE64_TEXT, 'not base64')
    .refine((value) => value.length % 4 === 0, 'not base64')
    .refine(
      (value) => {
        const bytes = base64Bytes(value);
        return bytes >= minBytes && bytes <= maxBytes;
      },
      `must decode to ${minBytes === maxBytes ? maxBytes : `${minBytes}–${maxBytes}`} bytes`,
    );
}

/** Exactly `bytes` bytes, base64-encoded. */
export const base64Exact = (bytes: number) => base64(bytes, bytes);

export const Uuid = z.uuid();

/** Fixed sizes of the binary fields (see docs/crypto.md). */
export const PUBLIC_KEY_BYTES = 32;
export const SIGNATURE_BYTES = 64;
export const NONCE_BYTES = 24;
export const SEALED_KEY_BYTES = 80;
export const KEY_ID_BYTES = 16;
export const AUTH_KEY_BYTES = 32;
export const SALT_BYTES = 16;
/** The passphrase-sealed backup of the account key and the pinned root key (docs/crypto.md, backup v2). */
export const BACKUP_BLOB_BYTES = 208;
/** An invitation's lookup id: derived from the code by the clients, all that the server stores of it. */
export const LOOKUP_ID_BYTES = 32;
/** A padded, encrypted message of at most 32 KiB of payload (MAX_CIPHERTEXT_BYTES of @parley/crypto). */
export const MAX_CIPHERTEXT_BYTES = 33_040;

export const PublicKey = base64Exact(PUBLIC_KEY_BYTES);
export const Signature = base64Exact(SIGNATURE_BYTES);

/** A device's two public keys. */
export const DevicePublicKeys = z.object({ signPublicKey: PublicKey, boxPublicKey: PublicKey }).strict();
export type DevicePublicKeys = z.infer<typeof DevicePublicKeys>;

export const ROLES = ['patient', 'clinician', 'manager'] as const;
export const Role = z.enum(ROLES);
export type Role = z.infer<typeof Role>;

/** The NHS ODS code of a practice, e.g. "Y00001". */
export const OdsCode = z.string().regex(/^[A-Z0-9]{3,10}$/);

/** What a root-signed staff device certificate vouches for beside the keys: the name and roles clients show. */
export const CertifiedStaff = z
  .object({
    displayName: z.string().min(1).max(200),
    roles: z
      .array(z.enum(['clinician', 'manager']))
      .min(1)
      .max(2),
  })
  .strict();
export type CertifiedStaff = z.infer<typeof CertifiedStaff>;

/** What `validate` answers: the parsed value, or where and why the value does not fit (never the value itself). */
export type Validation<T> = { success: true; data: T } | { success: false; problems: string[] };

/**
 * Checks a value against a schema without ever throwing. zod's `safeParse` can throw on values whose
 * coercion to a primitive throws (an object under `length` whose `toString` and `valueOf` are not
 * functions, which JSON can express): such a value does not fit either.
 */
export function validate<T>(schema: z.ZodType<T>, value: unknown): Validation<T> {
  try {
    const result = schema.safeParse(value);
    if (result.success) return { success: true, data: result.data };
    return { success: false, problems: result.error.issues.map((issue) => `${issue.path.join('.') || '(payload)'}: ${issue.message}`) };
  } catch {
    return { success: false, problems: ['(payload): a value the schema cannot read'] };
  }
}
