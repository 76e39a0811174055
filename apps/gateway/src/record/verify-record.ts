import 'reflect-metadata';
import { loadConfig } from '../config.js';
import { openDatabase } from '../database/data-source.js';
import { RecordRepository } from './record.repository.js';
import { RecordService } from './record.service.js';

/**
 * `pnpm --filter @parley/gateway record:verify`: recomputes every conversation's hash chain and
 * names each break. Exit code 0 when the record is intact, 2 when it is not, 1 on error.
 */
async function verify(): Promise<void> {
  const config = loadConfig();
  const url = process.env['RECORD_DATABASE_URL'] ?? config.databaseUrl;
  if (!url) throw new Error('set DATABASE_URL (or RECORD_DATABASE_URL) to the database to verify');
  const dataSource = await openDatabase(url);
  try {
    const service = new RecordService(new RecordRepository(dataSource));
    let total = 0;
    const breaks = await service.verifyAll((checked) => (total = checked));
    for (const problem of breaks) process.stdout.write(`BROKEN conversation ${problem.conversationId} at seq ${problem.seq}: ${problem.reason}\n`);
    process.stdout.write(`${total} conversations checked, ${breaks.length} broken\n`);
    if (breaks.length > 0) process.exitCode = 2;
  } finally {
    await dataSource.destroy();
  }
}

verify().catch((error: unknown) => {
  process.stderr.write(`parley: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exitCode = 1;
});
