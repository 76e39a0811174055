import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { ready } from '@parley/crypto';
import { DEFAULT_ATTACHMENT_SETTINGS } from '@parley/protocol';
import { createTestDatabase, startGatewayProcess, type GatewayProcess, type TestDatabase } from '@parley/testing';
import pg from 'pg';
import type { DataSource } from 'typeorm';
import { GATEWAY_ENTRY } from '../../../../infra/local/cluster.mjs';
import { openDatabase } from '../../src/database/data-source.js';
import { follow, patientChat, staffChat, waitForAssignment, type Chatter } from '../chat.js';
import { bannerDatabaseUrl } from '../database.js';
import { activatePatient, apiOk, createPracticeWithStaff, type TestPractice } from '../factories.js';

const run = promisify(execFile);
const REPOSITORY = join(import.meta.dirname, '..', '..', '..', '..');
const PNPM = join(REPOSITORY, 'node_modules', '.bin', 'pnpm');

/** Runs `pnpm <args>` from the repository root with `env` added, as a person following docs/operations.md would. */
function pnpm(args: string[], env: Record<string, string>): Promise<{ code: number; stdout: string; stderr: string }> {
  return run(PNPM, ['--silent', ...args], { cwd: REPOSITORY, env: { ...process.env, ...env } }).then(
    ({ stdout, stderr }) => ({ code: 0, stdout, stderr }),
    (error: { code?: number; stdout?: string; stderr?: string }) => ({ code: error.code ?? 1, stdout: error.stdout ?? '', stderr: error.stderr ?? '' }),
  );
}

