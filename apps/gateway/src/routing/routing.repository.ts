import { Injectable } from '@nestjs/common';
import type { SetPracticeLimits } from '@parley/protocol';
import { DataSource } from 'typeorm';
import { uuids } from '../database/array-parameters.js';
import { one, prepared, rows, run, transaction, type Db, type OpenTransaction } from '../database/sql.js';
import { CONVERSATION_COLUMNS, toConversationRow, type ConversationColumnsRow, type ConversationRow } from '../common/conversation-row.js';
import {
  assign,
  assignMany,
  beginWithClinicianLoads,
  clinicianLoads,
  hasRoom,
  isReachable,
  practiceTimeZone,
  QUEUE_ORDER,
  type ClinicianLoad,
} from './assignment-locks.js';

/** One assignment made: which conversation went to whom. */
export interface Assignment {
  practiceId: string;
  conversationId: string;
  clinicianId: string;
  patientId: string;
  how: 'auto' | 'claim';
}

/** Why a claim did not happen. */
export type ClaimRefusal = 'not_waiting' | 'at_cap' | 'not_available';

/** A clinician of the practice as staff screens list them: every active one, signed in or not. */
export interface ClinicianRow {
  userId: string;
  displayName: string;
  availability: ClinicianLoad['availability'];
  isConnected: boolean;
  maxConcurrent: number;
  dailyMax: number | null;
  active: number;
  today: number;
}

/** A clinician's `users` row with their capacity (the defaults without one) and counts, as `clinicians` selects it. */
interface ClinicianStateRow {
  id: string;
  display_name: string;
  availability: ClinicianLoad['availability'];
  is_connected: boolean;
  max_concurrent: number;
  daily_max: number | null;
  active: number;
  today: number;
}

/** A waiting conversation as routing takes it. */
interface WaitingRow {
  id: string;
  patient_id: string;
}

/** The concurrent cap of a clinician who has no capacity row yet (the column default of clinician_capacity). */
const DEFAULT_MAX_CONCURRENT = 3;

/**
 * A routing pass's waiting conversations, locked, in queue order; prepared: every pass runs it (sql.ts, `Prepared`). Only a
 * conversation whose first entries are committed (last_seq > 0): otherwise a pass started by another open could write
 * `assigned` ahead of `opened` in its record. Its own open routes it once they are.
 * FOR NO KEY UPDATE (what the assignment's UPDATE takes: it changes no key): a row another transaction holds only for a
 * foreign-key check (a receipt, an envelope being stored: FOR KEY SHARE) is taken, not skipped. One the record writer or
 * another pass holds is skipped, and routed by another pass soon after (`RoutingPass.isRoomLeft`).
 */
const TAKE_WAITING = prepared(
  'routing.take-waiting',
  `SELECT id, patient_id FROM conversations WHERE practice_id = $1 AND status = 'waiting' AND last_seq > 0
    ORDER BY ${QUEUE_ORDER} LIMIT $2 FOR NO KEY UPDATE SKIP LOCKED`,
);

/** Whether a conversation of the practice waits that a pass could take (TAKE_WAITING's rows, locked or not); prepared. */
const ROUTABLE_WAITING = prepared(
  'routing.routable-waiting',
  `SELECT EXISTS (SELECT 1 FROM conversations WHERE practice_id = $1 AND status = 'waiting' AND last_seq > 0) AS found`,
);

/**
 * How long an open's group waits for the routing locks (`assignOnOpen`): a pass holds them for a few round trips, so a
 * longer wait means something is stuck, and the opens are better stored one by one (routed by a pass) than held.
 */
const OPEN_ROUTING_LOCK_WAIT_MS = 2_000;

/** How many conversations of the practice wait, besides the ones given (a group being opened: `assignOnOpen`); prepared. */
const OTHERS_WAITING = prepared(
  'routing.others-waiting',
  `SELECT count(*)::int AS n FROM conversations WHERE practice_id = $1 AND status = 'waiting' AND NOT (id = ANY($2::uuid[]))`,
);

