import { createReadStream, createWriteStream } from 'node:fs';
import { rename, rm } from 'node:fs/promises';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { pipeline } from 'node:stream/promises';
import { createGunzip, createGzip } from 'node:zlib';
import pg from 'pg';
import { DataSource } from 'typeorm';
import { dataSourceOptions, MIGRATIONS } from './data-source.js';

// A logical backup made through the PostgreSQL protocol alone, so it needs no pg_dump of the server's major version:
// the embedded server (PostgreSQL 18) ships none, and the distribution's (Debian 12: 15) refuses a newer server.
// The schema is not in the file: it is the migrations, which the restore applies up to the backup's last one before
// loading the rows, and past it afterwards. The rows travel as PostgreSQL's own JSON text (row_to_json), never parsed
// here, and are turned back into rows by PostgreSQL (json_populate_record): bytea, timestamps to the microsecond,
// bigints and numerics come back exactly.
//
// The file is gzip'd lines, each a tag, a space and JSON:
//   H {"format":"parley-backup","version":1,"migrations":[...],"tables":[{"name","columns"}],...}
//   T {"table":"practices"}          then one R line per row:  R {"id":"…","ods_code":"…",…}
//   S {"sequence":"audit_events_id_seq","lastValue":"42","isCalled":true}
//   E {"rows":{"practices":3,…}}     last: a file without it was cut short and is refused

export const BACKUP_FORMAT = 'parley-backup';
const BACKUP_VERSION = 1;
/** TypeORM's own table: rebuilt by running the migrations, never copied. */
const MIGRATIONS_TABLE = 'migrations';
const FETCH_ROWS = 1_000;
/**
 * Row text fetched at a time, about: a table of small rows is read FETCH_ROWS at a time, one of large rows (attachment
 * parts are about 131 kB of JSON each) a few dozen, so the backup's memory stays flat whatever the table holds.
 */
const FETCH_BYTES = 8 * 1024 * 1024;
/** The first fetch of each table, before its rows' size is known. */
const FIRST_FETCH_ROWS = 16;
const INSERT_BATCH_BYTES = 4 * 1024 * 1024;
/**
 * References checked by a trigger, not a foreign key (migration 1765000600000, docs/decisions/0007): the record's
 * entries are checked at the end of their INSERT, so their conversations and devices must be loaded first.
 */
const RECORD_REFERENCES = [
  { child: 'record_entries', parent: 'conversations' },
  { child: 'record_entries', parent: 'devices' },
];

interface Header {
  format: typeof BACKUP_FORMAT;
  version: number;
  createdAt: string;
  serverVersion: string;
  /** Applied migrations, oldest first. */
  migrations: string[];
  /** Parents before children (foreign keys), so that each table's rows can go in with one INSERT. */
  tables: { name: string; columns: string[] }[];
}

/** What a backup or restore copied: rows per table and sequences. */
export interface BackupSummary {
  file: string;
  migrations: number;
  rows: Record<string, number>;
  sequences: number;
}

/** A backup that cannot be made or restored, with a reason a person can act on. */
export class BackupError extends Error {}

/** The migration names this build knows, oldest first (TypeORM stores `name`, else the class name). */
function knownMigrations(): string[] {
  return MIGRATIONS.map((Migration) => (new Migration() as { name?: string }).name ?? Migration.name);
}

/**
 * Writes a consistent snapshot of the Parley database at `url` to `file` (through `file.partial`, renamed once
 * complete). One REPEATABLE READ transaction: the gateways may keep running. @throws BackupError
 */
