import { Injectable } from '@nestjs/common';
import type { SetPracticeLimits } from '@parley/protocol';
import { DataSource } from 'typeorm';
import { rows, run, transaction } from '../database/sql.js';
import { endLiveAssignments, lockClinicianRows, moveToQueueHead, type ClinicianLoad } from '../routing/assignment-locks.js';

/** Every query of capacity: availability and connection, caps and limits, and handing a clinician's work back to the queue head. */
@Injectable()
export class CapacityRepository {
  constructor(private readonly dataSource: DataSource) {}

  /**
   * Hands every conversation a clinician holds (assigned or on hold) back to the HEAD of the queue, in
   * one transaction with the routing locks: ends their assignments and places the conversations before
   * every waiting one, oldest first. Returns what was handed back.
   */
  requeueAllOf(practiceId: string, clinicianId: string, now: Date): Promise<{ conversationId: string; patientId: string }[]> {
    return transaction(this.dataSource, async (db) => {
      await lockClinicianRows(db, practiceId);
      // Locked in id order, as the record writer locks a batch's conversations: in any other order a hand-back and a
      // batch holding two of the same conversations could each wait for the other (a deadlock PostgreSQL breaks by
      // aborting one). Handed back oldest first.
      const held = await rows<{ id: string; patient_id: string }>(
        db,
        `WITH locked AS (
           SELECT id, patient_id, created_at FROM conversations
            WHERE assigned_clinician_id = $1 AND status IN ('assigned', 'on_hold') ORDER BY id FOR NO KEY UPDATE
         )
         SELECT id, patient_id FROM locked ORDER BY created_at, id`,
        [clinicianId],
      );
      if (held.length === 0) return [];
      await endLiveAssignments(
        db,
        held.map((c) => c.id),
        now,
      );
      await moveToQueueHead(
        db,
        practiceId,
        held.map((c) => c.id),
      );
      return held.map((conversation) => ({ conversationId: conversation.id, patientId: conversation.patient_id }));
    });
  }

  /** A clinician's socket connected at `at`: connected (their capacity row made with default caps on first use), no grace period running. */
  async markConnected(practiceId: string, clinicianId: string, at: Date): Promise<void> {
    await run(
      this.dataSource,
      `INSERT INTO clinician_capacity (user_id, practice_id, connected_at) VALUES ($1, $2, $3)
       ON CONFLICT (user_id) DO UPDATE SET connected_at = EXCLUDED.connected_at, disconnected_at = NULL`,
      [clinicianId, practiceId, at],
    );
  }

  /**
   * A clinician's last socket went away at `at` (the grace period starts). Only if no connection began
   * after `checkedFrom`, when the caller saw no other socket: a tab opening on another node meanwhile wins.
   * Returns whether it changed anything.
   */
  async markDisconnected(clinicianId: string, at: Date, checkedFrom: Date): Promise<boolean> {
    const changed = await rows<{ user_id: string }>(
      this.dataSource,
      `UPDATE clinician_capacity SET connected_at = NULL, disconnected_at = $2
        WHERE user_id = $1 AND connected_at IS NOT NULL AND connected_at <= $3 RETURNING user_id`,
      [clinicianId, at, checkedFrom],
    );
    return changed.length > 0;
  }

  /** Clinicians of the practices on record as connected (to check against the sockets that really are). */
  async connectedClinicians(): Promise<{ userId: string; practiceId: string }[]> {
    const connected = await rows<{ user_id: string; practice_id: string }>(
      this.dataSource,
      `SELECT user_id, practice_id FROM clinician_capacity WHERE connected_at IS NOT NULL`,
    );
    return connected.map((row) => ({ userId: row.user_id, practiceId: row.practice_id }));
  }

  /** Available clinicians whose last socket went away before `before`. */
  async departedBefore(before: Date): Promise<{ userId: string; practiceId: string }[]> {
    const departed = await rows<{ user_id: string; practice_id: string }>(
      this.dataSource,
      `SELECT user_id, practice_id FROM clinician_capacity WHERE availability = 'available' AND disconnected_at < $1`,
      [before],
    );
    return departed.map((row) => ({ userId: row.user_id, practiceId: row.practice_id }));
  }

  /** Sets a clinician's availability, creating their capacity row (default caps) on first use. */
  async setAvailability(practiceId: string, clinicianId: string, availability: ClinicianLoad['availability']): Promise<void> {
    await run(
      this.dataSource,
      `INSERT INTO clinician_capacity (user_id, practice_id, availability) VALUES ($1, $2, $3)
       ON CONFLICT (user_id) DO UPDATE SET availability = EXCLUDED.availability, disconnected_at = NULL, updated_at = now()`,
      [clinicianId, practiceId, availability],
    );
  }

  /** Sets a clinician's caps; false when the user is not a clinician of the practice. */
  async setClinicianCaps(practiceId: string, clinicianId: string, caps: { maxConcurrent: number; dailyMax: number | null }): Promise<boolean> {
    const set = await rows<{ user_id: string }>(
      this.dataSource,
      `INSERT INTO clinician_capacity (user_id, practice_id, max_concurrent, daily_max)
       SELECT id, practice_id, $3, $4 FROM users WHERE id = $1 AND practice_id = $2 AND 'clinician' = ANY(roles) AND deactivated_at IS NULL
       ON CONFLICT (user_id) DO UPDATE SET max_concurrent = EXCLUDED.max_concurrent, daily_max = EXCLUDED.daily_max, updated_at = now()
       RETURNING user_id`,
      [clinicianId, practiceId, caps.maxConcurrent, caps.dailyMax],
    );
    return set.length > 0;
  }

  async setPracticeLimits(practiceId: string, limits: SetPracticeLimits): Promise<void> {
    await run(
      this.dataSource,
      `INSERT INTO practice_capacity (practice_id, max_queue, max_new_per_day, is_intake_paused) VALUES ($1, $2, $3, $4)
       ON CONFLICT (practice_id) DO UPDATE SET max_queue = EXCLUDED.max_queue, max_new_per_day = EXCLUDED.max_new_per_day,
         is_intake_paused = EXCLUDED.is_intake_paused, updated_at = now()`,
      [practiceId, limits.maxQueue, limits.maxNewPerDay, limits.isIntakePaused],
    );
  }
}