/** A routing pass's outcome. */
export interface RoutingPass {
  made: Assignment[];
  /**
   * The pass took fewer waiting conversations than its clinicians had room for: none was left, or it skipped one whose
   * row another transaction held (the record writer appending to it, another node's pass). `isRoutableWaiting` tells
   * which; in the second case nothing else may come to route it.
   */
  isRoomLeft: boolean;
}

/** Every query of the queue: the atomic assignment and claim, and the queue's state (waiting, urgent, clinicians' loads, limits). */
@Injectable()
export class RoutingRepository {
  constructor(private readonly dataSource: DataSource) {}

  /**
   * Assigns waiting conversations, in queue order (urgent first), to clinicians available and connected now and below
   * their caps (fewest active first, longest idle on ties), in ONE transaction. The practice's clinician rows are locked
   * first, in id order, so concurrent calls on any node serialise and nobody is ever over cap; waiting conversations are
   * locked with SKIP LOCKED so a concurrent claim is skipped, not waited for (`isRoomLeft`). The assignments are written
   * in one statement (`assignMany`); `inTransaction` writes what must commit with them (their audit rows; it is called
   * with none too).
   * With `dayStart` given as a Date, a pass is four round trips: BEGIN with the locks and counts, the waiting, the
   * assignments with `inTransaction`'s writes (sent together), COMMIT.
   */
  async assignWaiting(
    practiceId: string,
    now: Date,
    dayStart: Date | ((timeZone: string) => Date),
    inTransaction?: (db: Db, made: readonly Assignment[]) => Promise<void>,
  ): Promise<RoutingPass> {
    if (dayStart instanceof Date) {
      // The day's start known: BEGIN, the locks and the counts in one round trip (`beginWithClinicianLoads`).
      const { transaction: open, clinicians } = await beginWithClinicianLoads(this.dataSource, practiceId, dayStart);
      return this.finishPass(open, practiceId, now, clinicians, inTransaction);
    }
    return transaction(this.dataSource, async (db) => {
      // Given as a function of the practice's time zone, it is read here, on the transaction's connection: a pass under a
      // burst then makes no query that the pool's waiting queue could refuse (DB_QUEUE_MAX) before its transaction.
      const clinicians = await clinicianLoads(db, practiceId, dayStart(await practiceTimeZone(db, practiceId)));
      return this.assignInPass(db, practiceId, now, clinicians, (room) => this.takeWaiting(db, practiceId, room), inTransaction);
    });
  }

  /** Whether a conversation of the practice waits that a routing pass could take (ROUTABLE_WAITING): no lock taken or waited for. */
  async isRoutableWaiting(practiceId: string): Promise<boolean> {
    return (await one<{ found: boolean }>(this.dataSource, ROUTABLE_WAITING, [practiceId]))!.found;
  }

  /** Ends a pass begun by `beginWithClinicianLoads`: committed when the assignments are written, else rolled back. */
  private async finishPass(
    open: OpenTransaction,
    practiceId: string,
    now: Date,
    clinicians: ClinicianLoad[],
    inTransaction?: (db: Db, made: readonly Assignment[]) => Promise<void>,
  ): Promise<RoutingPass> {
    try {
      const pass = await this.assignInPass(open.db, practiceId, now, clinicians, (room) => this.takeWaiting(open.db, practiceId, room), inTransaction);
      await open.commit();
      return pass;
    } catch (error) {
      await open.rollback();
      throw error;
    }
  }

