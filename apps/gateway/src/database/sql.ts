import type { Pool, PoolClient, QueryResult } from 'pg';
import type { DataSource, EntityManager } from 'typeorm';
import { DomainError } from '../common/domain-error.js';

/**
 * Typed SQL, the gateway's one way to the database (docs/decisions/0005-typed-sql-no-entities.md): repositories
 * write SQL and read its rows through `rows` / `one`, typed by a row interface declared beside the query. The
 * type is a promise the query keeps, not a check: it names the columns as PostgreSQL returns them (snake_case;
 * `bigint` and `count(*)` as string, `timestamptz` as Date, `bytea` as Buffer, `jsonb` parsed).
 */

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** A UUID as PostgreSQL's uuid type reads it (canonical form, either case): safe to write into a statement as a literal. */
export const isUuid = (value: string): boolean => UUID.test(value);

/** Where a query runs: the DataSource (a pooled connection per statement) or the connection of one `transaction`. */
export type Db = Pick<EntityManager, 'query'>;

/**
 * A statement PostgreSQL parses and plans once per connection (a named prepared statement), not on every run: for the
 * statements of the hot paths (the record writer's batch, the group open, the routing pass), where parsing and planning
 * cost PostgreSQL more than running them for small batches (docs/benchmarks.md). Declare one as a module constant with a
 * fixed text: one name, one text, for the process's life. Run through a `begin` transaction or the DataSource it is
 * prepared; inside a TypeORM `transaction` it runs as plain text.
 */
export interface Prepared {
  readonly name: string;
  readonly text: string;
}

const preparedNames = new Set<string>();

/** Declares a prepared statement (`Prepared`). @throws Error when the name is taken by another declaration */
export function prepared(name: string, text: string): Prepared {
  if (preparedNames.has(name)) throw new Error(`prepared: the statement name ${name} is taken`);
  preparedNames.add(name);
  return { name, text };
}

/** A statement's SQL: plain text, or a prepared statement. */
export type Statement = string | Prepared;

/** The transactions opened by `begin`, whose connection runs prepared statements (a TypeORM manager cannot). */
const preparing = new WeakSet<Db>();

/** pg's query config: a prepared statement by its name, or plain text. */
const queryConfig = (statement: Statement, values?: readonly unknown[]) => ({
  ...(typeof statement === 'string' ? { text: statement } : statement),
  values: values && [...values],
});

/**
 * The rows of a query: a SELECT, or an INSERT / UPDATE / DELETE with RETURNING.
 * In a transaction TypeORM answers UPDATE and DELETE with `[rows, rowCount]` and every other command with its rows; callers get rows.
 */
export async function rows<Row>(db: Db, statement: Statement, parameters: readonly unknown[] = []): Promise<Row[]> {
  const result: unknown = await query(db, statement, parameters);
  if (Array.isArray(result) && result.length === 2 && Array.isArray(result[0]) && typeof result[1] === 'number') return result[0] as Row[];
  return result as Row[];
}

/** The first row of a query, or undefined when it returns none. */
export async function one<Row>(db: Db, statement: Statement, parameters: readonly unknown[] = []): Promise<Row | undefined> {
  return (await rows<Row>(db, statement, parameters))[0];
}

/** Runs a statement whose rows nobody reads. */
export async function run(db: Db, statement: Statement, parameters: readonly unknown[] = []): Promise<void> {
  await query(db, statement, parameters);
}

/**
 * One statement. On a DataSource it goes straight to a connection of the pg pool, without TypeORM's query runner
 * (about a third less CPU per query in the gateway, measured); in a transaction, on the transaction's connection.
 */
async function query(db: Db, statement: Statement, parameters: readonly unknown[]): Promise<unknown> {
  const pool = poolOf(db);
  if (!pool) {
    if (preparing.has(db)) return (db as TransactionDb).query(statement, parameters);
    return db.query(typeof statement === 'string' ? statement : statement.text, [...parameters]);
  }
  admit(db);
  const client = await checkOut(pool);
  let result: QueryResult | QueryResult[];
  try {
    result = (await client.query(queryConfig(statement, parameters))) as QueryResult | QueryResult[];
  } catch (error) {
    // A refused statement leaves the connection usable; a broken connection is destroyed, and the pool opens another.
    client.release(isStatementError(error) ? undefined : (error as Error));
    throw error;
  }
  client.release();
  // Several statements without parameters (the simple protocol) answer one result each: the last one's rows.
  return Array.isArray(result) ? (result.at(-1)?.rows ?? []) : result.rows;
}

/**
 * A connection of the pool, listening for its 'error' event while checked out (pg-pool listens only while it is idle):
 * a connection that PostgreSQL drops (a restart, pg_terminate_backend) emits one, which would otherwise crash the
 * process. The failed query rejects all the same; releasing the connection removes the listener.
 */
async function checkOut(pool: Pool): Promise<PoolClient> {
  const client = await pool.connect();
  const ignore = () => undefined;
  client.on('error', ignore);
  const release = client.release.bind(client);
  client.release = (error?: Error | boolean) => {
    client.removeListener('error', ignore);
    release(error);
  };
  return client;
}