export async function writeBackup(url: string, file: string): Promise<BackupSummary> {
  const client = new pg.Client({ connectionString: url, application_name: 'parley-backup' });
  await client.connect();
  const partial = `${file}.partial`;
  try {
    await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
    const header = await readHeader(client);
    const gzip = createGzip();
    const written = pipeline(gzip, createWriteStream(partial, { mode: 0o600 }));
    const write = async (tag: string, json: string) => {
      if (!gzip.write(`${tag} ${json}\n`)) await once(gzip, 'drain');
    };
    await write('H', JSON.stringify(header));
    const rows: Record<string, number> = {};
    for (const { name } of header.tables) {
      await write('T', JSON.stringify({ table: name }));
      rows[name] = 0;
      const table = client.escapeIdentifier(name);
      await client.query(`DECLARE backup_rows NO SCROLL CURSOR FOR SELECT row_to_json(t)::text AS r FROM ${table} t`);
      for (let fetchRows = FIRST_FETCH_ROWS; ;) {
        const batch = await client.query<{ r: string }>(`FETCH ${fetchRows} FROM backup_rows`);
        let batchBytes = 0;
        for (const { r } of batch.rows) {
          batchBytes += r.length;
          await write('R', r);
        }
        rows[name] += batch.rows.length;
        if (batch.rows.length < fetchRows) break;
        fetchRows = Math.max(1, Math.min(FETCH_ROWS, Math.floor(FETCH_BYTES / Math.max(1, batchBytes / batch.rows.length))));
      }
      await client.query('CLOSE backup_rows');
    }
    const sequences = await readSequences(client);
    for (const sequence of sequences) await write('S', JSON.stringify(sequence));
    await write('E', JSON.stringify({ rows }));
    gzip.end();
    await written;
    await client.query('COMMIT');
    await rename(partial, file);
    return { file, migrations: header.migrations.length, rows, sequences: sequences.length };
  } catch (error) {
    await rm(partial, { force: true });
    throw error;
  } finally {
    await client.end();
  }
}

async function readHeader(client: pg.Client): Promise<Header> {
  const schema = await client.query<{ has_migrations: boolean }>(
    `SELECT to_regclass(quote_ident(current_schema()) || '.${MIGRATIONS_TABLE}') IS NOT NULL AS has_migrations`,
  );
  if (!schema.rows[0]?.has_migrations) throw new BackupError('this database has no migrations table: it is not a Parley database (or was never started)');
  const migrations = (await client.query<{ name: string }>(`SELECT name FROM ${MIGRATIONS_TABLE} ORDER BY id`)).rows.map((row) => row.name);
  const { rows: tables } = await client.query<{ name: string; columns: string[] }>(
    `SELECT c.relname AS name,
            array(SELECT a.attname FROM pg_attribute a
                  WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped AND a.attgenerated = '' ORDER BY a.attnum)::text[] AS columns
       FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p') AND NOT c.relispartition AND c.relname <> $1
      ORDER BY c.relname`,
    [MIGRATIONS_TABLE],
  );
  const { rows: references } = await client.query<{ child: string; parent: string }>(
    `SELECT child.relname AS child, parent.relname AS parent
       FROM pg_constraint k
       JOIN pg_class child ON child.oid = k.conrelid
       JOIN pg_class parent ON parent.oid = k.confrelid
       JOIN pg_namespace n ON n.oid = k.connamespace
      WHERE k.contype = 'f' AND n.nspname = current_schema() AND child.oid <> parent.oid`,
  );
  references.push(...RECORD_REFERENCES);
  const { rows: version } = await client.query<{ server_version: string }>('SHOW server_version');
  return {
    format: BACKUP_FORMAT,
    version: BACKUP_VERSION,
    createdAt: new Date().toISOString(),
    serverVersion: version[0]?.server_version ?? 'unknown',
    migrations,
    tables: parentsFirst(tables, references),
  };
}

/** Tables ordered so that every table comes after those its foreign keys point to (a table's own rows go in as one statement). */
function parentsFirst<T extends { name: string }>(tables: T[], references: { child: string; parent: string }[]): T[] {
  const ordered: T[] = [];
  const placed = new Set<string>();
  let remaining = [...tables];
  while (remaining.length > 0) {
    const ready = remaining.filter((table) => references.every((reference) => reference.child !== table.name || placed.has(reference.parent)));
    if (ready.length === 0)
      throw new BackupError(`foreign keys form a cycle between ${remaining.map((table) => table.name).join(', ')}: this backup format cannot order them`);
    for (const table of ready) placed.add(table.name);
    ordered.push(...ready);
    remaining = remaining.filter((table) => !placed.has(table.name));
  }
  return ordered;
}

