import { generateKeyPairSync } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadReleaseKey, releaseFiles, releasePublicKey, signManifest, writeReleaseManifest } from '../../../../scripts/release-signing.js';
import { canonicalJson, fromBase64, parseReleaseManifest, sha256Base64, verifyReleaseManifest, type ReleaseManifest } from './verify-manifest.js';

const HASH = Buffer.alloc(32, 7).toString('base64');

function aKey() {
  const { privateKey } = generateKeyPairSync('ed25519');
  return { privateKey, publicKey: fromBase64(releasePublicKey(privateKey)) };
}

function aManifest(privateKey = aKey().privateKey): ReleaseManifest {
  return signManifest({ version: 1, release: 'r-1', files: { '/index.html': HASH, '/assets/index-abc.js': HASH } }, privateKey);
}

describe('release manifest', () => {
  describe(canonicalJson.name, () => {
    it('sorts every object’s keys and leaves out whitespace, whatever order the fields came in', () => {
      expect(canonicalJson({ b: 1, a: { d: ['x', true, null], c: 'é' } })).toBe('{"a":{"c":"é","d":["x",true,null]},"b":1}');
      expect(canonicalJson({ a: { c: 'é', d: ['x', true, null] }, b: 1 })).toBe(canonicalJson({ b: 1, a: { d: ['x', true, null], c: 'é' } }));
    });

    it('refuses what JSON cannot carry', () => {
      expect(() => canonicalJson(Number.NaN)).toThrow(TypeError);
      expect(() => canonicalJson(() => 1)).toThrow(TypeError);
    });
  });

  describe(verifyReleaseManifest.name, () => {
    it('accepts a manifest the build signed (node) under its key (WebCrypto), whatever order its fields are in', async () => {
      const key = aKey();
      const manifest = aManifest(key.privateKey);
      const reordered = { files: { '/assets/index-abc.js': HASH, '/index.html': HASH }, signature: manifest.signature, release: 'r-1', version: 1 as const };

      expect(await verifyReleaseManifest(manifest, key.publicKey)).toBe(true);
      expect(await verifyReleaseManifest(reordered, key.publicKey)).toBe(true);
    });

    it('refuses a manifest signed with another key', async () => {
      expect(await verifyReleaseManifest(aManifest(), aKey().publicKey)).toBe(false);
    });

    it('refuses a manifest whose file list or release was changed after signing', async () => {
      const key = aKey();
      const manifest = aManifest(key.privateKey);

      expect(await verifyReleaseManifest({ ...manifest, files: { ...manifest.files, '/evil.js': HASH } }, key.publicKey)).toBe(false);
      expect(
        await verifyReleaseManifest({ ...manifest, files: { ...manifest.files, '/index.html': Buffer.alloc(32, 8).toString('base64') } }, key.publicKey),
      ).toBe(false);
      expect(await verifyReleaseManifest({ ...manifest, release: 'r-0' }, key.publicKey)).toBe(false);
    });

    it('answers false, not an exception, for a malformed key', async () => {
      expect(await verifyReleaseManifest(aManifest(), new Uint8Array(5))).toBe(false);
    });
  });

  describe(parseReleaseManifest.name, () => {
    it('reads a well-formed manifest', () => {
      const manifest = aManifest();

      expect(parseReleaseManifest(JSON.stringify(manifest))).toEqual(manifest);
    });

    it.each([
      ['not JSON', '{'],
      ['an unknown field', (m: ReleaseManifest) => ({ ...m, extra: 1 })],
      ['another version', (m: ReleaseManifest) => ({ ...m, version: 2 })],
      ['a path climbing out of the app', (m: ReleaseManifest) => ({ ...m, files: { '/assets/../../etc/passwd': HASH } })],
      ['a path with a query', (m: ReleaseManifest) => ({ ...m, files: { '/index.html?x=1': HASH } })],
      ['a relative path', (m: ReleaseManifest) => ({ ...m, files: { 'index.html': HASH } })],
      ['a hash that is not SHA-256', (m: ReleaseManifest) => ({ ...m, files: { '/index.html': 'abc=' } })],
      ['no files', (m: ReleaseManifest) => ({ ...m, files: {} })],
      ['a short signature', (m: ReleaseManifest) => ({ ...m, signature: 'AAAA' })],
    ])('refuses %s', (_what, change) => {
      const text = typeof change === 'string' ? change : JSON.stringify(change(aManifest()));

      expect(parseReleaseManifest(text)).toBeNull();
    });
  });

  describe(writeReleaseManifest.name, () => {
    let folder: string;
    /** Outside the build folder, as the demo key is. */
    let keys: string;

    beforeEach(async () => {
      folder = await mkdtemp(join(tmpdir(), 'parley-release-'));
      keys = await mkdtemp(join(tmpdir(), 'parley-release-keys-'));
      await mkdir(join(folder, 'assets'));
      await writeFile(join(folder, 'index.html'), '<!doctype html>');
      await writeFile(join(folder, 'sw.js'), 'self;');
      for (const name of ['index-abc.js', 'index-abc.js.br', 'index-abc.js.gz', 'index-abc.js.map']) await writeFile(join(folder, 'assets', name), name);
    });

    afterEach(async () => {
      await rm(folder, { recursive: true, force: true });
      await rm(keys, { recursive: true, force: true });
    });

    it('lists every file the app loads, not source maps or compressed copies, each with its SHA-256, signed', async () => {
      const key = loadReleaseKey({ demoKeyFile: join(keys, 'demo', 'demo.pem') });

      const manifest = await writeReleaseManifest(folder, key);

      expect(await releaseFiles(folder)).toEqual(['/assets/index-abc.js', '/index.html', '/sw.js']);
      expect(manifest.files).toEqual({
        '/assets/index-abc.js': await sha256Base64(Buffer.from('index-abc.js')),
        '/index.html': await sha256Base64(Buffer.from('<!doctype html>')),
        '/sw.js': await sha256Base64(Buffer.from('self;')),
      });
      expect(parseReleaseManifest(await readFile(join(folder, 'release-manifest.json'), 'utf8'))).toEqual(manifest);
      expect(await verifyReleaseManifest(manifest, fromBase64(key.publicKey))).toBe(true);
    });

    it('names a release after its files: the same build, the same name', async () => {
      const key = loadReleaseKey({ demoKeyFile: join(keys, 'demo', 'demo.pem') });

      const first = await writeReleaseManifest(folder, key);
      const again = await writeReleaseManifest(folder, key);
      await writeFile(join(folder, 'index.html'), '<!doctype html><title>next</title>');
      const next = await writeReleaseManifest(folder, key);

      expect(again.release).toBe(first.release);
      expect(next.release).not.toBe(first.release);
    });

    it('makes the demo key once, in a folder that git ignores, and uses it again', async () => {
      const demoKeyFile = join(keys, 'demo', 'demo.pem');

      const first = loadReleaseKey({ demoKeyFile });
      const again = loadReleaseKey({ demoKeyFile });

      expect(first.isDemo).toBe(true);
      expect(again.publicKey).toBe(first.publicKey);
      expect(await readFile(join(keys, 'demo', '.gitignore'), 'utf8')).toBe('*\n');
    });

    it('signs with the key file it is given, and refuses a key that is not Ed25519', async () => {
      const keyFile = join(folder, 'release.pem');
      const other = join(folder, 'other.pem');
      const { privateKey } = generateKeyPairSync('ed25519');
      await writeFile(keyFile, privateKey.export({ format: 'pem', type: 'pkcs8' }));
      await writeFile(other, generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ format: 'pem', type: 'pkcs8' }));

      const key = loadReleaseKey({ keyFile });

      expect(key).toMatchObject({ isDemo: false, publicKey: releasePublicKey(privateKey) });
      expect(() => loadReleaseKey({ keyFile: other })).toThrow(/Ed25519/);
    });
  });
});
