import type { ClinicianState, ConversationAssigned } from '@parley/protocol';
import { randomUUID } from 'node:crypto';
import type { DataSource } from 'typeorm';
import { begin, isUuid, one, prepared, rows, run, type Db, type OpenTransaction } from '../database/sql.js';

/**
 * The lock order and the cap rule of every assignment path, written once so they cannot drift apart:
 * routing passes and claims (`routing/`), hand-backs to the queue head (`capacity/`), transfers and
 * returns to the queue (`lifecycle/`) all run these steps inside their one transaction.
 *
 * - **Lock order**: the practice's clinician rows (`clinician_capacity`) first, in user_id order
 *   (`lockClinicianRows`, `clinicianLoads`), and only then conversation rows, several of them in id order (as
 *   the record writer locks a batch's; `SKIP LOCKED` takes never wait). Every path that assigns or
 *   returns work to the queue takes them in this order, so two such paths on any gateway nodes serialise
 *   instead of deadlocking, and no count they read under the locks can grow before the transaction ends.
 * - **Conversation rows are locked FOR NO KEY UPDATE** on every path, the record writer's and a new epoch's
 *   included: no path changes a conversation's key, and this mode, exclusive among them, leaves the foreign-key
 *   checks of rows stored beside a conversation (receipts, envelopes, uploads: FOR KEY SHARE) unblocked.
 * - **An open's group routing its own conversations** (`RoutingRepository.assignOnOpen`) holds its patients' rows and
 *   its new conversations before it takes the clinician rows: no path holding the clinician rows waits for a patient's
 *   row in a conflicting mode (their foreign-key checks take KEY SHARE), nor can it see conversations not yet
 *   committed, so this order cannot close a cycle either.
 * - **Closing and holding take the conversation's row alone** (`lifecycle/`): a close only frees capacity and a
 *   hold changes no count, so neither needs the clinician rows (with them, every close of a practice waited for
 *   every other and for each routing pass). Holding one conversation row and waiting for nothing else, they
 *   cannot deadlock with the paths above; a count read while a close commits is at worst one too high, so a
 *   pass assigns less, never more, and the close routes again once committed.
 * - **Cap rule** (`hasRoom`): a clinician takes new work only below their concurrent cap and, if they
 *   have one, their daily cap, counted under those locks; and only while reachable (`isReachable`:
 *   available and connected now). So nobody is ever over cap, whichever path assigns.
 *
 * This file is shared by those three features on purpose: it is the one piece of SQL they must agree on.
 */

/** A clinician as routing sees them, counted inside the assigning transaction. */
export interface ClinicianLoad {
  userId: string;
  practiceId: string;
  maxConcurrent: number;
  dailyMax: number | null;
  availability: ClinicianState['availability'];
  /** At least one live staff socket on some gateway node. */
  isConnected: boolean;
  active: number;
  /** Assignments since the day's start: counted only for a clinician with a daily cap (0 without one). */
  today: number;
  lastAssignedAt: Date | null;
}

/** A `clinician_capacity` row as the routing locks read it. */
export interface CapacityRow {
  user_id: string;
  practice_id: string;
  max_concurrent: number;
  daily_max: number | null;
  availability: ClinicianLoad['availability'];
  is_connected: boolean;
  last_assigned_at: Date | null;
}

/** Takes the routing locks: the practice's clinician rows, in user_id order. */
export function lockClinicianRows(db: Db, practiceId: string): Promise<CapacityRow[]> {
  return rows<CapacityRow>(
    db,
    `SELECT user_id, practice_id, max_concurrent, daily_max, availability, connected_at IS NOT NULL AS is_connected, last_assigned_at
       FROM clinician_capacity WHERE practice_id = $1 ORDER BY user_id FOR UPDATE`,
    [practiceId],
  );
}

/**
 * The active and today's counts of each clinician of a practice, as `clinicianLoads` reads them after the locks. Today's
 * assignments are counted only for a clinician with a daily cap, the one thing they are read for here: the count grows
 * with the day, and every routing pass and group open runs this (0 without a cap).
 */