describe('backup and restore drill on the default embedded install (the commands of docs/operations.md)', () => {
  // Two installs side by side, as on a fresh machine: the live one and the drill's copy, each with its own DATA_DIR.
  const root = join(REPOSITORY, '.data', `backup-test-${process.pid}`);
  const live = join(root, 'live');
  const drill = join(root, 'restore-drill');
  const backupFile = join(root, 'parley-backup-test.backup');
  const gateways: GatewayProcess[] = [];
  const chats: Chatter[] = [];
  const dataSources: DataSource[] = [];

  beforeAll(async () => {
    if (process.env['DATABASE_URL']) throw new Error('unset DATABASE_URL: this test runs the embedded default');
    await ready();
    await mkdir(root, { recursive: true });
  });

  afterAll(async () => {
    for (const chat of chats) await chat.session.close();
    for (const dataSource of dataSources) await dataSource.destroy();
    for (const gateway of gateways) await gateway.stop();
    await rm(root, { recursive: true, force: true });
  });

  it('backs up the running embedded database, restores it into a new one where record:verify passes, the record stays append-only and a staff client decrypts a message and a photo written before the backup', async () => {
    const original = await startGatewayProcess({ entry: GATEWAY_ENTRY, env: { DATA_DIR: live, DEMO_SEED: 'false' } });
    gateways.push(original);
    const originalDb = await openDatabase(bannerDatabaseUrl(original));
    dataSources.push(originalDb);
    const practice: TestPractice = await createPracticeWithStaff({ url: original.url, dataSource: originalDb });
    const patient = await patientChat(original.url, practice, await activatePatient(original.url, practice));
    const clinician = await staffChat(original.url, practice, practice.clinician);
    const conversationId = (await patient.session.openConversation('admin')).id;
    await follow(patient, conversationId);
    await follow(clinician, conversationId);
    await waitForAssignment(clinician);
    expect(await patient.session.conversation(conversationId).send('written before the backup')).toMatchObject({ ok: true });
    expect(await clinician.session.conversation(conversationId).send('and a reply, also before it')).toMatchObject({ ok: true });
    // A photo too: its parts are rows like the rest, so the backup carries them and the copy serves them.
    await apiOk(
      original.url,
      'PUT',
      '/api/practice/attachment-settings',
      { token: practice.manager.token, body: { ...DEFAULT_ATTACHMENT_SETTINGS, patientUploads: 'always' } },
      200,
    );
    const photo = randomBytes(100_000);
    expect(await patient.session.conversation(conversationId).sendAttachments([{ bytes: photo, type: 'image/jpeg', name: 'before-backup.jpg' }])).toMatchObject(
      {
        ok: true,
      },
    );
    // Receipts and presence are written as the clients read and leave: let them finish, so the copy can be compared.
    await patient.session.close();
    await clinician.session.close();
    await new Promise((resolve) => setTimeout(resolve, 500));
    const originalContents = await contentsOf(originalDb);

    // pnpm --filter @parley/gateway backup "$PWD/parley-$(date +%F).backup"   (Parley running)
    const backup = await pnpm(['--filter', '@parley/gateway', 'backup', backupFile], { DATA_DIR: live });
    // DATA_DIR="$PWD/.data/restore-drill" pnpm --filter @parley/gateway restore "$PWD/parley-….backup"
    const restore = await pnpm(['--filter', '@parley/gateway', 'restore', backupFile], { DATA_DIR: drill });
    // DATA_DIR="$PWD/.data/restore-drill" DEMO_SEED=false npm start   (the gateway's start, as npm start runs it)
    const copy = await startGatewayProcess({ entry: GATEWAY_ENTRY, env: { DATA_DIR: drill, DEMO_SEED: 'false' } });
    gateways.push(copy);
    // DATABASE_URL=<the URL the banner prints under Database:> pnpm --filter @parley/gateway record:verify
    const verified = await pnpm(['--filter', '@parley/gateway', 'record:verify'], { DATABASE_URL: bannerDatabaseUrl(copy) });
    const copyDb = await openDatabase(bannerDatabaseUrl(copy));
    dataSources.push(copyDb);
    // Before a client of the copy adds its own audit events.
    const copyContents = await contentsOf(copyDb);
    const reader = await staffChat(copy.url, practice, practice.clinician);
    chats.push(reader);
    await follow(reader, conversationId);
    await reader.waitForEntries(6, 20_000);
    const [attachment] = reader.entries.flatMap((entry) => (entry.ok && entry.value.kind === 'message' ? entry.value.attachments : []));
    const photoFromCopy = await reader.session.conversation(conversationId).fetchAttachment(attachment!);
    const isAppendOnly = await copyDb.query(`UPDATE record_entries SET nonce = nonce WHERE conversation_id = $1`, [conversationId]).then(
      () => false,
      () => true,
    );

    expect(backup).toMatchObject({ code: 0, stderr: '' });
    expect(backup.stdout).toMatch(
      /^backed up \d+ rows in \d+ tables, \d+ sequences, \d+ migrations from the running embedded PostgreSQL in .* to .*parley-backup-test\.backup\n$/,
    );
    expect(restore).toMatchObject({ code: 0, stderr: '' });
    expect(restore.stdout).toMatch(
      /^restored \d+ rows in \d+ tables, .* into the embedded PostgreSQL in .*restore-drill\/postgres \(started for this command, now stopped\)\n$/,
    );
    expect(verified).toMatchObject({ code: 0, stdout: '1 conversations checked, 0 broken\n' });
    expect(copyContents).toEqual(originalContents);
    expect(originalContents['record_entries']).toMatch(/^6 rows /);
    expect(originalContents['attachment_chunks']).toMatch(/^2 rows /);
    expect(reader.bodies()).toEqual(['written before the backup', 'and a reply, also before it', '']);
    expect(Buffer.from(photoFromCopy).equals(photo)).toBe(true);
    expect(reader.entries.filter((entry) => !entry.ok)).toEqual([]);
    expect(isAppendOnly).toBe(true);
  }, 120_000);

  it('refuses to restore into a database that is not empty, and a file that was cut short, leaving the target unchanged', async () => {
    const serverUrl = process.env['TEST_DATABASE_URL']!;
    const target: TestDatabase = await createTestDatabase(serverUrl);
    try {
      const truncated = join(root, 'truncated.backup');
      const { stdout: size } = await run('stat', ['-c', '%s', backupFile]);
      await run('sh', ['-c', `head -c ${Math.floor(Number(size) / 2)} "${backupFile}" > "${truncated}"`]);

      const cutShort = await pnpm(['--filter', '@parley/gateway', 'restore', truncated], { DATABASE_URL: target.url });
      const tablesAfterCutShort = await countTables(target.url);
      const whole = await pnpm(['--filter', '@parley/gateway', 'restore', backupFile], { DATABASE_URL: target.url });
      const again = await pnpm(['--filter', '@parley/gateway', 'restore', backupFile], { DATABASE_URL: target.url });

      expect(cutShort.code).toBe(1);
      expect(cutShort.stderr).toMatch(/^parley: /);
      expect(whole).toMatchObject({ code: 0, stderr: '' });
      expect(again).toMatchObject({ code: 1, stderr: 'parley: the database to restore into is not empty: restore into a new, empty database\n' });
      expect(tablesAfterCutShort).toBe(0);
    } finally {
      await target.drop();
    }
  }, 60_000);
});

/** Per table (but TypeORM's migrations table): its row count and a digest of every row's every value. */
async function contentsOf(dataSource: DataSource): Promise<Record<string, string>> {
  const tables: { name: string }[] = await dataSource.query(
    `SELECT tablename AS name FROM pg_tables WHERE schemaname = current_schema() AND tablename <> 'migrations' ORDER BY 1`,
  );
  const contents: Record<string, string> = {};
  for (const { name } of tables) {
    const [row] = await dataSource.query(`SELECT count(*)::int AS n, md5(coalesce(string_agg(t::text, '|' ORDER BY t::text), '')) AS digest FROM "${name}" t`);
    contents[name] = `${row.n} rows ${row.digest}`;
  }
  return contents;
}

/** Tables in the database (without migrating it, as openDatabase would). */
async function countTables(url: string): Promise<number> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const { rows } = await client.query<{ n: number }>(`SELECT count(*)::int AS n FROM pg_tables WHERE schemaname = current_schema()`);
    return rows[0]!.n;
  } finally {
    await client.end();
  }
}
