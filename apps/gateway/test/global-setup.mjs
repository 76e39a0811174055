// Plain JavaScript on the gateway's build: jest loads global setup outside its ESM module mapping.
import { join } from 'node:path';
import { createTestDatabase } from '@parley/testing';
import { openDatabase } from '../dist/database/data-source.js';
import { EmbeddedPostgres } from '../dist/database/embedded-postgres.js';

/**
 * One PostgreSQL server for the whole run: the machine's own when TEST_DATABASE_URL is set,
 * otherwise an embedded one in a throwaway folder inside the checkout. Each test file makes its own database,
 * most of them (every `startTestApp`) as a copy of one migrated here once (TEST_TEMPLATE_DATABASE: test/database.ts).
 */
export default async function globalSetup() {
  if (!process.env.TEST_DATABASE_URL) {
    const dataDir = join(import.meta.dirname, '..', '..', '..', '.data', `test-${process.pid}`);
    const server = new EmbeddedPostgres({ dataDir, port: 0 });
    await server.start();
    globalThis.embeddedTestPostgres = server;
    process.env.TEST_DATABASE_URL = server.url;
    process.env.EMBEDDED_TEST_DATA_DIR = dataDir;
  }
  const template = await createTestDatabase(process.env.TEST_DATABASE_URL);
  globalThis.testTemplateDatabase = template;
  // Migrated, then left: PostgreSQL copies a template only while nobody is connected to it.
  await (await openDatabase(template.url)).destroy();
  process.env.TEST_TEMPLATE_DATABASE = new URL(template.url).pathname.slice(1);
}