const COUNTS = `SELECT cc.user_id, cc.practice_id, cc.max_concurrent, cc.daily_max, cc.availability, cc.connected_at IS NOT NULL AS is_connected,
         cc.last_assigned_at,
         (SELECT count(*) FROM conversations c WHERE c.assigned_clinician_id = cc.user_id AND c.status IN ('assigned', 'on_hold'))::int AS active,
         CASE WHEN cc.daily_max IS NULL THEN 0
              ELSE (SELECT count(*) FROM assignments a WHERE a.clinician_id = cc.user_id AND a.assigned_at >= $2)::int END AS today
    FROM clinician_capacity cc WHERE cc.practice_id = $1 ORDER BY cc.user_id`;

/** A clinician row with its counts, as COUNTS selects it. */
type CountedRow = CapacityRow & { active: number; today: number };

const toLoad = (row: CountedRow): ClinicianLoad => ({
  userId: row.user_id,
  practiceId: row.practice_id,
  maxConcurrent: row.max_concurrent,
  dailyMax: row.daily_max,
  availability: row.availability,
  isConnected: row.is_connected,
  active: row.active,
  today: row.today,
  lastAssignedAt: row.last_assigned_at,
});

/**
 * The practice's clinicians with their active and today's counts, the routing locks taken first, so the
 * counts cannot change before the transaction ends.
 */
export async function clinicianLoads(db: Db, practiceId: string, dayStart: Date): Promise<ClinicianLoad[]> {
  // Sent together (the pool pipelines: database/data-source.ts), run in this order: the counts are a statement after the
  // locks (its own snapshot), so they are the rows and counts as the transactions the locks waited for left them.
  const [, counted] = await Promise.all([lockClinicianRows(db, practiceId), rows<CountedRow>(db, COUNTS, [practiceId, dayStart])]);
  return counted.map(toLoad);
}

/**
 * `clinicianLoads` at the start of a transaction of its own, in ONE round trip: BEGIN, the routing locks and then (a
 * statement of its own, after them) the counts go together. The caller commits or rolls back the transaction.
 */
export async function beginWithClinicianLoads(
  dataSource: DataSource,
  practiceId: string,
  dayStart: Date,
): Promise<{ transaction: OpenTransaction; clinicians: ClinicianLoad[] }> {
  if (!isUuid(practiceId)) throw new Error('beginWithClinicianLoads: the practice id is not a UUID');
  const literals = COUNTS.replace('$1', `'${practiceId}'`).replace('$2', `'${dayStart.toISOString()}'::timestamptz`);
  const { transaction, rows: counted } = await begin<CountedRow>(
    dataSource,
    `SELECT 1 FROM clinician_capacity WHERE practice_id = '${practiceId}' ORDER BY user_id FOR UPDATE; ${literals}`,
  );
  return { transaction, clinicians: counted.map(toLoad) };
}

/**
 * Who may be given NEW work (routing, transfers): available and connected now. The grace period after a
 * dropped connection protects the conversations a clinician already has, never adds to them: a patient
 * must not be told a clinician is with them while nobody has the practice's screen open.
 */
export function isReachable(clinician: ClinicianLoad): boolean {
  return clinician.availability === 'available' && clinician.isConnected;
}

/** Queue order, for every query that lists or takes waiting conversations: urgent ones first (by when marked), then by waiting time. */
export const QUEUE_ORDER = 'urgent_at NULLS LAST, queued_at, id';

/** The cap rule: below the concurrent cap and, if there is one, the daily cap. */
export function hasRoom(clinician: ClinicianLoad): boolean {
  return clinician.active < clinician.maxConcurrent && (clinician.dailyMax === null || clinician.today < clinician.dailyMax);
}

