import { execFile, spawn } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { chown, mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { ready } from '@parley/crypto';
import { createTestDatabase, type TestDatabase } from '@parley/testing';
import pg from 'pg';
import { freePort } from '../../src/database/embedded-postgres.js';
import { startTestApp, type TestApp } from '../app.js';
import { follow, patientChat, staffChat, waitForAssignment, type Chatter } from '../chat.js';
import { activatePatient, createPracticeWithStaff, type TestPractice } from '../factories.js';

const run = promisify(execFile);
const VERIFY = join(import.meta.dirname, '..', '..', 'dist', 'record', 'verify-record.js');
const REPOSITORY = join(import.meta.dirname, '..', '..', '..', '..');

/** Major version of a PostgreSQL client or server program (`pg_dump (PostgreSQL) 15.20` → 15). */
async function majorOf(binary: string): Promise<number> {
  const { stdout } = await run(binary, ['--version']);
  return Number(/\(PostgreSQL\) (\d+)/.exec(stdout)?.[1] ?? 0);
}

/** Folders of the machine's PostgreSQL installations (Debian's layout), newest first. */
function installedBinDirs(): string[] {
  const root = '/usr/lib/postgresql';
  if (!existsSync(root)) return [];
  return readdirSync(root)
    .sort((x, y) => Number(y) - Number(x))
    .map((version) => join(root, version, 'bin'))
    .filter((dir) => existsSync(join(dir, 'pg_dump')));
}

/** A private PostgreSQL server from the machine's binaries, for when the test server is newer than its pg_dump. */
async function startPrivateServer(binDir: string): Promise<{ url: string; stop(): Promise<void> }> {
  const dataDir = join(REPOSITORY, '.data', `backup-test-${process.pid}`);
  await rm(dataDir, { recursive: true, force: true });
  await mkdir(dataDir, { recursive: true });
  // PostgreSQL refuses to run as root: as root, run it as the `postgres` OS user (as the embedded server does).
  const owner = process.getuid?.() === 0 ? { uid: Number((await run('id', ['-u', 'postgres'])).stdout), gid: Number((await run('id', ['-g', 'postgres'])).stdout) } : {};
  if (owner.uid !== undefined) await chown(dataDir, owner.uid, owner.gid!);
  const as = (file: string, args: string[]) => run(join(binDir, file), args, { ...owner });
  await as('initdb', ['-D', dataDir, '-U', 'postgres', '--auth=trust', '-E', 'UTF8', '--locale=C']);
  const port = await freePort();
  await as('pg_ctl', ['-D', dataDir, '-l', join(dataDir, 'server.log'), '-w', '-o', `-p ${port} -k ${dataDir} -c listen_addresses=127.0.0.1`, 'start']);
  return {
    url: `postgres://postgres@127.0.0.1:${port}/postgres`,
    stop: async () => {
      await as('pg_ctl', ['-D', dataDir, '-m', 'fast', '-w', 'stop']).catch(() => undefined);
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}

/**
 * The server to back up and restore, and the pg_dump/pg_restore fit for it: pg_dump refuses a server newer than
 * itself, so the run's server (embedded PostgreSQL 18 by default) is used only when the machine's tools are as new;
 * otherwise a private server of the machine's own version.
 */
async function serverAndTools(): Promise<{ serverUrl: string; binDir: string; stop(): Promise<void> }> {
  const dirs = installedBinDirs();
  if (dirs.length === 0) throw new Error('pg_dump not found: install Debian\'s postgresql-client (see docs/operations.md)');
  const serverUrl = process.env['TEST_DATABASE_URL']!;
  const client = new pg.Client({ connectionString: serverUrl });
  await client.connect();
  const { rows } = await client.query<{ server_version_num: string }>('SHOW server_version_num');
  await client.end();
  const serverMajor = Math.floor(Number(rows[0]?.server_version_num) / 10_000);
  for (const dir of dirs) if ((await majorOf(join(dir, 'pg_dump'))) >= serverMajor) return { serverUrl, binDir: dir, stop: async () => undefined };
  const binDir = dirs[0]!;
  const server = await startPrivateServer(binDir);
  return { serverUrl: server.url, binDir, stop: server.stop };
}

function verifyRecord(databaseUrl: string): Promise<{ code: number | null; stdout: string }> {
  const child = spawn(process.execPath, [VERIFY], { env: { ...process.env, DATABASE_URL: databaseUrl } });
  let stdout = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
  return new Promise((resolve) => child.once('exit', (code) => resolve({ code, stdout })));
}

describe('backup with pg_dump and restore drill with pg_restore (real PostgreSQL, the commands of docs/operations.md)', () => {
  let tools: Awaited<ReturnType<typeof serverAndTools>>;
  let original: TestDatabase;
  let restored: TestDatabase;
  const apps: TestApp[] = [];
  const chats: Chatter[] = [];
  const dumpFile = join(REPOSITORY, '.data', `parley-backup-test-${process.pid}.dump`);

  beforeAll(async () => {
    await ready();
    tools = await serverAndTools();
    original = await createTestDatabase(tools.serverUrl);
    restored = await createTestDatabase(tools.serverUrl);
  }, 60_000);

  afterAll(async () => {
    for (const chat of chats) await chat.session.close();
    for (const app of apps) await app.close();
    await original?.drop();
    await restored?.drop();
    await tools?.stop();
    await rm(dumpFile, { force: true });
  });

  it('restores into a fresh database where record:verify passes, the record stays append-only, and a staff client decrypts a message written before the backup', async () => {
    const live = await startTestApp({ DATABASE_URL: original.url });
    apps.push(live);
    const practice: TestPractice = await createPracticeWithStaff(live);
    const patient = await patientChat(live.url, practice, await activatePatient(live.url, practice));
    const clinician = await staffChat(live.url, practice, practice.clinician);
    chats.push(patient, clinician);
    const conversationId = (await patient.session.openConversation('admin')).id;
    await follow(patient, conversationId);
    await follow(clinician, conversationId);
    await waitForAssignment(clinician);
    expect(await patient.session.send(conversationId, 'written before the backup')).toMatchObject({ ok: true });
    expect(await clinician.session.send(conversationId, 'and a reply, also before it')).toMatchObject({ ok: true });

    await run(join(tools.binDir, 'pg_dump'), ['--format=custom', '--no-owner', `--file=${dumpFile}`, original.url]);
    const restore = await run(join(tools.binDir, 'pg_restore'), ['--no-owner', '--exit-on-error', `--dbname=${restored.url}`, dumpFile]).then(
      () => 0,
      (error: { code?: number }) => error.code ?? 1,
    );
    const verified = await verifyRecord(restored.url);
    const after = await startTestApp({ DATABASE_URL: restored.url });
    apps.push(after);
    const reader = await staffChat(after.url, practice, practice.clinician);
    chats.push(reader);
    await follow(reader, conversationId);
    await reader.waitForEntries(5, 20_000);
    const isAppendOnly = await after.dataSource.query(`UPDATE record_entries SET nonce = nonce WHERE conversation_id = $1`, [conversationId]).then(
      () => false,
      () => true,
    );

    expect(restore).toBe(0);
    expect(verified).toEqual({ code: 0, stdout: '1 conversations checked, 0 broken\n' });
    expect(reader.bodies()).toEqual(['written before the backup', 'and a reply, also before it']);
    expect(reader.entries.filter((entry) => !entry.ok)).toEqual([]);
    expect(isAppendOnly).toBe(true);
  }, 120_000);
});
