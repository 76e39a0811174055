import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

// scripts/audit-offline.mjs (`pnpm audit:offline`, run by .ci/run): the dependency audit that works without the
// registry's audit service, against the advisory snapshot in security/advisories.json.
const run = promisify(execFile);
const REPOSITORY = join(import.meta.dirname, '..', '..', '..', '..');
const SCRIPT = join(REPOSITORY, 'scripts', 'audit-offline.mjs');

/** A pnpm v9 lockfile's `packages:` section (what the checker reads) with these `name@version` keys. */
const lockfile = (keys: string[]) =>
  [
    "lockfileVersion: '9.0'",
    '',
    'importers:',
    '',
    '  .: {}',
    '',
    'packages:',
    '',
    ...keys.flatMap((key) => [`  '${key}':`, '    resolution: {integrity: sha512-x}', '']),
    'snapshots:',
    '',
    "  'ws@8.17.0': {}",
    '',
  ].join('\n');

const snapshot = {
  updated: new Date().toISOString().slice(0, 10),
  source: 'test',
  advisories: [
    {
      id: 'GHSA-3h5v-q93c-6h6q',
      package: 'ws',
      vulnerable: '>=7.0.0 <7.5.10 || >=8.0.0 <8.17.1',
      fixed: ['7.5.10', '8.17.1'],
      severity: 'high',
      title: 'DoS with many HTTP headers',
    },
    { id: 'GHSA-pxg6-pf52-xh8x', package: 'cookie', vulnerable: '<0.7.0', fixed: ['0.7.0'], severity: 'low', title: 'out of bounds characters' },
  ],
};

async function audit(folder: string, lockKeys: string[]): Promise<{ code: number; output: string }> {
  await writeFile(join(folder, 'pnpm-lock.yaml'), lockfile(lockKeys));
  await writeFile(join(folder, 'advisories.json'), JSON.stringify(snapshot));
  const args = [SCRIPT, '--lockfile', join(folder, 'pnpm-lock.yaml'), '--advisories', join(folder, 'advisories.json')];
  return run(process.execPath, args).then(
    ({ stdout, stderr }) => ({ code: 0, output: stdout + stderr }),
    (error: { code: number; stdout: string; stderr: string }) => ({ code: error.code, output: error.stdout + error.stderr }),
  );
}

describe('offline dependency audit (scripts/audit-offline.mjs)', () => {
  let folder: string;

  beforeEach(async () => {
    folder = await mkdtemp(join(tmpdir(), 'parley-audit-'));
  });

  afterEach(async () => {
    await rm(folder, { recursive: true, force: true });
  });

  it("fails on a locked version inside a high advisory's range, naming the package, version, advisory and fix", async () => {
    const result = await audit(folder, ['ws@8.16.0', '@scope/other@1.0.0']);

    expect(result.code).toBe(1);
    expect(result.output).toContain(
      'high     ws@8.16.0: GHSA-3h5v-q93c-6h6q DoS with many HTTP headers (vulnerable >=7.0.0 <7.5.10 || >=8.0.0 <8.17.1; fixed in 7.5.10, 8.17.1)',
    );
    expect(result.output).toContain('1 high or critical advisories apply to locked versions');
  });

  it('passes on fixed versions, and prints a low advisory without failing', async () => {
    const result = await audit(folder, ['ws@8.17.1', 'ws@7.5.10', 'cookie@0.6.0', 'cookie@0.7.2']);

    expect(result.code).toBe(0);
    expect(result.output).toContain('4 locked versions of 2 packages against 2 advisories');
    expect(result.output).toContain('low      cookie@0.6.0: GHSA-pxg6-pf52-xh8x');
    expect(result.output).not.toContain('cookie@0.7.2:');
    expect(result.output).toContain('no high or critical advisory applies (1 lower, above)');
  });

  it("passes on the repository's own lockfile and snapshot, reading every package of it", async () => {
    const { stdout } = await run(process.execPath, [SCRIPT]);
    const lockText = await readFile(join(REPOSITORY, 'pnpm-lock.yaml'), 'utf8');
    const packageKeys = lockText
      .split(/^packages:\n/m)[1]!
      .split(/^snapshots:/m)[0]!
      .match(/^ {2}\S.*:$/gm)!;

    expect(stdout).toContain(`audit:offline: ${packageKeys.length} locked versions`);
    expect(stdout).toContain('no high or critical advisory applies');
  });

  it('refreshes the snapshot from a checkout of the GitHub advisory database, keeping the packages in the lockfile', async () => {
    const reviewed = join(folder, 'db', 'advisories', 'github-reviewed', '2024', '06');
    await mkdir(reviewed, { recursive: true });
    const osv = (id: string, name: string, events: object[], severity = 'HIGH') => ({
      id,
      summary: `${name} advisory`,
      affected: [{ package: { ecosystem: 'npm', name }, ranges: [{ type: 'SEMVER', events }] }],
      database_specific: { severity },
    });
    await writeFile(join(reviewed, 'a.json'), JSON.stringify(osv('GHSA-aaaa', 'ws', [{ introduced: '8.0.0' }, { fixed: '8.17.1' }, { introduced: '9.0.0' }])));
    await writeFile(join(reviewed, 'b.json'), JSON.stringify(osv('GHSA-bbbb', 'left-pad', [{ introduced: '0' }, { fixed: '2.0.0' }])));
    await writeFile(join(reviewed, 'c.json'), JSON.stringify(osv('GHSA-cccc', 'cookie', [{ introduced: '0' }, { last_affected: '0.6.0' }], 'MODERATE')));
    await audit(folder, ['ws@8.17.1', 'cookie@0.7.2']);

    await run(process.execPath, [
      SCRIPT,
      '--refresh',
      join(folder, 'db'),
      '--lockfile',
      join(folder, 'pnpm-lock.yaml'),
      '--advisories',
      join(folder, 'advisories.json'),
    ]);
    const refreshed = JSON.parse(await readFile(join(folder, 'advisories.json'), 'utf8'));

    expect(refreshed.advisories).toEqual([
      { id: 'GHSA-cccc', package: 'cookie', vulnerable: '<=0.6.0', fixed: [], severity: 'moderate', title: 'cookie advisory' },
      { id: 'GHSA-aaaa', package: 'ws', vulnerable: '>=8.0.0 <8.17.1 || >=9.0.0', fixed: ['8.17.1'], severity: 'high', title: 'ws advisory' },
    ]);
    expect(refreshed.updated).toBe(new Date().toISOString().slice(0, 10));
  });
});