/** Gives a conversation to a clinician: its status and assignee, a new live assignment, and the clinician's last-assigned time. */
export async function assign(
  db: Db,
  input: { practiceId: string; conversationId: string; clinicianId: string; how: ConversationAssigned['how']; now: Date },
): Promise<void> {
  await run(db, `UPDATE conversations SET status = 'assigned', assigned_clinician_id = $2, assigned_at = $3 WHERE id = $1`, [
    input.conversationId,
    input.clinicianId,
    input.now,
  ]);
  await run(db, `INSERT INTO assignments (id, conversation_id, clinician_id, practice_id, how, assigned_at) VALUES ($1, $2, $3, $4, $5, $6)`, [
    randomUUID(),
    input.conversationId,
    input.clinicianId,
    input.practiceId,
    input.how,
    input.now,
  ]);
  await run(db, `UPDATE clinician_capacity SET last_assigned_at = $2 WHERE user_id = $1`, [input.clinicianId, input.now]);
}

/** `assignMany`'s statement, prepared: every routing pass that assigns runs it (sql.ts, `Prepared`). */
const ASSIGN_MANY = prepared(
  'routing.assign-many',
  `WITH v AS (
     SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::uuid[]) AS v(id, conversation_id, clinician_id)
   ), conversation AS (
     UPDATE conversations c SET status = 'assigned', assigned_clinician_id = v.clinician_id, assigned_at = $6
       FROM v WHERE c.id = v.conversation_id
   ), assignment AS (
     INSERT INTO assignments (id, conversation_id, clinician_id, practice_id, how, assigned_at)
     SELECT v.id, v.conversation_id, v.clinician_id, $4, $5, $6 FROM v
   )
   UPDATE clinician_capacity SET last_assigned_at = $6 WHERE user_id IN (SELECT clinician_id FROM v)`,
);

/**
 * `assign` for many conversations at once (a routing pass): ONE statement whatever their number (three data-modifying
 * parts of one WITH, on three tables), instead of three per conversation, so a pass that assigns a burst holds the
 * routing locks for a single round trip more.
 */
export async function assignMany(
  db: Db,
  input: { practiceId: string; how: ConversationAssigned['how']; now: Date; assignments: readonly { conversationId: string; clinicianId: string }[] },
): Promise<void> {
  if (input.assignments.length === 0) return;
  const conversationIds = input.assignments.map((a) => a.conversationId);
  const clinicianIds = input.assignments.map((a) => a.clinicianId);
  await run(db, ASSIGN_MANY, [input.assignments.map(() => randomUUID()), conversationIds, clinicianIds, input.practiceId, input.how, input.now]);
}

/** Ends the live assignments of these conversations (their history stays). */
export async function endLiveAssignments(db: Db, conversationIds: readonly string[], now: Date): Promise<void> {
  await run(db, `UPDATE assignments SET ended_at = $2 WHERE conversation_id = ANY($1::uuid[]) AND ended_at IS NULL`, [conversationIds, now]);
}

/**
 * Puts conversations back at the HEAD of their practice's queue, in the order given: each one
 * millisecond apart before the earliest waiting conversation, or at its own opening time if that is
 * earlier still, so a patient who already waited is never sent to the back.
 */
export async function moveToQueueHead(db: Db, practiceId: string, conversationIds: readonly string[]): Promise<void> {
  const head = (await one<{ head: Date | null }>(db, `SELECT min(queued_at) AS head FROM conversations WHERE practice_id = $1 AND status = 'waiting'`, [
    practiceId,
  ]))!.head;
  for (const [index, conversationId] of conversationIds.entries()) {
    await run(
      db,
      `UPDATE conversations SET status = 'waiting', assigned_clinician_id = NULL, assigned_at = NULL,
              queued_at = LEAST(created_at, COALESCE($2::timestamptz - make_interval(secs => $3::double precision / 1000), created_at))
        WHERE id = $1`,
      [conversationId, head, conversationIds.length - index],
    );
  }
}

/** The practice's IANA time zone (its days bound the daily caps and follow-up due dates). */
export async function practiceTimeZone(db: Db, practiceId: string): Promise<string> {
  const row = await one<{ time_zone: string }>(db, `SELECT time_zone FROM practices WHERE id = $1`, [practiceId]);
  return row?.time_zone ?? 'Europe/London';
}
