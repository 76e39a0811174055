// `npm test`: builds everything, runs the lint, every package's type-check and tests (unit, PostgreSQL,
// socket e2e, browser), and ends with one line counting the tests of the whole workspace.
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';

const root = new URL('..', import.meta.url).pathname;
const results = join(root, 'test-results');
const env = { ...process.env, TURBO_TELEMETRY_DISABLED: '1', PATH: `${join(root, 'node_modules/.bin')}:${process.env.PATH}` };
const turbo = (...args) => spawnSync('turbo', args, { cwd: root, env, stdio: 'inherit' }).status ?? 1;

rmSync(results, { recursive: true, force: true });
if (turbo('run', 'build', '--output-logs=errors-only') !== 0) process.exit(1);
// Type-checks two at a time: tsc and svelte-check are CPU-bound and independent of each other. Then the tests, one
// package at a time: the gateway's and the staff app's suites already run two files at once (their jest.config.js),
// and browser and database tests share two cores. --continue reports every failure, not just the first.
// Lint first (ESLint with the dependency rule, and Prettier's check): it takes seconds and names its findings.
const lintStatus = spawnSync('pnpm', ['lint'], { cwd: root, env, stdio: 'inherit' }).status ?? 1;
const typecheckStatus = turbo('run', 'typecheck', '--concurrency=2', '--continue', ...process.argv.slice(2));
const testStatus = turbo('run', 'test', '--concurrency=1', '--continue', ...process.argv.slice(2));
const status = lintStatus || typecheckStatus || testStatus;

const totals = { passed: 0, failed: 0, skipped: 0 };
for (const file of existsSync(results) ? readdirSync(results) : []) {
  const counts = JSON.parse(readFileSync(join(results, file), 'utf8'));
  for (const key of Object.keys(totals)) totals[key] += counts[key];
}
if (status !== 0 && totals.failed === 0) totals.failed = 1; // a lint or type error or a crashed runner is a failure too
console.log(`\nTests: ${totals.passed} passed, ${totals.failed} failed${totals.skipped ? `, ${totals.skipped} skipped` : ''}`);
process.exit(status);
