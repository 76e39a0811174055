import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import type { TestDatabase } from '@parley/testing';
import type { DataSource } from 'typeorm';
import { freshDatabase } from '../../test/database.js';
import { openDatabase } from './data-source.js';
import { waitUntil } from '../../test/wait.js';
import { DomainError } from '../common/domain-error.js';
import { begin, limitDatabaseQueue, one, prepared, rows, run, transaction } from './sql.js';

const SRC = join(import.meta.dirname, '..');

/** A prepared statement of this spec (declared once, like the repositories' module constants). */
const LABEL_OF = prepared('sql-spec.label-of', `SELECT label FROM sql_helper_test WHERE id = $1`);
const INSERT_LABEL = prepared('sql-spec.insert-label', `INSERT INTO sql_helper_test (id, label) VALUES ($1, $2)`);

function sourceFiles(folder: string): string[] {
  return readdirSync(folder).flatMap((name) => {
    const path = join(folder, name);
    if (statSync(path).isDirectory()) return sourceFiles(path);
    return name.endsWith('.ts') && !name.endsWith('.spec.ts') ? [path] : [];
  });
}

/**
 * Where SQL may be written (docs/decisions/0005-typed-sql-no-entities.md): the repositories, and the routing steps
 * that the routing, capacity and lifecycle repositories share (the lock order and the cap rule).
 */