async function readSequences(client: pg.Client): Promise<{ sequence: string; lastValue: string; isCalled: boolean }[]> {
  // The migrations table's own id sequence is rebuilt with it.
  const { rows: names } = await client.query<{ name: string }>(
    `SELECT c.relname AS name FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE n.nspname = current_schema() AND c.relkind = 'S'
        AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.objid = c.oid AND d.refobjid = to_regclass(quote_ident(current_schema()) || '.${MIGRATIONS_TABLE}'))
      ORDER BY c.relname`,
  );
  const sequences = [];
  for (const { name } of names) {
    const { rows } = await client.query<{ last_value: string; is_called: boolean }>(
      `SELECT last_value::text AS last_value, is_called FROM ${client.escapeIdentifier(name)}`,
    );
    sequences.push({ sequence: name, lastValue: rows[0]!.last_value, isCalled: rows[0]!.is_called });
  }
  return sequences;
}

/**
 * Restores `file` into the empty database at `url`: applies the migrations the backup was made at, loads every row and
 * sequence in one transaction (a failed restore leaves no rows behind), then applies this build's newer migrations.
 * @throws BackupError when the database is not empty, the file is not a complete Parley backup, or it comes from a
 * newer build (restore with that version)
 */
export async function restoreBackup(url: string, file: string): Promise<BackupSummary> {
  // The whole file is read once before anything is written: a damaged or cut-short backup leaves the database untouched.
  const header = await checkFile(file);
  const known = knownMigrations();
  const isPrefix = header.migrations.length <= known.length && header.migrations.every((name, index) => known[index] === name);
  if (!isPrefix)
    throw new BackupError(`the backup's migrations (last: ${header.migrations.at(-1)}) are not this build's: restore it with the Parley version that made it`);

  await assertEmpty(url);
  await migrate(url, header.migrations.length);
  const lines = readLines(file);
  await lines.next();
  const client = new pg.Client({ connectionString: url, application_name: 'parley-restore' });
  await client.connect();
  let sequences = 0;
  const loaded: Record<string, number> = {};
  try {
    await client.query('BEGIN');
    await client.query('CREATE TEMP TABLE restore_rows (table_name text NOT NULL, doc json NOT NULL) ON COMMIT DROP');
    let table: string | undefined;
    let batch: string[] = [];
    let batchBytes = 0;
    const flush = async () => {
      if (batch.length === 0) return;
      await client.query('INSERT INTO restore_rows (table_name, doc) SELECT $1, value FROM json_array_elements($2::json)', [table, `[${batch.join(',')}]`]);
      batch = [];
      batchBytes = 0;
    };
    const setvals: { sequence: string; lastValue: string; isCalled: boolean }[] = [];
    let expected: Record<string, number> | undefined;
    for (let next = await lines.next(); !next.done; next = await lines.next()) {
      const line = next.value;
      const [tag, body] = [line.slice(0, 1), line.slice(2)];
      if (tag === 'R') {
        if (!table) throw new BackupError(`${file} is damaged: a row before any table`);
        batch.push(body);
        batchBytes += body.length;
        if (batchBytes >= INSERT_BATCH_BYTES) await flush();
      } else if (tag === 'T') {
        await flush();
        table = (JSON.parse(body) as { table: string }).table;
      } else if (tag === 'S') {
        setvals.push(JSON.parse(body) as (typeof setvals)[number]);
      } else if (tag === 'E') {
        expected = (JSON.parse(body) as { rows: Record<string, number> }).rows;
      } else if (line !== '') {
        throw new BackupError(`${file} is damaged: unexpected line starting ${JSON.stringify(line.slice(0, 20))}`);
      }
    }
    await flush();
    if (!expected) throw new BackupError(`${file} is incomplete (its end marker is missing): the backup was cut short`);
    for (const { name, columns } of header.tables) {
      const list = columns.map((column) => client.escapeIdentifier(column)).join(', ');
      const target = client.escapeIdentifier(name);
      // One statement per table: foreign keys within the table are checked at its end, whatever the rows' order.
      const inserted = await client.query(
        `INSERT INTO ${target} (${list}) OVERRIDING SYSTEM VALUE
         SELECT ${columns.map((column) => `r.${client.escapeIdentifier(column)}`).join(', ')}
           FROM restore_rows, json_populate_record(NULL::${target}, restore_rows.doc) AS r
          WHERE restore_rows.table_name = $1`,
        [name],
      );
      loaded[name] = inserted.rowCount ?? 0;
      if (loaded[name] !== expected[name]) throw new BackupError(`${file}: ${name} has ${loaded[name]} rows, its end marker says ${expected[name]}`);
    }
    for (const { sequence, lastValue, isCalled } of setvals) {
      await client.query('SELECT setval($1::regclass, $2::bigint, $3)', [client.escapeIdentifier(sequence), lastValue, isCalled]);
      sequences += 1;
    }
    await client.query('COMMIT');
  } catch (error) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw error;
  } finally {
    await client.end();
  }
  // Past the backup's migrations, as the gateway would at its next start.
  if (header.migrations.length < known.length) await migrate(url, known.length);
  return { file, migrations: header.migrations.length, rows: loaded, sequences };
}

