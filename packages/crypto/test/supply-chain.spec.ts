import { readFileSync, realpathSync } from 'node:fs';
import { join } from 'node:path';

const packageRoot = join(import.meta.dirname, '..');
const manifest = JSON.parse(readFileSync(join(packageRoot, 'package.json'), 'utf8')) as { dependencies: Record<string, string> };
const lockfile = readFileSync(join(packageRoot, '..', '..', 'pnpm-lock.yaml'), 'utf8');
const EXACT = /^\d+\.\d+\.\d+$/;

/** Every version of `name` the lockfile resolves anywhere (its `packages:` keys). */
const lockedVersions = (name: string) => [
  ...new Set([...lockfile.matchAll(new RegExp(`^  '?${name}@(\\d+\\.\\d+\\.\\d+)'?:`, 'gm'))].map((match) => match[1])),
];

// The one library that touches keys and plaintext is pinned to the byte: a new release (or a swapped
// tarball under a caret range) must be a deliberate change, with test/vectors.json regenerated.
describe('the crypto library supply chain', () => {
  it('pins libsodium-wrappers-sumo and libsodium-sumo exactly, in the manifest and the lockfile', () => {
    const pinned = manifest.dependencies['libsodium-wrappers-sumo'] ?? '';
    const importer = lockfile.match(/\n {2}packages\/crypto:\n(?:.*\n)*? {6}libsodium-wrappers-sumo:\n {8}specifier: (\S+)\n {8}version: (\S+)\n/);
    const override = lockfile.match(/^overrides:\n(?: {2}.*\n)*? {2}libsodium-sumo: (\S+)$/m);

    expect(pinned).toMatch(EXACT);
    expect(importer?.slice(1, 3)).toEqual([pinned, pinned]);
    expect(override?.[1]).toMatch(EXACT);
    expect(lockedVersions('libsodium-wrappers-sumo')).toEqual([pinned]);
    expect(lockedVersions('libsodium-sumo')).toEqual([override?.[1]]);
  });

  it('runs the versions the lockfile names', () => {
    // pnpm's layout: the package is a link into the store, with its own dependencies beside it.
    const wrappersDir = realpathSync(join(packageRoot, 'node_modules', 'libsodium-wrappers-sumo'));
    const versionOf = (dir: string) => (JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { version: string }).version;
    const wrappers = { version: versionOf(wrappersDir) };
    const core = { version: versionOf(join(wrappersDir, '..', 'libsodium-sumo')) };

    expect(wrappers.version).toBe(manifest.dependencies['libsodium-wrappers-sumo']);
    expect(lockedVersions('libsodium-sumo')).toEqual([core.version]);
  });
});
