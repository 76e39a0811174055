import { Injectable } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { assign, clinicianLoads, endLiveAssignments, hasRoom, lockClinicianRows, moveToQueueHead, practiceTimeZone, type ClinicianLoad } from './assignment-steps.js';

export type { ClinicianLoad } from './assignment-steps.js';

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

/** A practice's manager-set limits. */
export interface PracticeLimits {
  maxQueue: number | null;
  maxNewPerDay: number | null;
  isIntakePaused: boolean;
}

/** Every query of the queue: the atomic assignment and claim, caps, availability, and the queue's state. */
@Injectable()
export class QueueRepository {
  constructor(private readonly dataSource: DataSource) {}

  /**
   * Assigns waiting conversations, oldest first, to available clinicians below their caps (fewest
   * active first, longest idle on ties), in ONE transaction. The practice's clinician rows are locked
   * first, in id order, so concurrent calls on any node serialise and nobody is ever over cap; waiting
   * conversations are locked with SKIP LOCKED so a concurrent claim is skipped, not waited for.
   */
  assignWaiting(practiceId: string, now: Date, dayStart: Date): Promise<Assignment[]> {
    return this.dataSource.transaction(async (db) => {
      const clinicians = (await clinicianLoads(db, practiceId, dayStart, true)).filter((c) => c.availability === 'available');
      const free = () => clinicians.filter(hasRoom);
      if (free().length === 0) return [];
      const room = free().reduce((sum, c) => sum + Math.min(c.maxConcurrent - c.active, c.dailyMax === null ? Infinity : c.dailyMax - c.today), 0);
      const waiting: { id: string; patient_id: string }[] = await db.query(
        `SELECT id, patient_id FROM conversations WHERE practice_id = $1 AND status = 'waiting'
          ORDER BY queued_at, id LIMIT $2 FOR UPDATE SKIP LOCKED`,
        [practiceId, Math.max(0, Math.min(room, 500))],
      );
      const made: Assignment[] = [];
      for (const conversation of waiting) {
        const clinician = free().sort(byFewestActiveThenLongestIdle)[0];
        if (!clinician) break;
        await assign(db, { practiceId, conversationId: conversation.id, clinicianId: clinician.userId, how: 'auto', now });
        clinician.active += 1;
        clinician.today += 1;
        clinician.lastAssignedAt = now;
        made.push({ practiceId, conversationId: conversation.id, clinicianId: clinician.userId, patientId: conversation.patient_id, how: 'auto' });
      }
      return made;
    });
  }

  /** A clinician takes one waiting conversation, if they are available and below their caps. Same locks, same order. */
  claim(practiceId: string, clinicianId: string, conversationId: string, now: Date, dayStart: Date): Promise<Assignment | ClaimRefusal> {
    return this.dataSource.transaction(async (db) => {
      // Clinician rows first, then the conversation: the same lock order as assignWaiting, so no deadlock.
      const clinician = (await clinicianLoads(db, practiceId, dayStart, true)).find((c) => c.userId === clinicianId);
      const [conversation]: { id: string; patient_id: string }[] = await db.query(
        `SELECT id, patient_id FROM conversations WHERE id = $1 AND practice_id = $2 AND status = 'waiting' FOR UPDATE`,
        [conversationId, practiceId],
      );
      if (!conversation) return 'not_waiting';
      if (!clinician || clinician.availability !== 'available') return 'not_available';
      if (!hasRoom(clinician)) return 'at_cap';
      await assign(db, { practiceId, conversationId: conversation.id, clinicianId, how: 'claim', now });
      return { practiceId, conversationId, clinicianId, patientId: conversation.patient_id, how: 'claim' };
    });
  }



  /**
   * Hands every conversation a clinician holds (assigned or on hold) back to the HEAD of the queue, in
   * one transaction with the routing locks: ends their assignments and places the conversations before
   * every waiting one, oldest first. Returns what was handed back.
   */
  requeueAllOf(practiceId: string, clinicianId: string, now: Date): Promise<{ conversationId: string; patientId: string }[]> {
    return this.dataSource.transaction(async (db) => {
      await lockClinicianRows(db, practiceId);
      const held: { id: string; patient_id: string }[] = await db.query(
        `SELECT id, patient_id FROM conversations WHERE assigned_clinician_id = $1 AND status IN ('assigned', 'on_hold') ORDER BY created_at, id FOR UPDATE`,
        [clinicianId],
      );
      if (held.length === 0) return [];
      await endLiveAssignments(db, held.map((c) => c.id), now);
      await moveToQueueHead(db, practiceId, held.map((c) => c.id));
      return held.map((conversation) => ({ conversationId: conversation.id, patientId: conversation.patient_id }));
    });
  }

  /** Marks when an available clinician's last socket went away (null: one is back). */
  async setDisconnectedAt(clinicianId: string, at: Date | null): Promise<void> {
    await this.dataSource.query(`UPDATE clinician_capacity SET disconnected_at = $2 WHERE user_id = $1`, [clinicianId, at]);
  }

  /** Available clinicians whose last socket went away before `before`. */
  async departedBefore(before: Date): Promise<{ userId: string; practiceId: string }[]> {
    const rows: { user_id: string; practice_id: string }[] = await this.dataSource.query(
      `SELECT user_id, practice_id FROM clinician_capacity WHERE availability = 'available' AND disconnected_at < $1`,
      [before],
    );
    return rows.map((row) => ({ userId: row.user_id, practiceId: row.practice_id }));
  }

