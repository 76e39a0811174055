import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';

const ROOT = join(import.meta.dirname, '..', '..', '..');

// STYLE.md "Dependency rule": which workspace packages each one may use. The gateway's tests use
// @parley/crypto as a real client would (its source may not: see the next tests).
const ALLOWED: Record<string, readonly string[]> = {
  '@parley/gateway': ['@parley/protocol', '@parley/client', '@parley/testing', '@parley/crypto', '@parley/sdk'],
  '@parley/patient': ['@parley/protocol', '@parley/client', '@parley/crypto', '@parley/sdk', '@parley/web', '@parley/gateway', '@parley/testing'],
  '@parley/staff': ['@parley/protocol', '@parley/client', '@parley/crypto', '@parley/sdk', '@parley/web', '@parley/gateway', '@parley/testing'],
  // Browser storage (IndexedDB, WebCrypto, Web Locks) for both web apps; it stores what it is given and imports no crypto.
  '@parley/web': ['@parley/client', '@parley/testing'],
  // The load generator drives a built gateway process through the same client code as the apps.
  '@parley/bench': ['@parley/protocol', '@parley/client', '@parley/crypto', '@parley/sdk', '@parley/gateway', '@parley/testing'],
  '@parley/client': ['@parley/protocol'],
  '@parley/sdk': ['@parley/protocol', '@parley/client', '@parley/crypto'],
  '@parley/protocol': [],
  '@parley/crypto': [],
  '@parley/testing': [],
};

function packageFolders(): string[] {
  return ['apps', 'packages'].flatMap((group) => readdirSync(join(ROOT, group)).map((name) => join(ROOT, group, name)));
}

function sourceFiles(folder: string): string[] {
  return readdirSync(folder).flatMap((name) => {
    const path = join(folder, name);
    if (name === 'node_modules' || name === 'dist') return [];
    if (statSync(path).isDirectory()) return sourceFiles(path);
    return /\.(ts|svelte)$/.test(name) ? [path] : [];
  });
}

const importsOf = (file: string) => [...readFileSync(file, 'utf8').matchAll(/from '([^']+)'|import\('([^']+)'\)/g)].map((m) => m[1] ?? m[2] ?? '');

describe('dependency rule', () => {
  const folders = packageFolders().map((folder) => ({ folder, manifest: JSON.parse(readFileSync(join(folder, 'package.json'), 'utf8')) }));

  it.each(folders.map(({ folder, manifest }) => [manifest.name as string, folder, manifest]))(
    '%s depends only on the workspace packages it may use',
    (name, _folder, manifest) => {
      const workspaceDependencies = Object.keys({ ...manifest.dependencies, ...manifest.devDependencies }).filter((dep) => dep.startsWith('@parley/'));

      expect(workspaceDependencies.filter((dep) => !ALLOWED[name]?.includes(dep))).toEqual([]);
    },
  );

  it('keeps libsodium and @parley/crypto out of the gateway', () => {
    const offending = sourceFiles(join(ROOT, 'apps/gateway/src')).filter((file) =>
      importsOf(file).some((specifier) => specifier.includes('sodium') || specifier === '@parley/crypto'),
    );

    expect(offending.map((file) => relative(ROOT, file))).toEqual([]);
  });

  it('imports libsodium only inside @parley/crypto', () => {
    const offending = folders
      .filter(({ manifest }) => manifest.name !== '@parley/crypto')
      .flatMap(({ folder }) => sourceFiles(folder))
      .filter((file) => importsOf(file).some((specifier) => specifier.includes('sodium')));

    expect(offending.map((file) => relative(ROOT, file))).toEqual([]);
  });

  it('uses workspace packages only through their exports entry', () => {
    const deepImports = folders
      .flatMap(({ folder }) => sourceFiles(folder))
      .flatMap((file) => importsOf(file).filter((specifier) => /^@parley\/[^/]+\/.+/.test(specifier)).map((s) => `${relative(ROOT, file)}: ${s}`));

    expect(deepImports).toEqual([]);
  });
});