  /**
   * Routes a group of conversations being opened, inside the transaction that opens them (its caller's `db`), so a
   * patient who arrives while a clinician has room is assigned with the open's own COMMIT instead of by a routing pass
   * after it (docs/architecture.md, "Routing at the open"). Only when nothing else of the practice waits: the routing
   * locks are taken (after the patients' rows and the new conversations, which no other transaction can see or wait for:
   * assignment-locks.ts), and if any other conversation of the practice is waiting, none is assigned here and the pass
   * after the open assigns in queue order. Otherwise `conversations` (the group's, in their queue order) go to
   * clinicians as a pass would give them, and the pass assigns those left over. Three statements are sent at once behind
   * whatever the caller sent before (the locks, the counts, the others waiting); then the assignments and
   * `inTransaction`'s writes, which it is given always, with the assignments made (maybe none). The locks are waited for
   * at most OPEN_ROUTING_LOCK_WAIT_MS, and so is any lock for the rest of the transaction: beyond it PostgreSQL refuses
   * the statement (`lock_not_available`), the whole transaction is lost, and the caller stores the opens one by one.
   */
  async assignOnOpen(
    db: Db,
    practiceId: string,
    conversations: readonly { id: string; patientId: string }[],
    now: Date,
    dayStart: Date,
    inTransaction: (db: Db, made: readonly Assignment[]) => Promise<void>,
  ): Promise<Assignment[]> {
    const timeout = run(db, `SET LOCAL lock_timeout = ${OPEN_ROUTING_LOCK_WAIT_MS}`);
    const counted = clinicianLoads(db, practiceId, dayStart);
    const othersWaiting = one<{ n: number }>(db, OTHERS_WAITING, [practiceId, uuids(conversations.map((conversation) => conversation.id))]);
    // All answered first, then read in the order sent: a refusal is the statement that failed (a lock not granted in
    // time), not one of the statements behind it that the aborted transaction then refused (25P02) and that settled first.
    await Promise.allSettled([timeout, counted, othersWaiting]);
    await timeout;
    const loads = await counted;
    const isAnotherWaiting = (await othersWaiting)!.n > 0;
    const given = conversations.map((conversation) => ({ id: conversation.id, patient_id: conversation.patientId }));
    return (await this.assignInPass(db, practiceId, now, loads, async (room) => (isAnotherWaiting ? [] : given.slice(0, room)), inTransaction)).made;
  }

  /**
   * A pass's assignments, given the clinicians' loads read under the routing locks (in `db`'s transaction): `take` gives
   * the waiting conversations, in queue order, for the room the reachable clinicians have. `inTransaction` is called
   * once, with the assignments made (maybe none). `isRoomLeft`: `take` gave fewer than that room.
   */
  private async assignInPass(
    db: Db,
    practiceId: string,
    now: Date,
    loads: ClinicianLoad[],
    take: (room: number) => Promise<WaitingRow[]>,
    inTransaction?: (db: Db, made: readonly Assignment[]) => Promise<void>,
  ): Promise<RoutingPass> {
    const clinicians = loads.filter(isReachable);
    const free = () => clinicians.filter(hasRoom);
    const room = Math.min(
      free().reduce((sum, c) => sum + Math.min(c.maxConcurrent - c.active, c.dailyMax === null ? Infinity : c.dailyMax - c.today), 0),
      500,
    );
    const waiting = room > 0 ? await take(room) : [];
    const made: Assignment[] = [];
    for (const conversation of waiting) {
      const clinician = free().sort(byFewestActiveThenLongestIdle)[0];
      if (!clinician) break;
      clinician.active += 1;
      clinician.today += 1;
      clinician.lastAssignedAt = now;
      made.push({ practiceId, conversationId: conversation.id, clinicianId: clinician.userId, patientId: conversation.patient_id, how: 'auto' });
    }
    // Chosen in memory above, written in one statement: the locks are held for a few round trips, not three per conversation.
    // The assignments and what must commit with them go to PostgreSQL together (the pool pipelines: database/data-source.ts).
    await Promise.all([assignMany(db, { practiceId, how: 'auto', now, assignments: made }), inTransaction?.(db, made)]);
    return { made, isRoomLeft: waiting.length < room };
  }

  /** A pass's waiting conversations, locked, in queue order: at most `room` (TAKE_WAITING). */
  private takeWaiting(db: Db, practiceId: string, room: number): Promise<WaitingRow[]> {
    return rows<WaitingRow>(db, TAKE_WAITING, [practiceId, room]);
  }

