import { Injectable } from '@nestjs/common';
import type { CannedReply } from '@parley/protocol';
import { DataSource } from 'typeorm';
import { returnedRows } from '../common/sql.js';

const COLUMNS = `id, title, text, created_at, updated_at, updated_by`;

/** Every query of canned replies. */
@Injectable()
export class CannedRepliesRepository {
  constructor(private readonly dataSource: DataSource) {}

  /** The practice's canned replies, by title. */
  async list(practiceId: string): Promise<CannedReply[]> {
    const rows: Record<string, unknown>[] = await this.dataSource.query(`SELECT ${COLUMNS} FROM canned_replies WHERE practice_id = $1 ORDER BY lower(title), id`, [practiceId]);
    return rows.map(toCannedReply);
  }

  /**
   * Adds a canned reply unless the practice already has `max`; the practice row is locked so two
   * managers adding at once cannot pass the limit together. Null when the limit is reached.
   */
  async create(input: { id: string; practiceId: string; title: string; text: string; by: string; at: Date }, max: number): Promise<CannedReply | null> {
    return this.dataSource.transaction(async (db) => {
      await db.query(`SELECT id FROM practices WHERE id = $1 FOR UPDATE`, [input.practiceId]);
      const [count] = (await db.query(`SELECT count(*)::int AS n FROM canned_replies WHERE practice_id = $1`, [input.practiceId])) as { n: number }[];
      if ((count?.n ?? 0) >= max) return null;
      const rows: Record<string, unknown>[] = await db.query(
        `INSERT INTO canned_replies (id, practice_id, title, text, created_at, updated_at, updated_by) VALUES ($1, $2, $3, $4, $5, $5, $6) RETURNING ${COLUMNS}`,
        [input.id, input.practiceId, input.title, input.text, input.at, input.by],
      );
      return toCannedReply(rows[0]!);
    });
  }

  /** Rewrites a canned reply of the practice; null when it has no such reply. */
  async update(input: { id: string; practiceId: string; title: string; text: string; by: string; at: Date }): Promise<CannedReply | null> {
    const rows = returnedRows<Record<string, unknown>>(
      await this.dataSource.query(
        `UPDATE canned_replies SET title = $3, text = $4, updated_at = $5, updated_by = $6 WHERE id = $1 AND practice_id = $2 RETURNING ${COLUMNS}`,
        [input.id, input.practiceId, input.title, input.text, input.at, input.by],
      ),
    );
    return rows[0] ? toCannedReply(rows[0]) : null;
  }

  /** Deletes a canned reply of the practice; false when it has no such reply. */
  async delete(practiceId: string, id: string): Promise<boolean> {
    const rows = returnedRows(await this.dataSource.query(`DELETE FROM canned_replies WHERE id = $1 AND practice_id = $2 RETURNING id`, [id, practiceId]));
    return rows.length === 1;
  }
}

function toCannedReply(row: Record<string, unknown>): CannedReply {
  return {
    id: row['id'] as string,
    title: row['title'] as string,
    text: row['text'] as string,
    createdAt: (row['created_at'] as Date).toISOString(),
    updatedAt: (row['updated_at'] as Date).toISOString(),
    updatedBy: row['updated_by'] as string,
  };
}
