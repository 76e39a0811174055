import { rm } from 'node:fs/promises';

export default async function globalTeardown() {
  await globalThis.embeddedTestPostgres?.stop();
  if (process.env.EMBEDDED_TEST_DATA_DIR) await rm(process.env.EMBEDDED_TEST_DATA_DIR, { recursive: true, force: true });
}
