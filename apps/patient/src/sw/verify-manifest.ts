// The release manifest: the list of every file of one build of the patient app with its SHA-256, signed with the
// release key (Ed25519). The service worker pins the release public key at install and serves only files that match a
// manifest verified under it (docs/crypto.md, "The code the server serves"; docs/patient-client.md, "Verified code
// bundle"). Shared by the service worker (WebCrypto), the build that signs (node) and the tests: one canonical form.

/** Where the build writes the manifest, at the app's root. */
export const RELEASE_MANIFEST_PATH = '/release-manifest.json';
/** The one manifest format there is. */
export const RELEASE_MANIFEST_VERSION = 1;
/** More files than any build of the app has: a larger manifest is refused before anything is fetched. */
const MAX_FILES = 2000;
/** A file's path: from the app's root, no `..`, no query or fragment. */
const FILE_PATH = /^\/(?!.*\/\.\.?(\/|$))[\w.~@+-]+(\/[\w.~@+-]+)*$/;
/** Standard base64 of 32 bytes (SHA-256). */
const SHA256_BASE64 = /^[A-Za-z0-9+/]{43}=$/;
/** Standard base64 of 64 bytes (an Ed25519 signature). */
const SIGNATURE_BASE64 = /^[A-Za-z0-9+/]{86}==$/;
/** A release name: short, printable, no spaces. */
const RELEASE = /^[\w.:+-]{1,100}$/;

/** What the release key signs: the manifest without its signature. */
export interface UnsignedReleaseManifest {
  version: typeof RELEASE_MANIFEST_VERSION;
  /** Names this build; a build of the same files has the same name. */
  release: string;
  /** Path from the app's root (`/index.html`, `/assets/…`) → standard base64 of the file's SHA-256. */
  files: Record<string, string>;
}

/** `release-manifest.json`: `signature` is Ed25519 (base64) over `canonicalJson` of the other fields. */
export interface ReleaseManifest extends UnsignedReleaseManifest {
  signature: string;
}

/**
 * The bytes that are signed: JSON with every object's keys in code-unit order and no whitespace, so the build (node)
 * and the service worker (a browser) produce the same bytes whatever order the fields were written in.
 */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (typeof value === 'object' && value !== null) {
    const entries = Object.entries(value as Record<string, unknown>).filter(([, field]) => field !== undefined);
    entries.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([key, field]) => `${JSON.stringify(key)}:${canonicalJson(field)}`).join(',')}}`;
  }
  if (typeof value === 'string' || typeof value === 'boolean' || value === null) return JSON.stringify(value);
  if (typeof value === 'number' && Number.isFinite(value)) return JSON.stringify(value);
  throw new TypeError('canonicalJson: only JSON values can be signed');
}

/** The bytes the release key signs for `manifest` (its signature left out). */
export function signedBytes(manifest: UnsignedReleaseManifest): Uint8Array {
  const { version, release, files } = manifest;
  return new TextEncoder().encode(canonicalJson({ version, release, files }));
}

/**
 * Reads a manifest as the server sent it (the server is not trusted): the exact shape, well-formed paths and hashes, a
 * bounded number of files, no other fields. Null when it is anything else.
 */
export function parseReleaseManifest(text: string): ReleaseManifest | null {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return null;
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return null;
  const candidate = value as Record<string, unknown>;
  if (Object.keys(candidate).sort().join() !== 'files,release,signature,version') return null;
  const { version, release, files, signature } = candidate;
  if (version !== RELEASE_MANIFEST_VERSION || typeof release !== 'string' || !RELEASE.test(release)) return null;
  if (typeof signature !== 'string' || !SIGNATURE_BASE64.test(signature)) return null;
  if (typeof files !== 'object' || files === null || Array.isArray(files)) return null;
  const entries = Object.entries(files as Record<string, unknown>);
  if (entries.length === 0 || entries.length > MAX_FILES) return null;
  for (const [path, hash] of entries) {
    if (!FILE_PATH.test(path) || typeof hash !== 'string' || !SHA256_BASE64.test(hash)) return null;
  }
  return { version, release, files: files as Record<string, string>, signature };
}

/** Whether `manifest` carries a valid Ed25519 signature by `publicKey` (32 bytes, raw) — WebCrypto, in a browser or node. */
export async function verifyReleaseManifest(manifest: ReleaseManifest, publicKey: Uint8Array): Promise<boolean> {
  try {
    const key = await crypto.subtle.importKey('raw', toArrayBuffer(publicKey), { name: 'Ed25519' }, false, ['verify']);
    return await crypto.subtle.verify({ name: 'Ed25519' }, key, toArrayBuffer(fromBase64(manifest.signature)), toArrayBuffer(signedBytes(manifest)));
  } catch {
    // A malformed key or signature is a manifest that does not verify, never an exception for the caller.
    return false;
  }
}

/** Standard base64 of the SHA-256 of `bytes`: what the manifest lists for a file. */
export async function sha256Base64(bytes: ArrayBuffer | Uint8Array): Promise<string> {
  const data = bytes instanceof Uint8Array ? toArrayBuffer(bytes) : bytes;
  return toBase64(new Uint8Array(await crypto.subtle.digest('SHA-256', data)));
}

/** Standard base64 → bytes (throws on anything else). */
export function fromBase64(text: string): Uint8Array {
  return Uint8Array.from(atob(text), (character) => character.charCodeAt(0));
}

/** Bytes → standard base64. */
export function toBase64(bytes: Uint8Array): string {
  let binary = '';
  for (const byte of bytes) binary += String.fromCharCode(byte);
  return btoa(binary);
}

/**
 * A copy of `bytes` in an ArrayBuffer of exactly its length (WebCrypto's types refuse views over a SharedArrayBuffer;
 * a node Buffer's `slice` is a view into a shared pool, so copy through the Uint8Array constructor).
 */
function toArrayBuffer(bytes: Uint8Array): ArrayBuffer {
  return new Uint8Array(bytes).buffer;
}
