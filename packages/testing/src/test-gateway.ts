import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createTestDatabase } from './database.js';
import { startGatewayProcess, type GatewayProcess } from './gateway-process.js';

/** A gateway process for one test file, with its own data; `close()` removes everything it made. */
export interface TestGateway extends GatewayProcess {
  close(): Promise<void>;
}

/**
 * Starts the built gateway with the demo practice: on a fresh database of TEST_DATABASE_URL's server
 * when that is set, otherwise on its own embedded PostgreSQL in a throwaway folder (the `npm start` path); `env` is
 * added to its environment (e.g. PATIENT_DIST, to serve a copy of the patient app's build).
 */
export async function startTestGateway(entry: string, env: Record<string, string> = {}): Promise<TestGateway> {
  const serverUrl = process.env['TEST_DATABASE_URL'];
  if (serverUrl) {
    const database = await createTestDatabase(serverUrl);
    const gateway = await startGatewayProcess({ entry, env: { DATABASE_URL: database.url, DEMO_SEED: 'true', ...env } });
    return { ...gateway, close: async () => void (await gateway.stop(), await database.drop()) };
  }
  const dataDir = await mkdtemp(join(tmpdir(), 'parley-gateway-'));
  const gateway = await startGatewayProcess({ entry, env: { DATA_DIR: dataDir, ...env } });
  return { ...gateway, close: async () => void (await gateway.stop(), await rm(dataDir, { recursive: true, force: true })) };
}
