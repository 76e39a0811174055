import type { DataSource, EntityManager } from 'typeorm';

/**
 * Typed SQL, the gateway's one way to the database (docs/decisions/0005-typed-sql-no-entities.md): repositories
 * write SQL and read its rows through `rows` / `one`, typed by a row interface declared beside the query. The
 * type is a promise the query keeps, not a check: it names the columns as PostgreSQL returns them (snake_case;
 * `bigint` and `count(*)` as string, `timestamptz` as Date, `bytea` as Buffer, `jsonb` parsed).
 */

/** Where a query runs: the DataSource (a pooled connection per statement) or the connection of one `transaction`. */
export type Db = Pick<EntityManager, 'query'>;

/**
 * The rows of a query: a SELECT, or an INSERT / UPDATE / DELETE with RETURNING.
 * TypeORM answers UPDATE and DELETE with `[rows, rowCount]` and every other command with its rows; callers get rows.
 */
export async function rows<Row>(db: Db, text: string, parameters: readonly unknown[] = []): Promise<Row[]> {
  const result: unknown = await db.query(text, [...parameters]);
  if (Array.isArray(result) && result.length === 2 && Array.isArray(result[0]) && typeof result[1] === 'number') return result[0] as Row[];
  return result as Row[];
}

/** The first row of a query, or undefined when it returns none. */
export async function one<Row>(db: Db, text: string, parameters: readonly unknown[] = []): Promise<Row | undefined> {
  return (await rows<Row>(db, text, parameters))[0];
}

/** Runs a statement whose rows nobody reads. */
export async function run(db: Db, text: string, parameters: readonly unknown[] = []): Promise<void> {
  await db.query(text, [...parameters]);
}

/** Runs `work` in one transaction on one connection: committed when it resolves, rolled back when it rejects. */
export function transaction<T>(dataSource: DataSource, work: (db: Db) => Promise<T>): Promise<T> {
  return dataSource.transaction((manager) => work(manager));
}

/** Whether a query failed on a unique (or primary key) constraint, optionally a named one. */
export function isUniqueViolation(error: unknown, constraint?: string): boolean {
  const failure = error as { code?: unknown; constraint?: unknown };
  return failure?.code === '23505' && (constraint === undefined || failure.constraint === constraint);
}
