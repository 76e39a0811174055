import { createTestDatabase, type GatewayProcess, type TestDatabase } from '@parley/testing';
import type { DataSource } from 'typeorm';

/**
 * A fresh database for one test file on the run's PostgreSQL server (see global-setup.mjs): empty, or `migrated` (a copy
 * of the run's template, migrated once by global-setup.mjs: about 40 ms to copy against 300-500 ms to migrate).
 */
export function freshDatabase(options: { migrated?: boolean } = {}): Promise<TestDatabase> {
  const serverUrl = process.env['TEST_DATABASE_URL'];
  if (!serverUrl) throw new Error('TEST_DATABASE_URL is not set: run the tests through jest (global-setup.mjs)');
  const template = options.migrated ? process.env['TEST_TEMPLATE_DATABASE'] : undefined;
  return createTestDatabase(serverUrl, { template });
}

/** The embedded database's URL from a gateway process's start banner (`Database: embedded PostgreSQL in …, postgres://…`). */
export const bannerDatabaseUrl = (gateway: GatewayProcess): string =>
  gateway.output().match(/Database:\s+embedded PostgreSQL in \S+, (postgres:\/\/\S+)/)?.[1] ?? '';

/** How many connections to `dataSource`'s database are waiting for a lock now (pg_stat_activity), of those whose statement is `LIKE queryLike` when given. */
export const lockWaiters = async (dataSource: Pick<DataSource, 'query'>, queryLike = '%'): Promise<number> =>
  (
    await dataSource.query(
      `SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock' AND query LIKE $1`,
      [queryLike],
    )
  )[0].n;

/**
 * Another transaction holds a conversation's row while `whileHeld` runs: `NO KEY UPDATE` as the record writer and every
 * other path that changes it do (routing/assignment-locks.ts), `KEY SHARE` as a receipt's or an envelope's foreign-key check.
 */
export const holdingConversation = (dataSource: DataSource, conversationId: string, mode: 'NO KEY UPDATE' | 'KEY SHARE', whileHeld: () => Promise<void>) =>
  dataSource.transaction(async (db) => {
    await db.query(`SELECT 1 FROM conversations WHERE id = $1 FOR ${mode}`, [conversationId]);
    await whileHeld();
  });