function readLines(file: string): AsyncIterator<string> {
  return createInterface({ input: createReadStream(file).pipe(createGunzip()), crlfDelay: Infinity })[Symbol.asyncIterator]();
}

/** Reads the whole file: a gzip stream that ends early, an unknown line, or a row count that differs from the end marker's is refused. */
async function checkFile(file: string): Promise<Header> {
  const counted: Record<string, number> = {};
  let header: Header | undefined;
  let table: string | undefined;
  let expected: Record<string, number> | undefined;
  try {
    const lines = readLines(file);
    for (let next = await lines.next(); !next.done; next = await lines.next()) {
      const line = next.value;
      if (!header) header = parseHeader(line, file);
      else if (line.startsWith('R ') && table) counted[table] = (counted[table] ?? 0) + 1;
      else if (line.startsWith('T ')) table = (JSON.parse(line.slice(2)) as { table: string }).table;
      else if (line.startsWith('E ')) expected = (JSON.parse(line.slice(2)) as { rows: Record<string, number> }).rows;
      else if (!line.startsWith('S ') && line !== '')
        throw new BackupError(`${file} is damaged: unexpected line starting ${JSON.stringify(line.slice(0, 20))}`);
    }
  } catch (error) {
    if (error instanceof BackupError) throw error;
    throw new BackupError(`${file} is damaged or cut short (${error instanceof Error ? error.message : String(error)})`);
  }
  if (!header) throw new BackupError(`${file} is empty`);
  if (!expected) throw new BackupError(`${file} is incomplete (its end marker is missing): the backup was cut short`);
  for (const { name } of header.tables) {
    if ((counted[name] ?? 0) !== (expected[name] ?? 0))
      throw new BackupError(`${file} is damaged: ${name} has ${counted[name] ?? 0} rows, its end marker says ${expected[name] ?? 0}`);
  }
  return header;
}

function parseHeader(line: string, file: string): Header {
  if (!line.startsWith('H ')) throw new BackupError(`${file} is not a Parley backup`);
  const header = JSON.parse(line.slice(2)) as Header;
  if (header.format !== BACKUP_FORMAT) throw new BackupError(`${file} is not a Parley backup`);
  if (header.version !== BACKUP_VERSION) throw new BackupError(`${file} is backup format ${header.version}; this build reads format ${BACKUP_VERSION}`);
  return header;
}

/** A restore goes into a new database only: it never merges into, or overwrites, one in use. */
async function assertEmpty(url: string): Promise<void> {
  const client = new pg.Client({ connectionString: url, application_name: 'parley-restore' });
  await client.connect();
  try {
    const { rows } = await client.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p', 'v', 'm', 'S')`,
    );
    if ((rows[0]?.n ?? 0) > 0) throw new BackupError('the database to restore into is not empty: restore into a new, empty database');
  } finally {
    await client.end();
  }
}

/** Applies the first `count` migrations of this build (in one transaction, as the gateway does). */
async function migrate(url: string, count: number): Promise<void> {
  const dataSource = new DataSource({
    ...dataSourceOptions(url),
    migrations: MIGRATIONS.slice(0, count),
    extra: { max: 1, application_name: 'parley-restore' },
  });
  await dataSource.initialize();
  try {
    await dataSource.runMigrations({ transaction: 'all' });
  } finally {
    await dataSource.destroy();
  }
}