  /** A clinician takes one waiting conversation, if they are available and below their caps. Same locks, same order. */
  claim(practiceId: string, clinicianId: string, conversationId: string, now: Date, dayStart: Date): Promise<Assignment | ClaimRefusal> {
    return transaction(this.dataSource, async (db) => {
      // Clinician rows first, then the conversation: the same lock order as assignWaiting, so no deadlock.
      const clinician = (await clinicianLoads(db, practiceId, dayStart)).find((c) => c.userId === clinicianId);
      const conversation = await one<WaitingRow>(
        db,
        `SELECT id, patient_id FROM conversations WHERE id = $1 AND practice_id = $2 AND status = 'waiting' FOR NO KEY UPDATE`,
        [conversationId, practiceId],
      );
      if (!conversation) return 'not_waiting';
      if (!clinician || clinician.availability !== 'available') return 'not_available';
      if (!hasRoom(clinician)) return 'at_cap';
      await assign(db, { practiceId, conversationId: conversation.id, clinicianId, how: 'claim', now });
      return { practiceId, conversationId, clinicianId, patientId: conversation.patient_id, how: 'claim' };
    });
  }

  async practiceLimits(practiceId: string): Promise<SetPracticeLimits> {
    const row = await one<{ max_queue: number | null; max_new_per_day: number | null; is_intake_paused: boolean }>(
      this.dataSource,
      `SELECT max_queue, max_new_per_day, is_intake_paused FROM practice_capacity WHERE practice_id = $1`,
      [practiceId],
    );
    return { maxQueue: row?.max_queue ?? null, maxNewPerDay: row?.max_new_per_day ?? null, isIntakePaused: row?.is_intake_paused ?? false };
  }

  /** Waiting conversations in queue order (urgent first), with when each started waiting. */
  async waiting(practiceId: string): Promise<{ id: string; topic: string; queuedAt: Date; createdAt: Date; urgentAt: Date | null }[]> {
    const waiting = await rows<{ id: string; topic: string; queued_at: Date; created_at: Date; urgent_at: Date | null }>(
      this.dataSource,
      `SELECT id, topic, queued_at, created_at, urgent_at FROM conversations WHERE practice_id = $1 AND status = 'waiting' ORDER BY ${QUEUE_ORDER}`,
      [practiceId],
    );
    return waiting.map((row) => ({ id: row.id, topic: row.topic, queuedAt: row.queued_at, createdAt: row.created_at, urgentAt: row.urgent_at }));
  }

  /**
   * Marks a patient's own conversation urgent, once: the first mark's time stays. Null when it is not
   * theirs or is closed.
   */
  async markUrgent(patientId: string, conversationId: string, at: Date): Promise<{ conversation: ConversationRow; isNew: boolean } | null> {
    return transaction(this.dataSource, async (db) => {
      const row = await one<ConversationColumnsRow>(
        db,
        `SELECT ${CONVERSATION_COLUMNS} FROM conversations c JOIN practices p ON p.id = c.practice_id
          WHERE c.id = $1 AND c.patient_id = $2 AND c.status <> 'closed' FOR NO KEY UPDATE OF c`,
        [conversationId, patientId],
      );
      if (!row) return null;
      const conversation = toConversationRow(row);
      if (conversation.urgentAt) return { conversation, isNew: false };
      await run(db, `UPDATE conversations SET urgent_at = $2 WHERE id = $1`, [conversationId, at]);
      return { conversation: { ...conversation, urgentAt: at }, isNew: true };
    });
  }

