import { readFile } from 'node:fs/promises';
import { isAbsolute, join } from 'node:path';
import 'reflect-metadata';
import { loadConfig } from '../config.js';
import { BackupError, restoreBackup, writeBackup, type BackupSummary } from './backup.js';
import { EmbeddedPostgres, isAlive } from './embedded-postgres.js';

/**
 * `pnpm --filter @parley/gateway backup <file>` and `... restore <file>` (docs/operations.md, "Backups and restores").
 * The database is DATABASE_URL, or else the embedded one under DATA_DIR (default .data): while Parley runs, the
 * command connects to its server; while it is stopped, it starts that server for the time of the command (a new
 * DATA_DIR gets a new, empty one, which is how a restore drill starts). Exit code 0 on success, 1 with one line on error.
 */
async function main(command: string | undefined, file: string | undefined): Promise<void> {
  if ((command !== 'backup' && command !== 'restore') || !file) throw new BackupError('usage: backup <file> | restore <file>');
  // pnpm runs package scripts in apps/gateway: a relative path would land (or be looked for) there, not where the person is.
  if (!isAbsolute(file)) throw new BackupError(`give the backup file as an absolute path, e.g. "$PWD/${file}" (pnpm runs this command in apps/gateway)`);
  const config = loadConfig();
  const database = config.databaseUrl
    ? { url: config.databaseUrl, where: 'DATABASE_URL', stop: async () => undefined }
    : await embeddedDatabase(join(config.dataDir, 'postgres'));
  try {
    const summary = command === 'backup' ? await writeBackup(database.url, file) : await restoreBackup(database.url, file);
    process.stdout.write(describe(command, summary, database.where));
  } finally {
    await database.stop();
  }
}

/** The embedded server in `dataDir`: the running one (its port is in postmaster.pid), or one started for this command. */
async function embeddedDatabase(dataDir: string): Promise<{ url: string; where: string; stop(): Promise<void> }> {
  const pid = await readFile(join(dataDir, 'pgdata', 'postmaster.pid'), 'utf8').catch(() => '');
  const [pidLine, , , portLine] = pid.split('\n');
  // EmbeddedPostgres.start() would take a live server for an orphan and stop it: never start one beside a running Parley.
  if (pidLine && isAlive(Number(pidLine)) && Number(portLine) > 0) {
    return {
      url: `postgres://postgres@127.0.0.1:${Number(portLine)}/postgres`,
      where: `the running embedded PostgreSQL in ${dataDir}`,
      stop: async () => undefined,
    };
  }
  const server = new EmbeddedPostgres({ dataDir, port: 0, onWarn: (message) => process.stderr.write(`parley: ${message}\n`) });
  await server.start();
  return { url: server.url, where: `the embedded PostgreSQL in ${dataDir} (started for this command, now stopped)`, stop: () => server.stop() };
}

function describe(command: 'backup' | 'restore', summary: BackupSummary, where: string): string {
  const rows = Object.values(summary.rows).reduce((sum, n) => sum + n, 0);
  const tables = Object.keys(summary.rows).length;
  const what = `${rows} rows in ${tables} tables, ${summary.sequences} sequences, ${summary.migrations} migrations`;
  return command === 'backup' ? `backed up ${what} from ${where} to ${summary.file}\n` : `restored ${what} from ${summary.file} into ${where}\n`;
}

main(process.argv[2], process.argv[3]).catch((error: unknown) => {
  process.stderr.write(`parley: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exitCode = 1;
});
