import { rm } from 'node:fs/promises';

export default async function globalTeardown() {
  // The template on the machine's server (TEST_DATABASE_URL given); an embedded server goes with its folder.
  if (!globalThis.embeddedTestPostgres) await globalThis.testTemplateDatabase?.drop();
  await globalThis.embeddedTestPostgres?.stop();
  if (process.env.EMBEDDED_TEST_DATA_DIR) await rm(process.env.EMBEDDED_TEST_DATA_DIR, { recursive: true, force: true });
}
