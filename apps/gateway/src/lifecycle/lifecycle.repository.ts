import { Injectable } from '@nestjs/common';
import { CONVERSATION_COLUMNS, toConversationRow, type ConversationColumnsRow, type ConversationRow } from '../common/conversation-row.js';
import type { CloseOutcome, ConversationStatus } from '@parley/protocol';
import { randomUUID } from 'node:crypto';
import {
  assign,
  clinicianLoads,
  endLiveAssignments,
  hasRoom,
  isReachable,
  lockClinicianRows,
  moveToQueueHead,
  practiceTimeZone,
} from '../routing/assignment-locks.js';
import { DataSource } from 'typeorm';
import { one, rows, run, transaction, type Db } from '../database/sql.js';

/** A conversation as the lifecycle commands see it. */
export type LifecycleConversation = ConversationRow;

/**
 * Who may change the conversation: `anyone` (a manager) or only its current assignee. Checked under
 * the conversation's row lock, so an assignee who changed meanwhile is seen.
 */
export type ActingAs = { kind: 'manager' } | { kind: 'assignee'; userId: string };

/** A change refused under the locks; nothing was written. */
export type LifecycleRefusal =
  /** The conversation is gone from the practice (never happens for an id the service checked, kept for safety). */
  | 'not_found'
  /** The caller is not the assignee (and not a manager). */
  | 'not_assignee'
  /** Waiting or closed: nothing to transfer, hold or (for a clinician) close. */
  | 'not_active'
  | 'closed'
  /** The target (colleague or follow-up owner) is not an active clinician of the practice. */
  | 'no_such_clinician'
  /** The colleague already has it. */
  | 'same_clinician'
  /** The colleague is not available, not connected, or at a cap. */
  | 'at_cap';

/** What a transfer, hold or close changed. */
export interface LifecycleChange {
  practiceId: string;
  conversationId: string;
  patientId: string;
  /** The assignee before the change (null when a manager closed a waiting conversation). */
  previousClinicianId: string | null;
}

/** An open or completed follow-up. */
export interface FollowUpRow {
  id: string;
  practiceId: string;
  conversationId: string;
  patientId: string;
  ownerId: string;
  dueDate: string;
  createdBy: string;
  createdAt: Date;
  doneAt: Date | null;
  doneBy: string | null;
}

const FOLLOW_UP_COLUMNS = `f.id, f.practice_id, f.conversation_id, c.patient_id, f.owner_id, to_char(f.due_date, 'YYYY-MM-DD') AS due_date, f.created_by, f.created_at, f.done_at, f.done_by`;
const OPEN_FOLLOW_UPS_LIMIT = 500;

/**
 * Every query of a conversation's life after assignment: transfer, return to the queue, hold, close
 * with an outcome, and follow-ups. Each change is ONE transaction that takes the locks in the same
 * order as RoutingRepository (the practice's clinician_capacity rows FOR UPDATE in user_id order, then
 * the conversation row), so it serialises with routing and claims on every node and never deadlocks
 * with them.
 */
@Injectable()
export class LifecycleRepository {
  constructor(private readonly dataSource: DataSource) {}

  /** The conversation (any practice), for the service's authorisation check before any lock. */
  async find(conversationId: string): Promise<LifecycleConversation | undefined> {
    const row = await one<ConversationColumnsRow>(
      this.dataSource,
      `SELECT ${CONVERSATION_COLUMNS} FROM conversations c JOIN practices p ON p.id = c.practice_id WHERE c.id = $1`,
      [conversationId],
    );
    return row ? toConversationRow(row) : undefined;
  }

  /** The practice's IANA time zone (its days bound the daily caps and follow-up due dates). */
  timeZoneOf(practiceId: string): Promise<string> {
    return practiceTimeZone(this.dataSource, practiceId);
  }

