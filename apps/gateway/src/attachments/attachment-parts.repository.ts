import { Injectable } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { one, rows, run } from '../database/sql.js';
import { AttachmentStore, type PutPartOutcome } from './attachment-store.js';

/** Parts read per query when streaming an upload back: about 512 KB in memory per download, whatever the file's size. */
const PARTS_PER_READ = 8;

/** The default store: parts as rows of `attachment_chunks`, which the database keeps once a stored message claims them. */
@Injectable()
export class AttachmentPartsRepository extends AttachmentStore {
  constructor(private readonly dataSource: DataSource) {
    super();
  }

  async putPart(uploadId: string, index: number, bytes: Buffer): Promise<PutPartOutcome> {
    const inserted = await rows<{ idx: number }>(
      this.dataSource,
      `INSERT INTO attachment_chunks (upload_id, idx, bytes) VALUES ($1, $2, $3) ON CONFLICT (upload_id, idx) DO NOTHING RETURNING idx`,
      [uploadId, index, bytes],
    );
    if (inserted.length > 0) return 'stored';
    const stored = await one<{ is_same: boolean }>(this.dataSource, `SELECT bytes = $3 AS is_same FROM attachment_chunks WHERE upload_id = $1 AND idx = $2`, [
      uploadId,
      index,
      bytes,
    ]);
    return stored?.is_same ? 'same' : 'different';
  }

  async partIndexes(uploadId: string): Promise<number[]> {
    const stored = await rows<{ idx: number }>(this.dataSource, `SELECT idx FROM attachment_chunks WHERE upload_id = $1 ORDER BY idx`, [uploadId]);
    return stored.map((row) => row.idx);
  }

  async *readParts(uploadId: string, count: number): AsyncIterable<Buffer> {
    for (let from = 0; from < count; from += PARTS_PER_READ) {
      const page = await rows<{ idx: number; bytes: Buffer }>(
        this.dataSource,
        `SELECT idx, bytes FROM attachment_chunks WHERE upload_id = $1 AND idx >= $2 AND idx < $3 ORDER BY idx`,
        [uploadId, from, Math.min(from + PARTS_PER_READ, count)],
      );
      // A part missing here means the upload changed under us (it cannot, once complete): stop rather than send a hole.
      page.forEach((row, offset) => {
        if (row.idx !== from + offset) throw new Error(`attachment part ${from + offset} is missing`);
      });
      if (page.length !== Math.min(PARTS_PER_READ, count - from)) throw new Error(`attachment parts from ${from} are missing`);
      for (const row of page) yield row.bytes;
    }
  }

  async remove(uploadIds: readonly string[]): Promise<void> {
    if (uploadIds.length === 0) return;
    await run(this.dataSource, `DELETE FROM attachment_chunks WHERE upload_id = ANY($1::uuid[])`, [uploadIds]);
  }
}
