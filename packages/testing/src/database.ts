import { randomBytes } from 'node:crypto';
import pg from 'pg';

/** A database made for one test file, dropped afterwards. */
export interface TestDatabase {
  url: string;
  drop(): Promise<void>;
}

/**
 * Creates a database on the server at `serverUrl` (a superuser URL) and returns its URL: empty, or a copy of `template`
 * (a database nobody is connected to, such as one migrated once for a whole test run).
 */
export async function createTestDatabase(serverUrl: string, options: { template?: string } = {}): Promise<TestDatabase> {
  const name = `parley_test_${randomBytes(6).toString('hex')}`;
  const { template } = options;
  if (template !== undefined && !/^\w+$/.test(template)) throw new Error(`not a database name: ${template}`);
  await asAdmin(serverUrl, (client) => client.query(`CREATE DATABASE ${name}${template === undefined ? '' : ` TEMPLATE ${template}`}`));
  const url = new URL(serverUrl);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    drop: () => asAdmin(serverUrl, (client) => client.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`)).then(() => undefined),
  };
}

async function asAdmin<T>(serverUrl: string, work: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: serverUrl });
  await client.connect();
  try {
    return await work(client);
  } finally {
    await client.end();
  }
}
