// `pnpm audit:offline`: the dependency audit that needs no network. Checks every package version in pnpm-lock.yaml
// against the advisory snapshot kept in the repository (security/advisories.json, format in security/README.md).
// A high or critical advisory fails (exit 1); lower ones are printed. `.ci/run` runs it on every build, and runs
// `pnpm audit` as well where the registry's audit service answers.
//
//   node scripts/audit-offline.mjs [--lockfile pnpm-lock.yaml] [--advisories security/advisories.json]
//   node scripts/audit-offline.mjs --refresh <checkout of github.com/github/advisory-database> [--lockfile …] [--advisories …]
//     rewrites the snapshot with every reviewed npm advisory of a package in the lockfile (any version: a later
//     downgrade is caught too).
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import semver from 'semver';

const root = new URL('..', import.meta.url).pathname;
const FAILING = new Set(['high', 'critical']);
/** A snapshot older than this is reported: advisories published since are not in it. */
const STALE_AFTER_DAYS = 90;

/** Every `name → versions` in a pnpm lockfile (v9): the keys of its `packages:` section, `'@scope/name@1.2.3':`. */
export function lockedVersions(lockText) {
  const locked = new Map();
  const section = lockText.split(/^packages:\n/m)[1]?.split(/^\S/m)[0] ?? '';
  for (const [, name, version] of section.matchAll(/^ {2}'?((?:@[^@/\s']+\/)?[^@\s']+)@([^'(\s]+?)'?:$/gm)) {
    if (!locked.has(name)) locked.set(name, new Set());
    locked.get(name).add(version);
  }
  return locked;
}

/** Each locked version inside an advisory's vulnerable range, with the advisory. Versions that are not semver (a git or file dependency) are not matched. */
export function findVulnerable(locked, advisories) {
  return advisories.flatMap((advisory) =>
    [...(locked.get(advisory.package) ?? [])]
      .filter((version) => semver.valid(version) && semver.satisfies(version, advisory.vulnerable, { includePrerelease: true }))
      .map((version) => ({ version, advisory })),
  );
}

/** The snapshot entries of OSV advisories (github/advisory-database's format) for packages in `names`. */
export function fromOsv(osvAdvisories, names) {
  const entries = [];
  for (const osv of osvAdvisories) {
    if (osv.withdrawn) continue;
    for (const affected of osv.affected ?? []) {
      if (affected.package?.ecosystem !== 'npm' || !names.has(affected.package.name)) continue;
      const ranges = [];
      const fixed = [];
      for (const range of affected.ranges ?? []) {
        let introduced = '0';
        for (const event of range.events) {
          if (event.introduced !== undefined) introduced = event.introduced;
          const from = introduced === '0' ? '' : `>=${introduced} `;
          if (event.fixed !== undefined) {
            ranges.push(`${from}<${event.fixed}`);
            fixed.push(event.fixed);
          }
          if (event.last_affected !== undefined) ranges.push(`${from}<=${event.last_affected}`);
        }
        // Introduced and never fixed: every version since.
        const last = range.events.at(-1);
        if (last?.introduced !== undefined) ranges.push(last.introduced === '0' ? '*' : `>=${last.introduced}`);
      }
      if (ranges.length === 0) ranges.push(...(affected.versions ?? []));
      if (ranges.length === 0) continue;
      entries.push({
        id: osv.id,
        package: affected.package.name,
        vulnerable: ranges.join(' || '),
        fixed,
        severity: (osv.database_specific?.severity ?? 'unknown').toLowerCase(),
        title: osv.summary ?? '',
      });
    }
  }
  return entries.sort((a, b) => a.package.localeCompare(b.package) || a.id.localeCompare(b.id));
}

/** Every reviewed advisory file under a checkout of github.com/github/advisory-database. */
function readOsvTree(folder) {
  return readdirSync(join(folder, 'advisories', 'github-reviewed'), { recursive: true })
    .filter((path) => path.endsWith('.json'))
    .map((path) => JSON.parse(readFileSync(join(folder, 'advisories', 'github-reviewed', path), 'utf8')));
}

function main() {
  const { values } = parseArgs({
    options: {
      lockfile: { type: 'string', default: join(root, 'pnpm-lock.yaml') },
      advisories: { type: 'string', default: join(root, 'security/advisories.json') },
      refresh: { type: 'string' },
    },
  });
  const locked = lockedVersions(readFileSync(values.lockfile, 'utf8'));
  if (values.refresh) {
    const advisories = fromOsv(readOsvTree(resolve(values.refresh)), new Set(locked.keys()));
    const previous = JSON.parse(readFileSync(values.advisories, 'utf8'));
    const snapshot = {
      ...previous,
      updated: new Date().toISOString().slice(0, 10),
      source: 'github.com/github/advisory-database (reviewed npm advisories of packages in pnpm-lock.yaml)',
      advisories,
    };
    writeFileSync(values.advisories, `${JSON.stringify(snapshot, null, 2)}\n`);
    console.log(`audit:offline: wrote ${advisories.length} advisories for ${locked.size} locked packages to ${values.advisories}`);
    return;
  }
  const snapshot = JSON.parse(readFileSync(values.advisories, 'utf8'));
  const ageDays = Math.floor((Date.now() - Date.parse(snapshot.updated)) / 86_400_000);
  console.log(
    `audit:offline: ${[...locked.values()].reduce((sum, versions) => sum + versions.size, 0)} locked versions of ${locked.size} packages against ${snapshot.advisories.length} advisories (snapshot of ${snapshot.updated})`,
  );
  if (!(ageDays <= STALE_AFTER_DAYS))
    console.warn(`audit:offline: WARNING: the advisory snapshot is ${ageDays} days old; refresh it (docs/threat-model.md, T14)`);
  const findings = findVulnerable(locked, snapshot.advisories);
  for (const { version, advisory } of findings) {
    const fix = advisory.fixed?.length ? `; fixed in ${advisory.fixed.join(', ')}` : '; no fixed version';
    console.log(`  ${advisory.severity.padEnd(8)} ${advisory.package}@${version}: ${advisory.id} ${advisory.title} (vulnerable ${advisory.vulnerable}${fix})`);
  }
  const failing = findings.filter(({ advisory }) => FAILING.has(advisory.severity));
  if (failing.length > 0) {
    console.error(`audit:offline: ${failing.length} high or critical advisories apply to locked versions`);
    process.exitCode = 1;
  } else {
    console.log(`audit:offline: no high or critical advisory applies${findings.length ? ` (${findings.length} lower, above)` : ''}`);
  }
}

if (process.argv[1] && resolve(process.argv[1]) === new URL(import.meta.url).pathname) main();
