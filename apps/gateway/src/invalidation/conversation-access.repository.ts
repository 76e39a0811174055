import { Injectable } from '@nestjs/common';
import type { ConversationStatus } from '@parley/protocol';
import { DataSource } from 'typeorm';
import { one, prepared } from '../database/sql.js';
import type { ConversationAccess } from './conversation-access.cache.js';

/** The columns of a conversation that decide who may use it. */
interface ConversationAccessRow {
  id: string;
  practice_id: string;
  patient_id: string;
  assigned_clinician_id: string | null;
  status: ConversationStatus;
}

/** `findAccess`'s statement, prepared: every conversation a node's cache does not hold yet is read with it (sql.ts, `Prepared`). */
const FIND_ACCESS = prepared(
  'invalidation.conversation-access',
  `SELECT id, practice_id, patient_id, assigned_clinician_id, status FROM conversations WHERE id = $1`,
);

/** The one query of ConversationAccessCache: a conversation's access columns by primary key. */
@Injectable()
export class ConversationAccessRepository {
  constructor(private readonly dataSource: DataSource) {}

  async findAccess(conversationId: string): Promise<ConversationAccess | undefined> {
    const row = await one<ConversationAccessRow>(this.dataSource, FIND_ACCESS, [conversationId]);
    return row && { id: row.id, practiceId: row.practice_id, patientId: row.patient_id, assignedClinicianId: row.assigned_clinician_id, status: row.status };
  }
}