  /**
   * Hands an assigned (or held) conversation to a colleague who is an active clinician of the practice,
   * available and connected now, and below both caps, counted under the clinician locks: two concurrent transfers to the
   * same colleague with one free slot cannot both succeed. The conversation is then `assigned` (a hold
   * is the previous assignee's, not the colleague's).
   */
  transferTo(
    practiceId: string,
    conversationId: string,
    actingAs: ActingAs,
    targetId: string,
    now: Date,
    dayStart: Date,
  ): Promise<LifecycleChange | LifecycleRefusal> {
    return transaction(this.dataSource, async (db) => {
      const clinicians = await clinicianLoads(db, practiceId, dayStart);
      const conversation = await this.lockConversation(db, practiceId, conversationId);
      const refusal = refuseActive(conversation, actingAs);
      if (refusal) return refusal;
      if (!(await this.isActiveClinician(db, practiceId, targetId))) return 'no_such_clinician';
      if (conversation!.assigned_clinician_id === targetId) return 'same_clinician';
      const target = clinicians.find((load) => load.userId === targetId);
      if (!target || !isReachable(target) || !hasRoom(target)) return 'at_cap';
      await endLiveAssignments(db, [conversationId], now);
      await assign(db, { practiceId, conversationId, clinicianId: targetId, how: 'transfer', now });
      return change(conversation!);
    });
  }

  /**
   * Puts an assigned (or held) conversation back at the HEAD of the practice's queue: its queued_at
   * becomes 1 ms before the earliest waiting one (or its opening time, if that is earlier still), so
   * the patient who already waited is not sent to the back.
   */
  requeue(practiceId: string, conversationId: string, actingAs: ActingAs, now: Date): Promise<LifecycleChange | LifecycleRefusal> {
    return transaction(this.dataSource, async (db) => {
      await lockClinicianRows(db, practiceId);
      const conversation = await this.lockConversation(db, practiceId, conversationId);
      const refusal = refuseActive(conversation, actingAs);
      if (refusal) return refusal;
      await endLiveAssignments(db, [conversationId], now);
      await moveToQueueHead(db, practiceId, [conversationId]);
      return change(conversation!);
    });
  }

  /**
   * Holds or resumes the caller's own conversation; `unchanged` when it already is as asked. Held or not, it counts
   * towards its assignee's cap, so no count changes: the conversation's row lock alone (`assignment-locks.ts`).
   */
  setHold(practiceId: string, conversationId: string, assigneeId: string, isOnHold: boolean): Promise<LifecycleChange | LifecycleRefusal | 'unchanged'> {
    return transaction(this.dataSource, async (db) => {
      const conversation = await this.lockConversation(db, practiceId, conversationId);
      const refusal = refuseActive(conversation, { kind: 'assignee', userId: assigneeId });
      if (refusal) return refusal;
      const wanted = isOnHold ? 'on_hold' : 'assigned';
      if (conversation!.status === wanted) return 'unchanged';
      await run(db, `UPDATE conversations SET status = $2 WHERE id = $1`, [conversationId, wanted]);
      return change(conversation!);
    });
  }

  /**
   * Closes a conversation with its outcome, ends its live assignment (freeing the slot) and stores the
   * follow-up, if any, all or nothing. A manager may also close a waiting conversation. Under the conversation's row
   * lock alone, not the practice's clinician rows: a close only frees capacity (`assignment-locks.ts`, "Lock order").
   */
  close(
    practiceId: string,
    conversationId: string,
    actingAs: ActingAs,
    outcome: CloseOutcome,
    followUp: { dueDate: string; ownerId: string; createdBy: string } | undefined,
    now: Date,
  ): Promise<(LifecycleChange & { followUpId: string | null }) | LifecycleRefusal> {
    return transaction(this.dataSource, async (db) => {
      const conversation = await this.lockConversation(db, practiceId, conversationId);
      if (!conversation) return 'not_found';
      if (conversation.status === 'closed') return 'closed';
      if (conversation.status === 'waiting' && actingAs.kind !== 'manager') return 'not_assignee';
      if (actingAs.kind === 'assignee' && conversation.assigned_clinician_id !== actingAs.userId) return 'not_assignee';
      if (followUp && !(await this.isActiveClinician(db, practiceId, followUp.ownerId))) return 'no_such_clinician';
      await endLiveAssignments(db, [conversationId], now);
      // The assignee column must be empty unless assigned or on hold (a CHECK); who had it stays in `assignments`.
      await run(
        db,
        `UPDATE conversations SET status = 'closed', outcome = $2, closed_at = $3, assigned_clinician_id = NULL, assigned_at = NULL WHERE id = $1`,
        [conversationId, outcome, now],
      );
      let followUpId: string | null = null;
      if (followUp) {
        followUpId = randomUUID();
        await run(
          db,
          `INSERT INTO follow_ups (id, practice_id, conversation_id, owner_id, due_date, created_by, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7)`,
          [followUpId, practiceId, conversationId, followUp.ownerId, followUp.dueDate, followUp.createdBy, now],
        );
      }
      return { ...change(conversation), followUpId };
    });
  }

