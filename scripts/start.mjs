// `npm start` after the build: runs the gateway and, for the demo practice it seeds, acts as that
// practice's first manager client — the key ceremony happens here, outside the gateway, which never
// handles keys. Prints the demo sign-ins (again on Enter, and into a file the banner names) and the gateway's
// logs as readable lines, warnings and errors only unless LOG_LEVEL says otherwise: the gateway itself logs
// JSON, for a log collector. Signals go to the gateway; this script exits with it.
import { spawn } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { invitationLink, sealStaffKeyBackup, setUpDemoPractice } from '@parley/sdk';

const root = new URL('..', import.meta.url).pathname;
// Same default as apps/gateway/src/config.ts.
const dataDir = process.env.DATA_DIR || join(root, '.data');
const credentialsFile = join(dataDir, 'demo-credentials.json');
const keysFile = join(dataDir, 'demo-keys.json');
const staffKeysDir = join(dataDir, 'demo-staff-keys');
const staffKeysFile = (email) => join(staffKeysDir, `${email}.parley-keys.json`);
const signInsFile = join(dataDir, 'demo-sign-ins.txt');

// A demo, never a test run: the gateway takes its test-only hooks (PARLEY_FAULTS, PARLEY_TEST_CLOCK) only when NODE_ENV=test.
const env = {
  ...process.env,
  NODE_ENV: process.env.NODE_ENV === 'test' ? 'development' : (process.env.NODE_ENV ?? 'development'),
  LOG_LEVEL: process.env.LOG_LEVEL || 'warn',
};
// The gateway's Node flags, as everywhere it runs (docs/operations.md, "Node flags").
const gateway = spawn(process.execPath, ['--max-semi-space-size=32', join(root, 'apps/gateway/dist/main.js')], { env, stdio: ['ignore', 'pipe', 'inherit'] });
for (const signal of ['SIGINT', 'SIGTERM']) process.on(signal, () => gateway.kill(signal));
// 'close' comes after the gateway's last output has been read (its shutdown lines included).
gateway.on('close', (code, signal) => {
  if (partLine) process.stdout.write(`${readable(partLine)}\n`);
  process.exit(code ?? (signal ? 1 : 0));
});

let banner = '';
let partLine = '';
gateway.stdout.setEncoding('utf8').on('data', (chunk) => {
  const lines = (partLine + chunk).split('\n');
  partLine = lines.pop();
  for (const line of lines) process.stdout.write(`${readable(line)}\n`);
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
    // The demo patient's invitation is made here, by a clinician's stand-in client: its code never reaches the gateway.
    const setup = await setUpDemoPractice({ baseUrl: url, odsCode: credentials.practice.odsCode, staff: credentials.staff, patient: credentials.patient });
    // The demo's stand-in for what real people keep to themselves: passphrases, and device and practice
    // secret keys that in production never leave their browsers (or the practice's offline escrow).
    writeFileSync(
      keysFile,
      JSON.stringify(setup, (_key, value) => (value instanceof Uint8Array ? Buffer.from(value).toString('base64') : value), 2),
      { mode: 0o600 },
    );
    // The staff web client signs in on a new browser with a key backup file (docs/staff-client.md): one
    // per member of staff, sealed with their passphrase, the manager's holding the practice root key.
    mkdirSync(staffKeysDir, { recursive: true, mode: 0o700 });
    for (const member of setup.staff) {
      const backup = await sealStaffKeyBackup({
        odsCode: credentials.practice.odsCode,
        login: member.email,
        userId: member.userId,
        device: member.device,
        pinnedRoot: setup.practice.root.signPublicKey,
        ...(member.roles.includes('manager') ? { root: setup.practice.root } : {}),
        passphrase: member.passphrase,
      });
      writeFileSync(staffKeysFile(member.email), backup, { mode: 0o600 });
    }
  }
  const setup = JSON.parse(readFileSync(keysFile, 'utf8'));
  const { patient, practice } = credentials;
  if (!setup.patientInvitation) {
    // Made before invitation-bound keys (docs/operations.md, "Upgrading to invitation-bound keys"): its keys no longer verify.
    process.stderr.write(`parley: this demo was set up by an older version; start again from nothing with: rm -rf ${dataDir}\n`);
    return;
  }
  const invitation = setup.patientInvitation;
  const link = invitationLink(`${url.replace('127.0.0.1', 'localhost')}/`, practice.odsCode, invitation.code);
  const lines = [
    `Demo practice: ${practice.name} (${practice.odsCode}), security code (root key fingerprint) ${setup.rootFingerprint}`,
    `  patient app ${url.replace('127.0.0.1', 'localhost')}/, staff app ${url.replace('127.0.0.1', 'localhost')}/staff/`,
    ...setup.staff.map(
      (member) => `  ${member.roles.join('+').padEnd(10)} ${member.displayName.padEnd(28)} ${member.email.padEnd(32)} passphrase: ${member.passphrase}`,
    ),
    `  patient    ${patient.displayName.padEnd(28)} invitation code ${invitation.code}, date of birth ${patient.dateOfBirth} (NHS ${patient.nhsNumber}), invited by ${invitation.invitedBy}`,
    `             or open the invitation link ${link} and type the date of birth`,
    `  staff sign in at /staff/ with the practice code ${practice.odsCode}, their e-mail, passphrase and key backup file:`,
    `    ${staffKeysDir}/<e-mail>.parley-keys.json`,
    `  (sign-ins and demo keys: ${keysFile}, readable by you only)`,
    '',
  ];
  const signIns = `${lines.join('\n')}\n`;
  // Demo codes and passphrases: readable by this user only, like the keys file (an existing file keeps its old mode on write).
  writeFileSync(signInsFile, signIns, { mode: 0o600 });
  chmodSync(signInsFile, 0o600);
  process.stdout.write(`${signIns}These sign-ins again: ${process.stdin.isTTY ? 'press Enter here, or ' : ''}see ${signInsFile}\n\n`);
  // Reading the terminal does not change Ctrl+C: the line discipline still sends SIGINT.
  if (process.stdin.isTTY) process.stdin.setEncoding('utf8').on('data', () => process.stdout.write(signIns));
}

const LEVELS = { 10: 'TRACE', 20: 'DEBUG', 30: 'INFO', 40: 'WARN', 50: 'ERROR', 60: 'FATAL' };
/** Fields every gateway log line carries, or that the line's words already say. */
const UNSHOWN = new Set(['level', 'time', 'pid', 'hostname', 'service', 'context', 'msg', 'err', 'reqId']);

/** A gateway log line (pino's JSON) as one line a person reads: time, level, where, what, the ids; other lines as they are. */
function readable(line) {
  let entry;
  try {
    entry = JSON.parse(line);
  } catch {
    return line;
  }
  if (typeof entry?.level !== 'number' || typeof entry.msg !== 'string') return line;
  const time = new Date(entry.time).toTimeString().slice(0, 8);
  const where = entry.context ? `${entry.context}: ` : '';
  const error = entry.err ? ` - ${entry.err.type}: ${entry.err.message}${entry.err.code ? ` (${entry.err.code})` : ''}` : '';
  const fields = Object.entries(entry)
    .filter(([key]) => !UNSHOWN.has(key))
    .map(([key, value]) => `${key}=${typeof value === 'string' ? value : JSON.stringify(value)}`);
  return `${time} ${(LEVELS[entry.level] ?? String(entry.level)).padEnd(5)} ${where}${entry.msg}${error}${fields.length ? ` [${fields.join(' ')}]` : ''}`;
}
