// Installs the workspace's dependencies on a fresh clone (or after the lockfile changed) with the
// pnpm version pinned in package.json, on a machine that has only Node.js and the npm registry.
// Run by `prestart` and `pretest`; quick when nothing changed.
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, statSync } from 'node:fs';

const root = new URL('..', import.meta.url).pathname;
const pinned = JSON.parse(readFileSync(`${root}package.json`, 'utf8')).packageManager.split('+')[0];
const marker = `${root}node_modules/.modules.yaml`;
const lockfile = `${root}pnpm-lock.yaml`;

if (existsSync(marker) && statSync(marker).mtimeMs >= statSync(lockfile).mtimeMs) process.exit(0);

const env = { ...process.env, COREPACK_ENABLE_DOWNLOAD_PROMPT: '0', TURBO_TELEMETRY_DISABLED: '1' };
const args = ['install', '--frozen-lockfile'];
const attempts = [
  ['corepack', ['pnpm', ...args]],
  ['npx', ['-y', pinned, ...args]],
];
for (const [command, commandArgs] of attempts) {
  try {
    console.log(`bootstrap: ${command} ${commandArgs.join(' ')}`);
    execFileSync(command, commandArgs, { cwd: root, env, stdio: 'inherit' });
    process.exit(0);
  } catch {
    console.log(`bootstrap: ${command} did not succeed, trying the next way`);
  }
}
console.error('bootstrap: could not install dependencies with pnpm (see the output above)');
process.exit(1);
