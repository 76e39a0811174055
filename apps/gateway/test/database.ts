import { createTestDatabase, type GatewayProcess, type TestDatabase } from '@parley/testing';

/** A fresh, empty database for one test file on the run's PostgreSQL server (see global-setup.ts). */
export function freshDatabase(): Promise<TestDatabase> {
  const serverUrl = process.env['TEST_DATABASE_URL'];
  if (!serverUrl) throw new Error('TEST_DATABASE_URL is not set: run the tests through jest (global-setup.ts)');
  return createTestDatabase(serverUrl);
}

/** The embedded database's URL from a gateway process's start banner (`Database: embedded PostgreSQL in …, postgres://…`). */
export const bannerDatabaseUrl = (gateway: GatewayProcess): string =>
  gateway.output().match(/Database:\s+embedded PostgreSQL in \S+, (postgres:\/\/\S+)/)?.[1] ?? '';
