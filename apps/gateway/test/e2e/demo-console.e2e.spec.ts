import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { waitUntil } from '../wait.js';

const REPOSITORY = join(import.meta.dirname, '..', '..', '..', '..');
const SIGN_INS_END = /These sign-ins again: see (\S+)\n/;

describe('npm start console (scripts/start.mjs with the default log level)', () => {
  let dataDir: string;
  let output = '';
  let exitCode: number | null;

  beforeAll(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'parley-console-'));
    const { LOG_LEVEL: _unset, ...env } = process.env;
    // A missing staff build makes the gateway log one warning at start: the log line the console must show readably.
    const start = spawn(process.execPath, [join(REPOSITORY, 'scripts/start.mjs')], {
      env: { ...env, DATA_DIR: dataDir, PORT: '0', STAFF_DIST: join(dataDir, 'no-staff-build') },
    });
    start.stdout.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
    start.stderr.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
    const exited = new Promise<number | null>((resolve) => start.once('exit', resolve));
    await waitUntil(
      () => SIGN_INS_END.test(output) || start.exitCode !== null,
      () => `the demo to come up:\n${output}`,
      60_000,
    );
    if (start.exitCode !== null) throw new Error(`the demo exited (${start.exitCode}):\n${output}`);
    // What a first look around does: pages, assets, a wrong address, a failed sign-in.
    const url = output.match(/Health:\s+(http:\/\/\S+)\/health\/ready/)![1]!;
    const html = await (await fetch(`${url}/`)).text();
    const assets = [...html.matchAll(/(?:src|href)="(\/[^"]+)"/g)].map((match) => match[1]!);
    for (const path of ['/', ...assets, '/no-such-page', '/health/ready', '/api/version'])
      await fetch(`${url}${path}`).then((response) => response.arrayBuffer());
    for (let attempt = 0; attempt < 10; attempt += 1) {
      await fetch(`${url}/api/auth/prelogin`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ practice: 'NOPE01', login: 'nobody' }),
      }).then((response) => response.arrayBuffer());
    }
    start.kill('SIGTERM');
    exitCode = await exited;
  }, 120_000);

  afterAll(async () => {
    await rm(dataDir, { recursive: true, force: true });
  });

  it("shows the gateway's log lines readably, warnings only, and nothing after the sign-ins for ordinary use", async () => {
    const afterSignIns = output
      .slice(output.search(SIGN_INS_END))
      .split('\n')
      .slice(1)
      .filter((line) => line.trim() !== '');

    expect(exitCode).toBe(0);
    expect(output).toMatch(/^\d\d:\d\d:\d\d WARN {2}web client not built; run `pnpm build` \[folder=\S+no-staff-build\]$/m);
    expect(output.split('\n').filter((line) => line.trimStart().startsWith('{'))).toEqual([]);
    expect(afterSignIns).toEqual([]);
  });

  it('writes the sign-ins it printed to the file it names, readable by the user only', async () => {
    const file = output.match(SIGN_INS_END)![1]!;
    const printed = output.slice(output.indexOf('Demo practice: '), output.search(SIGN_INS_END));
    const saved = await readFile(file, 'utf8');

    expect(file).toBe(join(dataDir, 'demo-sign-ins.txt'));
    expect(saved).toBe(printed);
    expect(saved).toMatch(/invitation code \w{4}-\w{4}-\w{5}, date of birth/);
    expect(saved.match(/passphrase: /g)).toHaveLength(3);
    expect((await stat(file)).mode & 0o777).toBe(0o600);
  });
});