  /** Sets a clinician's availability, creating their capacity row (default caps) on first use. */
  async setAvailability(practiceId: string, clinicianId: string, availability: ClinicianLoad['availability']): Promise<void> {
    await this.dataSource.query(
      `INSERT INTO clinician_capacity (user_id, practice_id, availability) VALUES ($1, $2, $3)
       ON CONFLICT (user_id) DO UPDATE SET availability = EXCLUDED.availability, disconnected_at = NULL, updated_at = now()`,
      [clinicianId, practiceId, availability],
    );
  }

  /** Sets a clinician's caps; false when the user is not a clinician of the practice. */
  async setClinicianCaps(practiceId: string, clinicianId: string, caps: { maxConcurrent: number; dailyMax: number | null }): Promise<boolean> {
    const rows: unknown[] = await this.dataSource.query(
      `INSERT INTO clinician_capacity (user_id, practice_id, max_concurrent, daily_max)
       SELECT id, practice_id, $3, $4 FROM users WHERE id = $1 AND practice_id = $2 AND 'clinician' = ANY(roles) AND deactivated_at IS NULL
       ON CONFLICT (user_id) DO UPDATE SET max_concurrent = EXCLUDED.max_concurrent, daily_max = EXCLUDED.daily_max, updated_at = now()
       RETURNING user_id`,
      [clinicianId, practiceId, caps.maxConcurrent, caps.dailyMax],
    );
    return rows.length > 0;
  }

  async setPracticeLimits(practiceId: string, limits: PracticeLimits): Promise<void> {
    await this.dataSource.query(
      `INSERT INTO practice_capacity (practice_id, max_queue, max_new_per_day, is_intake_paused) VALUES ($1, $2, $3, $4)
       ON CONFLICT (practice_id) DO UPDATE SET max_queue = EXCLUDED.max_queue, max_new_per_day = EXCLUDED.max_new_per_day,
         is_intake_paused = EXCLUDED.is_intake_paused, updated_at = now()`,
      [practiceId, limits.maxQueue, limits.maxNewPerDay, limits.isIntakePaused],
    );
  }

  async practiceLimits(practiceId: string): Promise<PracticeLimits> {
    const [row] = await this.dataSource.query(`SELECT max_queue, max_new_per_day, is_intake_paused FROM practice_capacity WHERE practice_id = $1`, [practiceId]);
    return { maxQueue: row?.max_queue ?? null, maxNewPerDay: row?.max_new_per_day ?? null, isIntakePaused: row?.is_intake_paused ?? false };
  }

  /** Waiting conversations in queue order, with when each started waiting. */
  async waiting(practiceId: string): Promise<{ id: string; topic: string; queuedAt: Date; createdAt: Date }[]> {
    const rows: { id: string; topic: string; queued_at: Date; created_at: Date }[] = await this.dataSource.query(
      `SELECT id, topic, queued_at, created_at FROM conversations WHERE practice_id = $1 AND status = 'waiting' ORDER BY queued_at, id`,
      [practiceId],
    );
    return rows.map((row) => ({ id: row.id, topic: row.topic, queuedAt: row.queued_at, createdAt: row.created_at }));
  }

  /** How many of the practice's conversations are waiting (every open asks, for its reply-time estimate: a count, not the rows). */
  async waitingCount(practiceId: string): Promise<number> {
    const [row]: { count: number }[] = await this.dataSource.query(
      `SELECT count(*)::int AS count FROM conversations WHERE practice_id = $1 AND status = 'waiting'`,
      [practiceId],
    );
    return row?.count ?? 0;
  }

  /** The sum of the concurrent caps of the practice's available clinicians (for the reply-time estimate). */
  async availableCapacity(practiceId: string): Promise<number> {
    const [row]: { capacity: number }[] = await this.dataSource.query(
      `SELECT coalesce(sum(max_concurrent), 0)::int AS capacity FROM clinician_capacity WHERE practice_id = $1 AND availability = 'available'`,
      [practiceId],
    );
    return row?.capacity ?? 0;
  }

  /** The practice's IANA time zone (its days bound the daily caps). */
  timeZoneOf(practiceId: string): Promise<string> {
    return practiceTimeZone(this.dataSource.manager, practiceId);
  }

  /** The waiting conversations' patients, in queue order. */
  async waitingPatients(practiceId: string): Promise<{ id: string; patientId: string }[]> {
    const rows: { id: string; patient_id: string }[] = await this.dataSource.query(
      `SELECT id, patient_id FROM conversations WHERE practice_id = $1 AND status = 'waiting' ORDER BY queued_at, id`,
      [practiceId],
    );
    return rows.map((row) => ({ id: row.id, patientId: row.patient_id }));
  }

  /** Display names of the practice's clinicians. */
  async clinicianNames(practiceId: string): Promise<Map<string, string>> {
    const rows: { id: string; display_name: string }[] = await this.dataSource.query(
      `SELECT id, display_name FROM users WHERE practice_id = $1 AND 'clinician' = ANY(roles)`,
      [practiceId],
    );
    return new Map(rows.map((row) => [row.id, row.display_name]));
  }

  /** Conversations opened at the practice since `since` (for the demand cap). */
  async openedSince(practiceId: string, since: Date): Promise<number> {
    const [row] = await this.dataSource.query(`SELECT count(*)::int AS n FROM conversations WHERE practice_id = $1 AND created_at >= $2`, [practiceId, since]);
    return row.n;
  }

  /** Every clinician's load, without the routing locks: for dashboards and estimates, never for deciding. */
  loads(practiceId: string, dayStart: Date): Promise<ClinicianLoad[]> {
    return clinicianLoads(this.dataSource.manager, practiceId, dayStart, false);
  }
}

function byFewestActiveThenLongestIdle(a: ClinicianLoad, b: ClinicianLoad): number {
  if (a.active !== b.active) return a.active - b.active;
  return (a.lastAssignedAt?.getTime() ?? 0) - (b.lastAssignedAt?.getTime() ?? 0);
}
