// Plain JavaScript on the gateway's build: jest loads global setup outside its ESM module mapping.
import { join } from 'node:path';
import { EmbeddedPostgres } from '../dist/database/embedded-postgres.js';

/**
 * One PostgreSQL server for the whole run: the machine's own when TEST_DATABASE_URL is set,
 * otherwise an embedded one in a throwaway folder inside the checkout. Each test file makes its own database.
 */
export default async function globalSetup() {
  if (process.env.TEST_DATABASE_URL) return;
  const dataDir = join(import.meta.dirname, '..', '..', '..', '.data', `test-${process.pid}`);
  const server = new EmbeddedPostgres({ dataDir, port: 0 });
  await server.start();
  globalThis.embeddedTestPostgres = server;
  process.env.TEST_DATABASE_URL = server.url;
  process.env.EMBEDDED_TEST_DATA_DIR = dataDir;
}
