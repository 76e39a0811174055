// `npm start` after the build: runs the gateway and, for the demo practice it seeds, acts as that
// practice's first manager client — the key ceremony happens here, outside the gateway, which never
// handles keys. Prints the demo sign-ins. Signals go to the gateway; this script exits with it.
import { spawn } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setUpDemoPractice } from '@parley/sdk';

const root = new URL('..', import.meta.url).pathname;
// Same default as apps/gateway/src/config.ts.
const dataDir = process.env.DATA_DIR || join(root, '.data');
const credentialsFile = join(dataDir, 'demo-credentials.json');
const keysFile = join(dataDir, 'demo-keys.json');

const gateway = spawn(process.execPath, [join(root, 'apps/gateway/dist/main.js')], { stdio: ['ignore', 'pipe', 'inherit'] });
for (const signal of ['SIGINT', 'SIGTERM']) process.on(signal, () => gateway.kill(signal));
gateway.on('exit', (code, signal) => process.exit(code ?? (signal ? 1 : 0)));

let banner = '';
gateway.stdout.setEncoding('utf8').on('data', (chunk) => {
  process.stdout.write(chunk);
  if (banner === null) return;
  banner += chunk;
  const url = banner.match(/Health:\s+(http:\/\/\S+)\/health\/ready/)?.[1];
  if (!url) return;
  banner = null;
  setUpDemo(url.replace('localhost', '127.0.0.1')).catch((error) => {
    process.stderr.write(`parley: demo set-up failed: ${error.message} (start again from nothing with: rm -rf ${dataDir})\n`);
  });
});

async function setUpDemo(url) {
  if (!existsSync(credentialsFile)) return; // no demo on this database
  const credentials = JSON.parse(readFileSync(credentialsFile, 'utf8'));
  if (!existsSync(keysFile)) {
    const setup = await setUpDemoPractice({ baseUrl: url, odsCode: credentials.practice.odsCode, staff: credentials.staff });
    // The demo's stand-in for what real people keep to themselves: passphrases, and device and practice
    // secret keys that in production never leave their browsers (or the practice's offline escrow).
    writeFileSync(keysFile, JSON.stringify(setup, (_key, value) => (value instanceof Uint8Array ? Buffer.from(value).toString('base64') : value), 2), { mode: 0o600 });
  }
  const setup = JSON.parse(readFileSync(keysFile, 'utf8'));
  const { patient, practice } = credentials;
  const lines = [
    `Demo practice: ${practice.name} (${practice.odsCode}), root key fingerprint ${setup.rootFingerprint}`,
    ...setup.staff.map((member) => `  ${member.roles.join('+').padEnd(10)} ${member.displayName.padEnd(28)} ${member.email.padEnd(32)} passphrase: ${member.passphrase}`),
    `  patient    ${patient.displayName.padEnd(28)} invitation code ${patient.invitationCode}, date of birth ${patient.dateOfBirth} (NHS ${patient.nhsNumber})`,
    `  (sign-ins and demo keys: ${keysFile}, readable by you only)`,
    '',
  ];
  process.stdout.write(`${lines.join('\n')}\n`);
}
