import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';

const ROOT = join(import.meta.dirname, '..', '..', '..');

// docs/architecture.md, "Dependency rule": which workspace packages each one may use. The gateway's tests use
// @parley/crypto as a real client would (its source may not: see the next tests).
const ALLOWED: Record<string, readonly string[]> = {
  '@parley/gateway': ['@parley/protocol', '@parley/client', '@parley/testing', '@parley/crypto', '@parley/sdk'],
  '@parley/patient': ['@parley/protocol', '@parley/client', '@parley/crypto', '@parley/sdk', '@parley/web', '@parley/ui', '@parley/gateway', '@parley/testing'],
  '@parley/staff': ['@parley/protocol', '@parley/client', '@parley/crypto', '@parley/sdk', '@parley/web', '@parley/ui', '@parley/gateway', '@parley/testing'],
  // Browser storage (IndexedDB, WebCrypto, Web Locks) for both web apps; it stores what it is given and imports no crypto.
  '@parley/web': ['@parley/client', '@parley/testing'],
  // Svelte pieces both apps share (context pairs, the gateway status line); it knows nothing of Parley's packages.
  '@parley/ui': [],
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
      .flatMap((file) =>
        importsOf(file)
          .filter((specifier) => /^@parley\/[^/]+\/.+/.test(specifier))
          .map((s) => `${relative(ROOT, file)}: ${s}`),
      );

    expect(deepImports).toEqual([]);
  });
});

// docs/architecture.md, "Gateway features": a feature folder of apps/gateway/src imports another feature's module and
// uses its exported service, never its repository or entity (it refers to foreign rows by id). `common` and `database`
// are the shared infrastructure, not features.
const GATEWAY_SRC = join(ROOT, 'apps/gateway/src');
const INFRASTRUCTURE = new Set(['common', 'database']);
/** What was `auth`: they import no feature but each other and `audit`'s writer (docs/decisions/0004-auth-imports-audit.md). */
const ACCOUNT_FEATURES = ['sessions', 'devices', 'invitations', 'account-keys', 'sign-in', 'sign-out', 'rate-limits'];
/** The audit viewer (`AuditLogModule` and the controllers it registers) uses the sessions guard; the audit writer imports no feature. */
const AUDIT_VIEWER = ['audit/audit-log.module.ts', 'audit/audit.controller.ts', 'audit/people.controller.ts'];

interface FeatureImport {
  /** The importing file, relative to apps/gateway/src. */
  file: string;
  from: string;
  to: string;
  /** The imported file, relative to apps/gateway/src. */
  target: string;
}

/** Every import of a gateway source file (specs aside: tests may set rows up through any repository) into another folder of src. */
function featureImports(): FeatureImport[] {
  return sourceFiles(GATEWAY_SRC)
    .filter((file) => !file.endsWith('.spec.ts'))
    .flatMap((file) =>
      importsOf(file)
        .filter((specifier) => specifier.startsWith('.'))
        .map((specifier) => ({ file: relative(GATEWAY_SRC, file), target: relative(GATEWAY_SRC, join(file, '..', specifier)) })),
    )
    .map(({ file, target }) => ({ file, target, from: file.split('/')[0] ?? '', to: target.split('/')[0] ?? '' }))
    .filter(({ file, target, from, to }) => file.includes('/') && target.includes('/') && !target.startsWith('..') && from !== to);
}

const features = () => readdirSync(GATEWAY_SRC).filter((name) => statSync(join(GATEWAY_SRC, name)).isDirectory() && !INFRASTRUCTURE.has(name));
const describeImport = ({ file, target }: FeatureImport) => `${file} -> ${target}`;

describe('socket gateways', () => {
  // Nest adds a `connection` listener to the namespace and a `disconnect` listener to every socket for each gateway
  // class: past 10, Node warns of a leak on stderr at start (which `npm start` and the process tests must not print),
  // and each one costs every connected socket memory. A new command joins the gateway of its feature's nearest kin.
  it('has at most 10 @WebSocketGateway classes', () => {
    const gateways = sourceFiles(join(ROOT, 'apps', 'gateway', 'src')).filter((file) => readFileSync(file, 'utf8').includes('@WebSocketGateway('));
    expect(gateways.length).toBeLessThanOrEqual(10);
  });
});

describe('gateway feature folders', () => {
  it('finds the feature folders the account and queue code was cut into', () => {
    expect(features()).toEqual(expect.arrayContaining([...ACCOUNT_FEATURES, 'audit', 'routing', 'capacity', 'lifecycle']));
    expect(features()).not.toEqual(expect.arrayContaining(['auth']));
  });

  it("never imports another feature's repository or entity", () => {
    const offending = featureImports().filter(({ from, target }) => !INFRASTRUCTURE.has(from) && /\.(repository|entity)\.js$/.test(target));

    expect(offending.map(describeImport)).toEqual([]);
  });

  it('keeps the account features to each other and the audit writer', () => {
    // `invalidation` imports no feature: the sessions cache is kept by its listener.
    const allowed = new Set([...ACCOUNT_FEATURES, ...INFRASTRUCTURE, 'audit', 'invalidation']);
    const offending = featureImports().filter(({ from, to }) => ACCOUNT_FEATURES.includes(from) && !allowed.has(to));

    expect(offending.map(describeImport)).toEqual([]);
  });

  it('keeps the audit writer free of features, and its viewer to the sessions guard', () => {
    const offending = featureImports().filter(
      ({ file, from, to }) => from === 'audit' && !INFRASTRUCTURE.has(to) && !(AUDIT_VIEWER.includes(file) && to === 'sessions'),
    );

    expect(offending.map(describeImport)).toEqual([]);
  });

  it('has no cycle between feature folders', () => {
    const edges = new Map<string, Set<string>>();
    for (const { from, to } of featureImports()) {
      if (INFRASTRUCTURE.has(from) || INFRASTRUCTURE.has(to)) continue;
      edges.set(from, (edges.get(from) ?? new Set()).add(to));
    }
    const cycles: string[] = [];
    const visit = (folder: string, path: readonly string[]): void => {
      for (const next of edges.get(folder) ?? []) {
        if (next === path[0]) cycles.push([...path, next].join(' -> '));
        else if (!path.includes(next) && next > path[0]!) visit(next, [...path, next]);
      }
    };
    for (const folder of edges.keys()) visit(folder, [folder]);

    expect(cycles).toEqual([]);
  });
});