const isRepository = (file: string) => file.endsWith('.repository.ts') || file.endsWith('/routing/assignment-locks.ts');
/** Besides repositories: the database folder (migrations, backup, demo seed, this helper), the demo hours seed and the readiness ping. */
const OTHER_SQL = [/^database\//, /^hours\/demo-hours\.ts$/, /^health\/health\.service\.ts$/];

describe('typed SQL', () => {
  let database: TestDatabase;
  let dataSource: DataSource;

  beforeAll(async () => {
    database = await freshDatabase();
    dataSource = await openDatabase(database.url);
    await run(dataSource, `CREATE TABLE sql_helper_test (id int PRIMARY KEY, label text NOT NULL)`);
  });

  afterAll(async () => {
    await dataSource.destroy();
    await database.drop();
  });

  it('answers rows for SELECT and for INSERT, UPDATE and DELETE with RETURNING alike', async () => {
    const inserted = await rows<{ id: number }>(dataSource, `INSERT INTO sql_helper_test (id, label) VALUES (1, 'a'), (2, 'b') RETURNING id`);
    const updated = await rows<{ id: number; label: string }>(
      dataSource,
      `UPDATE sql_helper_test SET label = label || '!' WHERE id = $1 RETURNING id, label`,
      [2],
    );
    const none = await rows(dataSource, `UPDATE sql_helper_test SET label = 'x' WHERE id = 99 RETURNING id`);
    const deleted = await rows<{ id: number }>(dataSource, `DELETE FROM sql_helper_test WHERE id = 1 RETURNING id`);

    expect(inserted).toEqual([{ id: 1 }, { id: 2 }]);
    expect(updated).toEqual([{ id: 2, label: 'b!' }]);
    expect(none).toEqual([]);
    expect(deleted).toEqual([{ id: 1 }]);
    expect(await one<{ label: string }>(dataSource, `SELECT label FROM sql_helper_test WHERE id = $1`, [2])).toEqual({ label: 'b!' });
    expect(await one(dataSource, `SELECT label FROM sql_helper_test WHERE id = $1`, [1])).toBeUndefined();
  });

  it('commits a transaction that resolves and rolls back one that rejects', async () => {
    await transaction(dataSource, (db) => run(db, `INSERT INTO sql_helper_test (id, label) VALUES (10, 'kept')`));
    const failed = transaction(dataSource, async (db) => {
      await run(db, `INSERT INTO sql_helper_test (id, label) VALUES (11, 'undone')`);
      throw new Error('abandon');
    });

    await expect(failed).rejects.toThrow('abandon');
    expect(await rows(dataSource, `SELECT id FROM sql_helper_test WHERE id >= 10 ORDER BY id`)).toEqual([{ id: 10 }]);
  });

  it('has every table the migrations create read or written by some repository query', async () => {
    const tables = await rows<{ table_name: string }>(
      dataSource,
      `SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema() AND table_name NOT IN ('migrations', 'sql_helper_test') ORDER BY 1`,
    );
    const sql = sourceFiles(SRC)
      .filter(isRepository)
      .map((file) => readFileSync(file, 'utf8'))
      .join('\n');

    expect(tables.length).toBeGreaterThan(20);
    expect(tables.map((row) => row.table_name).filter((table) => !new RegExp(`\\b(FROM|JOIN|INTO|UPDATE)\\s+${table}\\b`, 'i').test(sql))).toEqual([]);
  });

  it('is written only in repositories (and the database folder, the demo hours seed and the readiness ping)', () => {
    const elsewhere = sourceFiles(SRC)
      .filter((file) => !isRepository(file))
      .map((file) => relative(SRC, file))
      .filter((file) => !OTHER_SQL.some((allowed) => allowed.test(file)))
      .filter((file) => /\b(dataSource|db|manager)\.query\b/.test(readFileSync(join(SRC, file), 'utf8')));

    expect(elsewhere).toEqual([]);
  });
  it('refuses a query at once with rate_limited when the bound of queries already wait for a connection, writes nothing for it, and recovers', async () => {
    const busy = await openDatabase(database.url);
    const pool = (busy.driver as unknown as { master: { waitingCount: number; options: { max: number } } }).master;
    limitDatabaseQueue(busy, 3);
    try {
      // Every connection busy, and queries waiting behind them (those past the bound already refused: not counted on).
      const holding = Array.from({ length: pool.options.max + 3 }, () => run(busy, `SELECT pg_sleep(0.5)`).catch(() => undefined));
      await waitUntil(() => pool.waitingCount >= 3, 'three queries waiting for a connection');
      const started = Date.now();

      const refused = await run(busy, `INSERT INTO sql_helper_test (id, label) VALUES (20, 'refused')`).catch((error: unknown) => error);
      const refusedTransaction = await transaction(busy, (db) => run(db, `INSERT INTO sql_helper_test (id, label) VALUES (21, 'refused')`)).catch(
        (error: unknown) => error,
      );

      expect(Date.now() - started).toBeLessThan(200);
      expect(refused).toBeInstanceOf(DomainError);
      expect(refused).toMatchObject({ code: 'rate_limited' });
      expect(refusedTransaction).toMatchObject({ code: 'rate_limited' });
      await Promise.all(holding);
      await run(busy, `INSERT INTO sql_helper_test (id, label) VALUES (22, 'later')`);
      expect(await rows(dataSource, `SELECT id FROM sql_helper_test WHERE id BETWEEN 20 AND 29 ORDER BY id`)).toEqual([{ id: 22 }]);
    } finally {
      await busy.destroy();
    }
  });

  it('leaves a begun transaction open until its owner commits or rolls it back', async () => {
    const first = await begin<{ label: string }>(dataSource, `SELECT label FROM sql_helper_test WHERE id = 10`);
    await run(first.transaction.db, `INSERT INTO sql_helper_test (id, label) VALUES (30, 'committed later')`);
    const second = await begin(dataSource, `SELECT 1`);
    await run(second.transaction.db, `INSERT INTO sql_helper_test (id, label) VALUES (31, 'rolled back')`);

    expect(first.rows).toEqual([{ label: 'kept' }]);
    expect(await rows(dataSource, `SELECT id FROM sql_helper_test WHERE id >= 30`)).toEqual([]);
    await first.transaction.commit();
    await second.transaction.rollback();
    expect(await rows(dataSource, `SELECT id FROM sql_helper_test WHERE id >= 30 ORDER BY id`)).toEqual([{ id: 30 }]);
  });
  it('runs a prepared statement by its name on a begun transaction, the DataSource and a TypeORM transaction alike', async () => {
    const open = await begin(dataSource, `SELECT 1`);
    await run(open.transaction.db, INSERT_LABEL, [50, 'prepared']);
    await run(open.transaction.db, INSERT_LABEL, [51, 'again']);
    // Parsed once on this connection, under its name, and kept for the next runs.
    const onConnection = await rows<{ name: string; statement: string }>(open.transaction.db, `SELECT name, statement FROM pg_prepared_statements`);
    await open.transaction.commit();
    await transaction(dataSource, (db) => run(db, INSERT_LABEL, [52, 'as text']));

    expect(onConnection).toEqual([{ name: 'sql-spec.insert-label', statement: INSERT_LABEL.text }]);
    expect(await one(dataSource, LABEL_OF, [51])).toEqual({ label: 'again' });
    expect(await rows(dataSource, LABEL_OF, [52])).toEqual([{ label: 'as text' }]);
    expect(await one(dataSource, LABEL_OF, [99])).toBeUndefined();
  });

  it('answers a prepared statement refused by PostgreSQL with its error, storing nothing, and runs it again afterwards', async () => {
    const open = await begin(dataSource, `SELECT 1`);
    await run(open.transaction.db, INSERT_LABEL, [60, 'first']);
    await expect(run(open.transaction.db, INSERT_LABEL, [60, 'twice'])).rejects.toMatchObject({ code: '23505' });
    await open.transaction.rollback();
    await expect(run(dataSource, INSERT_LABEL, [61, null])).rejects.toMatchObject({ code: '23502' });
    await run(dataSource, INSERT_LABEL, [61, 'after the refusals']);

    expect(await rows(dataSource, `SELECT id, label FROM sql_helper_test WHERE id IN (60, 61)`)).toEqual([{ id: 61, label: 'after the refusals' }]);
  });

  it('pipelines the statements issued together on a begun transaction: answered in order, a refused one refusing those behind it', async () => {
    const pool = (dataSource.driver as unknown as { master: { options: { pipeline?: boolean } } }).master;
    const open = await begin(dataSource, `SELECT 1`);

    const answers = await Promise.allSettled([
      run(open.transaction.db, INSERT_LABEL, [70, 'before']),
      run(open.transaction.db, `SELECT 1 / 0`),
      run(open.transaction.db, INSERT_LABEL, [71, 'after']),
    ]);
    await open.transaction.rollback();

    expect(pool.options.pipeline).toBe(true);
    expect(answers.map((answer) => (answer.status === 'fulfilled' ? 'ok' : (answer.reason as { code: string }).code))).toEqual(['ok', '22012', '25P02']);
    expect(await rows(dataSource, `SELECT id FROM sql_helper_test WHERE id IN (70, 71)`)).toEqual([]);
  });

  it('refuses a second statement under a prepared name already taken', () => {
    expect(() => prepared('sql-spec.label-of', `SELECT 1`)).toThrow('sql-spec.label-of');
  });

  it('survives PostgreSQL dropping a connection held by a begun transaction: the commit rejects, nothing is stored, the pool serves again', async () => {
    const open = await begin<{ pid: number }>(dataSource, `SELECT pg_backend_pid() AS pid`);
    await run(open.transaction.db, `INSERT INTO sql_helper_test (id, label) VALUES (40, 'lost')`);

    const pid = open.rows[0]!.pid;
    await run(dataSource, `SELECT pg_terminate_backend($1)`, [pid]);
    await waitUntil(async () => (await rows(dataSource, `SELECT 1 FROM pg_stat_activity WHERE pid = $1`, [pid])).length === 0, 'the backend to end');
    // Without a listener on the checked-out connection, its 'error' event would have crashed this process by now.
    await expect(open.transaction.commit()).rejects.toThrow();

    expect(await rows(dataSource, `SELECT id FROM sql_helper_test WHERE id = 40`)).toEqual([]);
  });
});
