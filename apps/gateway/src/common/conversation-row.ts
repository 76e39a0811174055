import type { ConversationStatus, ConversationSummary } from '@parley/protocol';

/**
 * A conversation row as the features that read conversations (conversations, routing, lifecycle) see it: the
 * protocol's `ConversationSummary` with its times as dates. Kept in common because `routing` may not import
 * `conversations` (which imports `routing`).
 */
export type ConversationRow = Omit<ConversationSummary, 'createdAt' | 'urgentAt'> & { createdAt: Date; urgentAt: Date | null };

/** The columns `toConversationRow` reads, from `conversations c JOIN practices p`. */
export const CONVERSATION_COLUMNS = `c.id, c.practice_id, p.ods_code, c.patient_id, c.topic, c.status, c.assigned_clinician_id, c.current_epoch, c.last_seq, c.created_at, c.urgent_at`;

export function toConversationRow(row: Record<string, unknown>): ConversationRow {
  return {
    id: row['id'] as string,
    practiceId: row['practice_id'] as string,
    practiceOdsCode: row['ods_code'] as string,
    patientId: row['patient_id'] as string,
    topic: row['topic'] as string,
    status: row['status'] as ConversationStatus,
    assignedClinicianId: (row['assigned_clinician_id'] as string | null) ?? null,
    currentEpoch: row['current_epoch'] as number,
    lastSeq: Number(row['last_seq']),
    createdAt: row['created_at'] as Date,
    urgentAt: (row['urgent_at'] as Date | null) ?? null,
  };
}

/** A conversation as its members see it on the wire. */
export function toConversationSummary(conversation: ConversationRow): ConversationSummary {
  return { ...conversation, createdAt: conversation.createdAt.toISOString(), urgentAt: conversation.urgentAt?.toISOString() ?? null };
}
