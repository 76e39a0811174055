import { createTestDatabase, type TestDatabase } from '@parley/testing';

/** A fresh, empty database for one test file on the run's PostgreSQL server (see global-setup.ts). */
export function freshDatabase(): Promise<TestDatabase> {
  const serverUrl = process.env['TEST_DATABASE_URL'];
  if (!serverUrl) throw new Error('TEST_DATABASE_URL is not set: run the tests through jest (global-setup.ts)');
  return createTestDatabase(serverUrl);
}
