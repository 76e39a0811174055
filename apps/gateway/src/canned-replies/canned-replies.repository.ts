import { Injectable } from '@nestjs/common';
import type { CannedReply } from '@parley/protocol';
import { DataSource } from 'typeorm';
import { one, rows, run, transaction } from '../database/sql.js';

/** A `canned_replies` row as COLUMNS selects it. */
interface CannedReplyRow {
  id: string;
  title: string;
  text: string;
  created_at: Date;
  updated_at: Date;
  updated_by: string;
}
const COLUMNS = `id, title, text, created_at, updated_at, updated_by`;

const toCannedReply = (row: CannedReplyRow): CannedReply => ({
  id: row.id,
  title: row.title,
  text: row.text,
  createdAt: row.created_at.toISOString(),
  updatedAt: row.updated_at.toISOString(),
  updatedBy: row.updated_by,
});

/** Every query of canned replies. */
@Injectable()
export class CannedRepliesRepository {
  constructor(private readonly dataSource: DataSource) {}

  /** The practice's canned replies, by title. */
  async list(practiceId: string): Promise<CannedReply[]> {
    const replies = await rows<CannedReplyRow>(this.dataSource, `SELECT ${COLUMNS} FROM canned_replies WHERE practice_id = $1 ORDER BY lower(title), id`, [
      practiceId,
    ]);
    return replies.map(toCannedReply);
  }

  /**
   * Adds a canned reply unless the practice already has `max`; the practice row is locked so two
   * managers adding at once cannot pass the limit together. Null when the limit is reached.
   */
  async create(input: { id: string; practiceId: string; title: string; text: string; by: string; at: Date }, max: number): Promise<CannedReply | null> {
    return transaction(this.dataSource, async (db) => {
      await run(db, `SELECT id FROM practices WHERE id = $1 FOR UPDATE`, [input.practiceId]);
      const count = await one<{ n: number }>(db, `SELECT count(*)::int AS n FROM canned_replies WHERE practice_id = $1`, [input.practiceId]);
      if ((count?.n ?? 0) >= max) return null;
      const created = await one<CannedReplyRow>(
        db,
        `INSERT INTO canned_replies (id, practice_id, title, text, created_at, updated_at, updated_by) VALUES ($1, $2, $3, $4, $5, $5, $6) RETURNING ${COLUMNS}`,
        [input.id, input.practiceId, input.title, input.text, input.at, input.by],
      );
      return toCannedReply(created!);
    });
  }

  /** Rewrites a canned reply of the practice; null when it has no such reply. */
  async update(input: { id: string; practiceId: string; title: string; text: string; by: string; at: Date }): Promise<CannedReply | null> {
    const updated = await one<CannedReplyRow>(
      this.dataSource,
      `UPDATE canned_replies SET title = $3, text = $4, updated_at = $5, updated_by = $6 WHERE id = $1 AND practice_id = $2 RETURNING ${COLUMNS}`,
      [input.id, input.practiceId, input.title, input.text, input.at, input.by],
    );
    return updated ? toCannedReply(updated) : null;
  }

  /** Deletes a canned reply of the practice; false when it has no such reply. */
  async delete(practiceId: string, id: string): Promise<boolean> {
    const deleted = await rows<{ id: string }>(this.dataSource, `DELETE FROM canned_replies WHERE id = $1 AND practice_id = $2 RETURNING id`, [id, practiceId]);
    return deleted.length === 1;
  }
}