  /**
   * The median minutes from a conversation's first assignment to its close, over the practice's most
   * recent closed conversations since `since` (at most `limit`), with how many it was taken from.
   */
  async handlingMinutes(practiceId: string, since: Date, limit: number): Promise<{ median: number | null; samples: number }> {
    const row = await one<{ median: number | null; samples: number }>(
      this.dataSource,
      `SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY minutes) AS median, count(*)::int AS samples FROM (
         SELECT extract(epoch FROM c.closed_at - min(a.assigned_at)) / 60 AS minutes
           FROM conversations c JOIN assignments a ON a.conversation_id = c.id
          WHERE c.practice_id = $1 AND c.status = 'closed' AND c.closed_at >= $2
          GROUP BY c.id, c.closed_at ORDER BY c.closed_at DESC LIMIT $3) recent`,
      [practiceId, since, limit],
    );
    return { median: row?.median === null || row?.median === undefined ? null : Number(row.median), samples: row?.samples ?? 0 };
  }

  /** How many of the practice's conversations are waiting (every open asks, for its reply-time estimate: a count, not the rows). */
  async waitingCount(practiceId: string): Promise<number> {
    const row = await one<{ count: number }>(
      this.dataSource,
      `SELECT count(*)::int AS count FROM conversations WHERE practice_id = $1 AND status = 'waiting'`,
      [practiceId],
    );
    return row?.count ?? 0;
  }

  /** The practice's IANA time zone (its days bound the daily caps). */
  timeZoneOf(practiceId: string): Promise<string> {
    return practiceTimeZone(this.dataSource, practiceId);
  }

  /** The waiting conversations' patients, in queue order. */
  async waitingPatients(practiceId: string): Promise<{ id: string; patientId: string }[]> {
    const waiting = await rows<WaitingRow>(
      this.dataSource,
      `SELECT id, patient_id FROM conversations WHERE practice_id = $1 AND status = 'waiting' ORDER BY ${QUEUE_ORDER}`,
      [practiceId],
    );
    return waiting.map((row) => ({ id: row.id, patientId: row.patient_id }));
  }

  /**
   * Every active (not offboarded) clinician of the practice by display name, with their state and load;
   * one who never signed in or had caps set is offline with the default caps.
   */
  async clinicians(practiceId: string, dayStart: Date): Promise<ClinicianRow[]> {
    const clinicians = await rows<ClinicianStateRow>(
      this.dataSource,
      `SELECT u.id, u.display_name, coalesce(cc.availability, 'offline') AS availability, cc.connected_at IS NOT NULL AS is_connected,
              coalesce(cc.max_concurrent, $3) AS max_concurrent, cc.daily_max,
              (SELECT count(*) FROM conversations c WHERE c.assigned_clinician_id = u.id AND c.status IN ('assigned', 'on_hold'))::int AS active,
              (SELECT count(*) FROM assignments a WHERE a.clinician_id = u.id AND a.assigned_at >= $2)::int AS today
         FROM users u LEFT JOIN clinician_capacity cc ON cc.user_id = u.id
        WHERE u.practice_id = $1 AND 'clinician' = ANY(u.roles) AND u.deactivated_at IS NULL
        ORDER BY u.display_name, u.id`,
      [practiceId, dayStart, DEFAULT_MAX_CONCURRENT],
    );
    return clinicians.map((row) => ({
      userId: row.id,
      displayName: row.display_name,
      availability: row.availability,
      isConnected: row.is_connected,
      maxConcurrent: row.max_concurrent,
      dailyMax: row.daily_max,
      active: row.active,
      today: row.today,
    }));
  }

  /** Conversations opened at the practice since `since` (for the demand cap). */
  async openedSince(practiceId: string, since: Date): Promise<number> {
    const row = await one<{ n: number }>(this.dataSource, `SELECT count(*)::int AS n FROM conversations WHERE practice_id = $1 AND created_at >= $2`, [
      practiceId,
      since,
    ]);
    return row!.n;
  }
}

function byFewestActiveThenLongestIdle(a: ClinicianLoad, b: ClinicianLoad): number {
  if (a.active !== b.active) return a.active - b.active;
  return (a.lastAssignedAt?.getTime() ?? 0) - (b.lastAssignedAt?.getTime() ?? 0);
}
