// Signs a build of the patient app: lists every file it serves with its SHA-256 and signs the list with the release
// key (Ed25519), writing `release-manifest.json` beside them (docs/operations.md, "Release key"; the format and its
// checks are in apps/patient/src/sw/verify-manifest.ts). Used by the app's build (vite.config.ts) and by its tests.
import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, sign, type KeyObject } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { readdir, readFile, writeFile } from 'node:fs/promises';
import { dirname, join, relative, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  RELEASE_MANIFEST_PATH,
  RELEASE_MANIFEST_VERSION,
  signedBytes,
  type ReleaseManifest,
  type UnsignedReleaseManifest,
} from '../apps/patient/src/sw/verify-manifest.js';

/** Files of a build that the app never loads: source maps (DevTools only), the compressed copies of files it does load. */
const UNSERVED = /\.(map|br|gz)$/;

/** Where the first build without PARLEY_RELEASE_KEY_FILE makes the demo release key (a folder that git ignores). */
export const DEMO_RELEASE_KEY_FILE = fileURLToPath(new URL('../.release-keys/DEMO-ONLY-release-key.pem', import.meta.url));

/** The key a release is signed with. */
export interface ReleaseKey {
  privateKey: KeyObject;
  /** Raw Ed25519 public key (32 bytes), standard base64: what the service worker pins. */
  publicKey: string;
  /** Made by the build for the demo (`npm start`, CI): never for a real practice. */
  isDemo: boolean;
}

/** The raw public key (standard base64) of an Ed25519 private key. */
export function releasePublicKey(privateKey: KeyObject): string {
  const jwk = createPublicKey(privateKey).export({ format: 'jwk' });
  if (!jwk.x) throw new Error('the release key is not an Ed25519 key');
  return Buffer.from(jwk.x, 'base64url').toString('base64');
}

/**
 * The release key: the PEM (PKCS #8) file `keyFile` names when given (a real release: made with
 * `openssl genpkey -algorithm ed25519`), else the demo key in `demoKeyFile`, made on the first build that needs it.
 */
export function loadReleaseKey(options: { keyFile?: string | undefined; demoKeyFile?: string } = {}): ReleaseKey {
  const demoKeyFile = options.demoKeyFile ?? DEMO_RELEASE_KEY_FILE;
  if (options.keyFile) {
    const privateKey = createPrivateKey(readFileSync(options.keyFile));
    if (privateKey.asymmetricKeyType !== 'ed25519') throw new Error(`${options.keyFile}: the release key must be an Ed25519 private key`);
    return { privateKey, publicKey: releasePublicKey(privateKey), isDemo: false };
  }
  if (!existsSync(demoKeyFile)) {
    const folder = dirname(demoKeyFile);
    mkdirSync(folder, { recursive: true, mode: 0o700 });
    // The folder ignores itself: the demo key must never be committed, nor mistaken for a release key.
    writeFileSync(join(folder, '.gitignore'), '*\n');
    const { privateKey } = generateKeyPairSync('ed25519');
    writeFileSync(demoKeyFile, privateKey.export({ format: 'pem', type: 'pkcs8' }), { mode: 0o600 });
  }
  const privateKey = createPrivateKey(readFileSync(demoKeyFile));
  return { privateKey, publicKey: releasePublicKey(privateKey), isDemo: true };
}

/** Signs `unsigned` with `privateKey`: the manifest as the service worker reads it. */
export function signManifest(unsigned: UnsignedReleaseManifest, privateKey: KeyObject): ReleaseManifest {
  const signature = sign(null, signedBytes(unsigned), privateKey);
  return { ...unsigned, signature: signature.toString('base64') };
}

/** Every file under `folder` the app may load, as paths from the app's root (`/index.html`), sorted. */
export async function releaseFiles(folder: string): Promise<string[]> {
  const entries = await readdir(folder, { recursive: true, withFileTypes: true });
  return entries
    .filter((entry) => entry.isFile())
    .map((entry) => `/${relative(folder, join(entry.parentPath, entry.name)).split(sep).join('/')}`)
    .filter((path) => !UNSERVED.test(path) && path !== RELEASE_MANIFEST_PATH)
    .sort();
}

/**
 * Hashes every file of the build in `folder`, signs the list with `key` and writes `release-manifest.json` there.
 * The release is named after the files (the same build gives the same name), unless `release` names it.
 */
export async function writeReleaseManifest(folder: string, key: ReleaseKey, release?: string): Promise<ReleaseManifest> {
  const files: Record<string, string> = {};
  for (const path of await releaseFiles(folder)) {
    files[path] = createHash('sha256')
      .update(await readFile(join(folder, path)))
      .digest('base64');
  }
  const name = release ?? `r-${createHash('sha256').update(JSON.stringify(files)).digest('base64url').slice(0, 16)}`;
  const manifest = signManifest({ version: RELEASE_MANIFEST_VERSION, release: name, files }, key.privateKey);
  await writeFile(join(folder, RELEASE_MANIFEST_PATH), `${JSON.stringify(manifest, null, 2)}\n`);
  return manifest;
}
