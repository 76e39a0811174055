import type { ConversationStatus, ConversationSummary } from '@parley/protocol';
import { isStaff, type Actor } from './actor.js';
import { DomainError } from './domain-error.js';

/**
 * A conversation row as the features that read conversations (conversations, routing, lifecycle) see it: the
 * protocol's `ConversationSummary` with its times as dates. Kept in common because `routing` may not import
 * `conversations` (which imports `routing`).
 */
export type ConversationRow = Omit<ConversationSummary, 'createdAt' | 'urgentAt'> & { createdAt: Date; urgentAt: Date | null };

/** The columns `toConversationRow` reads, from `conversations c JOIN practices p`. */
export const CONVERSATION_COLUMNS = `c.id, c.practice_id, p.ods_code, c.patient_id, c.topic, c.status, c.assigned_clinician_id, c.current_epoch, c.last_seq, c.created_at, c.urgent_at`;

/** The row `CONVERSATION_COLUMNS` selects, as PostgreSQL returns it (`last_seq` is a bigint: a string). */
export interface ConversationColumnsRow {
  id: string;
  practice_id: string;
  ods_code: string;
  patient_id: string;
  topic: string;
  status: ConversationStatus;
  assigned_clinician_id: string | null;
  current_epoch: number;
  last_seq: string;
  created_at: Date;
  urgent_at: Date | null;
}

export function toConversationRow(row: ConversationColumnsRow): ConversationRow {
  return {
    id: row.id,
    practiceId: row.practice_id,
    practiceOdsCode: row.ods_code,
    patientId: row.patient_id,
    topic: row.topic,
    status: row.status,
    assignedClinicianId: row.assigned_clinician_id,
    currentEpoch: row.current_epoch,
    lastSeq: Number(row.last_seq),
    createdAt: row.created_at,
    urgentAt: row.urgent_at,
  };
}

/** A conversation as its members see it on the wire. */
export function toConversationSummary(conversation: ConversationRow): ConversationSummary {
  return { ...conversation, createdAt: conversation.createdAt.toISOString(), urgentAt: conversation.urgentAt?.toISOString() ?? null };
}

/**
 * The conversation if the actor is a member: its patient, or staff of its practice (who may read any conversation of
 * it). The rule of `conversation:join` and `conversation:sync`, and of the attachment routes.
 * @throws DomainError `not_found`, `forbidden`
 */
export function assertMember<C extends Pick<ConversationRow, 'practiceId' | 'patientId'>>(actor: Actor, conversation: C | undefined): C {
  if (!conversation) throw new DomainError('not_found', 'No such conversation.');
  const isMember = isStaff(actor) ? conversation.practiceId === actor.practiceId : conversation.patientId === actor.userId;
  if (!isMember) throw new DomainError('forbidden', 'That conversation is not yours.');
  return conversation;
}
