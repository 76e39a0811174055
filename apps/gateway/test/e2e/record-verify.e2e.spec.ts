import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import type { TestDatabase } from '@parley/testing';
import type { DataSource } from 'typeorm';
import { openDatabase } from '../../src/database/data-source.js';
import { RecordRepository } from '../../src/record/record.repository.js';
import { RecordService } from '../../src/record/record.service.js';
import { freshDatabase } from '../database.js';
import { aConversation } from '../factories.records.js';

const VERIFY = join(import.meta.dirname, '..', '..', 'dist', 'record', 'verify-record.js');

function verify(databaseUrl: string): Promise<{ code: number | null; stdout: string }> {
  const child = spawn(process.execPath, [VERIFY], { env: { ...process.env, DATABASE_URL: databaseUrl } });
  let stdout = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
  return new Promise((resolve) => child.once('exit', (code) => resolve({ code, stdout })));
}

describe('record:verify (the built command)', () => {
  let database: TestDatabase;
  let dataSource: DataSource;

  beforeAll(async () => {
    database = await freshDatabase();
    dataSource = await openDatabase(database.url);
    const record = new RecordService(new RecordRepository(dataSource));
    for (let n = 0; n < 2; n += 1) {
      const { conversationId, patientId, deviceId } = await aConversation(dataSource);
      for (let seq = 1; seq <= 3; seq += 1) {
        await record.append({
          conversationId,
          message: {
            epoch: 1,
            senderUserId: patientId,
            senderDeviceId: deviceId,
            senderRole: 'patient',
            senderDeviceSeq: seq,
            clientMessageId: randomUUID(),
            contentType: 'text',
            ciphertext: Buffer.alloc(32, seq),
            nonce: Buffer.alloc(24, seq),
          },
        });
      }
    }
  });

  afterAll(async () => {
    await dataSource.destroy();
    await database.drop();
  });

  it('passes an intact record with exit code 0', async () => {
    const result = await verify(database.url);

    expect(result).toEqual({ code: 0, stdout: '2 conversations checked, 0 broken\n' });
  });

  it('names the conversation and entry of an edit made behind the triggers, with exit code 2', async () => {
    const [row] = await dataSource.query(`SELECT conversation_id FROM record_entries WHERE seq = 2 LIMIT 1`);
    await dataSource.transaction(async (db) => {
      await db.query(`ALTER TABLE record_entries DISABLE TRIGGER record_entries_no_update_delete`);
      await db.query(`UPDATE record_entries SET nonce = $2 WHERE conversation_id = $1 AND seq = 2`, [row.conversation_id, Buffer.alloc(24, 9)]);
      await db.query(`ALTER TABLE record_entries ENABLE TRIGGER record_entries_no_update_delete`);
    });

    const result = await verify(database.url);

    expect(result).toEqual({ code: 2, stdout: `BROKEN conversation ${row.conversation_id} at seq 2: hash_mismatch\n2 conversations checked, 1 broken\n` });
  });
});
