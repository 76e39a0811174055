import 'reflect-metadata';
import { loadConfig } from '../config.js';
import { openDatabase } from './data-source.js';

/** `pnpm --filter @parley/gateway migration:run`: applies pending migrations to DATABASE_URL and lists what is applied. */
async function migrate(): Promise<void> {
  const config = loadConfig();
  if (!config.databaseUrl) throw new Error('DATABASE_URL is not set (the embedded database is migrated by `npm start`)');
  const dataSource = await openDatabase(config.databaseUrl);
  const applied: { name: string }[] = await dataSource.query(`SELECT name FROM migrations ORDER BY id`);
  process.stdout.write(`migrations applied:\n${applied.map((row) => `  ${row.name}`).join('\n')}\n`);
  await dataSource.destroy();
}

migrate().catch((error: unknown) => {
  process.stderr.write(`parley: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exitCode = 1;
});
