/**
 * What a device vault can hold: JSON values and byte arrays (keys), nested freely.
 * Functions, dates, maps and class instances are not kept.
 */
export type SecretValue = string | number | boolean | null | Uint8Array | SecretValue[] | { [key: string]: SecretValue | undefined };

const BYTES_TAG = '$bytes';

function toBase64(bytes: Uint8Array): string {
  let binary = '';
  for (const byte of bytes) binary += String.fromCharCode(byte);
  return btoa(binary);
}

function fromBase64(text: string): Uint8Array {
  const binary = atob(text);
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  return bytes;
}

/** Serialises a {@link SecretValue} (typed `unknown` so interfaces pass) to bytes, byte arrays tagged, ready to encrypt. */
export function encodeSecret(value: unknown): Uint8Array<ArrayBuffer> {
  const json = JSON.stringify(value, (_key, item: unknown) => (item instanceof Uint8Array ? { [BYTES_TAG]: toBase64(item) } : item));
  return new TextEncoder().encode(json);
}

/** Reverses {@link encodeSecret}. @throws SyntaxError on bytes it did not make */
export function decodeSecret<T = SecretValue>(bytes: Uint8Array): T {
  return JSON.parse(new TextDecoder().decode(bytes), (_key, item: unknown) => {
    if (typeof item === 'object' && item !== null && !Array.isArray(item)) {
      const keys = Object.keys(item);
      const tagged = (item as Record<string, unknown>)[BYTES_TAG];
      if (keys.length === 1 && typeof tagged === 'string') return fromBase64(tagged);
    }
    return item;
  }) as T;
}