  /** The practice's follow-ups not done yet: `ownerFirst`'s own first, then by due date. */
  async openFollowUps(practiceId: string, ownerFirst: string): Promise<FollowUpRow[]> {
    const open = await rows<FollowUpColumns>(
      this.dataSource,
      `SELECT ${FOLLOW_UP_COLUMNS} FROM follow_ups f JOIN conversations c ON c.id = f.conversation_id
        WHERE f.practice_id = $1 AND f.done_at IS NULL
        ORDER BY (f.owner_id = $2) DESC, f.due_date, f.created_at, f.id LIMIT $3`,
      [practiceId, ownerFirst, OPEN_FOLLOW_UPS_LIMIT],
    );
    return open.map(toFollowUp);
  }

  async findFollowUp(practiceId: string, followUpId: string): Promise<FollowUpRow | undefined> {
    const row = await one<FollowUpColumns>(
      this.dataSource,
      `SELECT ${FOLLOW_UP_COLUMNS} FROM follow_ups f JOIN conversations c ON c.id = f.conversation_id WHERE f.id = $1 AND f.practice_id = $2`,
      [followUpId, practiceId],
    );
    return row ? toFollowUp(row) : undefined;
  }

  /** Marks a follow-up done, once: false when it was done already (by a concurrent call, say). */
  async completeFollowUp(followUpId: string, doneBy: string, now: Date): Promise<boolean> {
    const done = await rows<{ id: string }>(
      this.dataSource,
      `UPDATE follow_ups SET done_at = $3, done_by = $2 WHERE id = $1 AND done_at IS NULL RETURNING id`,
      [followUpId, doneBy, now],
    );
    return done.length > 0;
  }

  private lockConversation(db: Db, practiceId: string, conversationId: string): Promise<LockedConversation | undefined> {
    return one<LockedConversation>(
      db,
      `SELECT id, practice_id, patient_id, status, assigned_clinician_id FROM conversations WHERE id = $1 AND practice_id = $2 FOR NO KEY UPDATE`,
      [conversationId, practiceId],
    );
  }

  private async isActiveClinician(db: Db, practiceId: string, userId: string): Promise<boolean> {
    const found = await rows(db, `SELECT 1 FROM users WHERE id = $1 AND practice_id = $2 AND 'clinician' = ANY(roles) AND deactivated_at IS NULL`, [
      userId,
      practiceId,
    ]);
    return found.length > 0;
  }
}

/** A conversation row as the lifecycle commands lock it. */
interface LockedConversation {
  id: string;
  practice_id: string;
  patient_id: string;
  status: ConversationStatus;
  assigned_clinician_id: string | null;
}

/** Why an assigned-or-held conversation may not be changed by this caller, if it may not. */
function refuseActive(conversation: LockedConversation | undefined, actingAs: ActingAs): LifecycleRefusal | undefined {
  if (!conversation) return 'not_found';
  if (conversation.status === 'closed') return 'closed';
  if (conversation.status === 'waiting') return 'not_active';
  if (actingAs.kind === 'assignee' && conversation.assigned_clinician_id !== actingAs.userId) return 'not_assignee';
  return undefined;
}

function change(conversation: LockedConversation): LifecycleChange {
  return {
    practiceId: conversation.practice_id,
    conversationId: conversation.id,
    patientId: conversation.patient_id,
    previousClinicianId: conversation.assigned_clinician_id,
  };
}

/** A `follow_ups` row with its conversation's patient, as FOLLOW_UP_COLUMNS selects it (the due date as YYYY-MM-DD text). */
interface FollowUpColumns {
  id: string;
  practice_id: string;
  conversation_id: string;
  patient_id: string;
  owner_id: string;
  due_date: string;
  created_by: string;
  created_at: Date;
  done_at: Date | null;
  done_by: string | null;
}

function toFollowUp(row: FollowUpColumns): FollowUpRow {
  return {
    id: row.id,
    practiceId: row.practice_id,
    conversationId: row.conversation_id,
    patientId: row.patient_id,
    ownerId: row.owner_id,
    dueDate: row.due_date,
    createdBy: row.created_by,
    createdAt: row.created_at,
    doneAt: row.done_at,
    doneBy: row.done_by,
  };
}
