import { spawn } from 'node:child_process';
import { readFile, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:net';
import { join } from 'node:path';
import pg from 'pg';
import { startGatewayProcess, type GatewayProcess } from '@parley/testing';
import { freePort } from '../../src/database/embedded-postgres.js';
import { freshDatabase } from '../database.js';
import { waitUntil } from '../wait.js';

const ENTRY = join(import.meta.dirname, '..', '..', 'dist', 'main.js');
const REPOSITORY = join(import.meta.dirname, '..', '..', '..', '..');

/** Runs the built gateway to completion and returns its exit code and output. */
function runToExit(env: Record<string, string>): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, [ENTRY], { env: { ...process.env, LOG_LEVEL: 'warn', ...env } });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  return new Promise((resolve) => child.once('exit', (code) => resolve({ code, stdout, stderr })));
}

describe('gateway process (built, as `npm start` runs it)', () => {
  describe('refuses to start with one clear line and a non-zero exit', () => {
    it('on an invalid variable', async () => {
      const result = await runToExit({ PORT: 'eighty', DATABASE_URL: 'postgres://127.0.0.1:1/x' });

      expect(result.code).toBe(1);
      expect(result.stderr).toBe('parley: invalid configuration: PORT (Invalid input: expected number, received NaN)\n');
    });

    it('on an unreachable DATABASE_URL, without showing its password', async () => {
      const port = await freePort();

      const result = await runToExit({ DATABASE_URL: `postgres://parley:hunter2@127.0.0.1:${port}/parley` });

      expect(result.code).toBe(1);
      expect(result.stderr).toBe(`parley: cannot reach the database at 127.0.0.1:${port}/parley (ECONNREFUSED)\n`);
    });

    it('on a port already in use, after which the database is left consistent', async () => {
      const database = await freshDatabase();
      const blocker: Server = createServer();
      await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
      const { port } = blocker.address() as { port: number };

      const result = await runToExit({ DATABASE_URL: database.url, PORT: String(port), HOST: '127.0.0.1', DEMO_SEED: 'true' });
      const again = await startGatewayProcess({ entry: ENTRY, env: { DATABASE_URL: database.url, DEMO_SEED: 'true' } });

      expect(result.code).toBe(1);
      expect(result.stderr).toBe(`parley: port ${port} is already in use (set PORT to another one)\n`);
      expect(await (await fetch(`${again.url}/health/ready`)).json()).toEqual({ status: 'ready' });
      await again.stop();
      blocker.close();
      await database.drop();
    });
  });

  describe('on the embedded default', () => {
    const dataDir = join(REPOSITORY, '.data', `process-test-${process.pid}`);
    let gateway: GatewayProcess | undefined;

    afterAll(async () => {
      await gateway?.stop('SIGTERM');
      await rm(dataDir, { recursive: true, force: true });
    });

    it('starts, serves both clients, stops cleanly on SIGTERM, and keeps its data seeded once across a restart', async () => {
      const pgPort = await freePort();
      const env = { DATA_DIR: dataDir, EMBEDDED_PG_PORT: String(pgPort), LOG_LEVEL: 'info' };

      gateway = await startGatewayProcess({ entry: ENTRY, env });
      const firstBanner = gateway.output();
      const patientPage = await fetch(`${gateway.url}/`);
      const staffPage = await fetch(`${gateway.url}/staff/`);
      const firstExit = await gateway.stop('SIGTERM');
      const firstOutput = gateway.output();
      gateway = await startGatewayProcess({ entry: ENTRY, env });
      const secondBanner = gateway.output();
      const db = new pg.Client({ connectionString: `postgres://postgres@127.0.0.1:${pgPort}/postgres` });
      await db.connect();
      const counts = await db.query(`SELECT (SELECT count(*) FROM practices)::int AS practices, (SELECT count(*) FROM users)::int AS users`);
      await db.end();

      const credentials = JSON.parse(await readFile(join(dataDir, 'demo-credentials.json'), 'utf8'));
      expect(credentials.staff[0].code).toMatch(/^[A-Z0-9]{4}-[A-Z0-9]{4}-[A-Z0-9]{4}$/);
      expect(credentials.patient).toEqual({ displayName: 'Chris Taylor', nhsNumber: '9990000018', dateOfBirth: '1984-05-17' });
      expect(firstBanner).toContain('Demo practice Parley Demo Surgery (DEMO01)');
      expect(secondBanner).toContain('Demo practice Parley Demo Surgery (DEMO01)');
      expect(await patientPage.text()).toContain('<script type="module"');
      // Relative asset URLs (the staff build's base './'): under /staff/ here, at / of the staff's own origin.
      expect(await staffPage.text()).toContain('src="./assets/');
      expect(firstExit).toBe(0);
      expect(firstOutput).toContain('stopped cleanly');
      expect(counts.rows).toEqual([{ practices: 1, users: 3 }]);
    });

    it('stays up and reports not ready when its database dies, instead of crashing', async () => {
      const pidFile = join(dataDir, 'postgres', 'pgdata', 'postmaster.pid');
      const postmaster = Number((await readFile(pidFile, 'utf8')).split('\n')[0]);

      process.kill(postmaster, 'SIGKILL');
      await waitUntil(async () => (await fetch(`${gateway!.url}/health/ready`)).status === 503, 'the gateway to report not ready', 20_000);
      const ready = await fetch(`${gateway!.url}/health/ready`);
      const live = await fetch(`${gateway!.url}/health/live`);

      expect(ready.status).toBe(503);
      expect(await ready.json()).toEqual({ status: 'not_ready', reasons: ['database_unreachable'] });
      expect(live.status).toBe(200);
      expect(gateway!.child.exitCode).toBeNull();
    });

    it('starts again after the database was killed, clearing the stale lock', async () => {
      await gateway!.stop('SIGKILL');

      gateway = await startGatewayProcess({ entry: ENTRY, env: { DATA_DIR: dataDir } });
      const ready = await fetch(`${gateway.url}/health/ready`);

      expect(ready.status).toBe(200);
    });

    it('starts again after the gateway itself was killed, stopping the PostgreSQL it left running', async () => {
      const pidFile = join(dataDir, 'postgres', 'pgdata', 'postmaster.pid');
      await gateway!.stop('SIGKILL');
      const orphan = Number((await readFile(pidFile, 'utf8')).split('\n')[0]);
      const isOrphanAlive = (() => {
        try {
          process.kill(orphan, 0);
          return true;
        } catch {
          return false;
        }
      })();

      gateway = await startGatewayProcess({ entry: ENTRY, env: { DATA_DIR: dataDir, LOG_LEVEL: 'info' } });
      const ready = await fetch(`${gateway.url}/health/ready`);

      expect(isOrphanAlive).toBe(true);
      expect(ready.status).toBe(200);
      expect(gateway.output()).toContain(`stopping an orphaned PostgreSQL (pid ${orphan})`);
    });
  });
});