/** Runs `work` in one transaction on one connection: committed when it resolves, rolled back when it rejects. */
export async function transaction<T>(dataSource: DataSource, work: (db: Db) => Promise<T>): Promise<T> {
  admit(dataSource);
  return dataSource.transaction((manager) => work(manager));
}

/** The default of DB_QUEUE_MAX: how many queries may wait for one of the pool's connections before more are refused. */
export const DEFAULT_DB_QUEUE_MAX = 2_000;
const queueLimits = new WeakMap<object, number>();

/** Sets how many queries may wait for a connection of this DataSource's pool (DB_QUEUE_MAX, docs/operations.md). */
export function limitDatabaseQueue(dataSource: DataSource, max: number): void {
  queueLimits.set(dataSource, max);
}

/** The pg Pool behind a DataSource; undefined for a transaction's EntityManager, which already holds its connection. */
export function poolOf(db: Db | DataSource): Pool | undefined {
  return (db as { driver?: { master?: Pool } }).driver?.master;
}

/**
 * Refuses a query at once with `rate_limited` when the pool already has DB_QUEUE_MAX requests waiting for a
 * connection: an overloaded gateway answers "busy, retry shortly" early instead of after connectionTimeoutMillis.
 */
function admit(db: Db | DataSource): void {
  const pool = poolOf(db);
  if (pool && pool.waitingCount >= (queueLimits.get(db) ?? DEFAULT_DB_QUEUE_MAX))
    throw new DomainError('rate_limited', 'The server is busy; try again shortly.');
}

/** The connection of a `begin` transaction: a `Db` whose `query` also takes a prepared statement. */
interface TransactionDb {
  query(statement: Statement, parameters?: readonly unknown[]): Promise<unknown[]>;
}

/** A transaction left open by `begin`: its owner commits or rolls it back, exactly once; either releases the connection. */
export interface OpenTransaction {
  readonly db: Db;
  commit(): Promise<void>;
  rollback(): Promise<void>;
}

/**
 * Begins a transaction on a connection of the DataSource's pool, straight through `pg` (no TypeORM query runner), and
 * leaves it open for a caller that commits later — the record writer starts its next batch while this one commits.
 * `first`, a statement WITHOUT parameters, goes in the same round trip as BEGIN; its rows come back.
 * A connection that failed is destroyed on release, so the pool opens a fresh one for the next transaction.
 */
export async function begin<Row>(dataSource: DataSource, first: string): Promise<{ transaction: OpenTransaction; rows: Row[] }> {
  const pool = poolOf(dataSource);
  if (!pool) throw new Error('begin() needs a PostgreSQL DataSource');
  const client = await checkOut(pool);
  let released = false;
  const release = (error?: Error) => {
    if (released) return;
    released = true;
    client.release(error);
  };
  const query = async (statement: Statement, parameters?: readonly unknown[]): Promise<QueryResult> => {
    try {
      return await client.query(queryConfig(statement, parameters));
    } catch (error) {
      // A statement's error leaves the connection usable (the transaction aborted); a broken connection is destroyed.
      if (!isStatementError(error)) release(error as Error);
      throw error;
    }
  };
  const db: TransactionDb = { query: async (statement, parameters) => (await query(statement, parameters)).rows };
  preparing.add(db as unknown as Db);
  const transaction: OpenTransaction = {
    db: db as unknown as Db,
    commit: async () => {
      try {
        await query('COMMIT');
      } finally {
        release();
      }
    },
    rollback: async () => {
      if (released) return;
      try {
        await client.query('ROLLBACK');
        release();
      } catch (error) {
        release(error as Error);
      }
    },
  };
  try {
    const results = (await query(`BEGIN; ${first}`)) as QueryResult | QueryResult[];
    const last = Array.isArray(results) ? results.at(-1)! : results;
    return { transaction, rows: last.rows as Row[] };
  } catch (error) {
    await transaction.rollback();
    throw error;
  }
}

/** Whether an error is PostgreSQL refusing a statement (it has a SQLSTATE), as opposed to a lost connection. */
export function isStatementError(error: unknown): boolean {
  const failure = error as { code?: unknown; severity?: unknown };
  const code = failure?.code;
  // pg's DatabaseError carries the server's severity; a socket error (ECONNRESET, EPIPE) does not.
  return typeof failure?.severity === 'string' && typeof code === 'string' && !code.startsWith('08') && !code.startsWith('57P');
}

/** Whether a statement waited longer than the transaction's `lock_timeout` for a lock (SQLSTATE 55P03, lock_not_available). */
export function isLockNotAvailable(error: unknown): boolean {
  return (error as { code?: unknown } | undefined)?.code === '55P03';
}

/** Whether a query failed on a unique (or primary key) constraint, optionally a named one. */
export function isUniqueViolation(error: unknown, constraint?: string): boolean {
  const failure = error as { code?: unknown; constraint?: unknown };
  return failure?.code === '23505' && (constraint === undefined || failure.constraint === constraint);
}
