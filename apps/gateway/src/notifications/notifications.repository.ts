import { Injectable } from '@nestjs/common';
import { DEFAULT_NOTIFICATION_SETTINGS, type NotificationSettings } from '@parley/protocol';
import { DataSource } from 'typeorm';
import { one, rows, run } from '../database/sql.js';

/** What the dispatcher needs to know about a conversation's patient and practice: ids, the zone, the name it may show. */
export interface NoticeContext {
  patientUserId: string;
  practiceId: string;
  practiceName: string;
  timeZone: string;
  settings: NotificationSettings;
}

/** A notice that was held (quiet hours) and is now due. */
export interface DueNotice {
  patientUserId: string;
  conversationId: string;
  practiceId: string;
}

interface SettingsRow {
  show_practice_name: boolean | null;
  quiet_start: string | null;
  quiet_end: string | null;
}

const toSettings = (row: SettingsRow | undefined): NotificationSettings =>
  row?.show_practice_name === null || row?.show_practice_name === undefined
    ? { ...DEFAULT_NOTIFICATION_SETTINGS }
    : { showPracticeName: row.show_practice_name, quietHours: row.quiet_start && row.quiet_end ? { start: row.quiet_start, end: row.quiet_end } : null };

/** The practices' notification settings and the notices sent or held (coalescing and quiet hours). */
@Injectable()
export class NotificationsRepository {
  constructor(private readonly dataSource: DataSource) {}

  /** The practice's settings, or the defaults when it never set any. */
  async settings(practiceId: string): Promise<NotificationSettings> {
    const row = await one<SettingsRow>(
      this.dataSource,
      `SELECT show_practice_name, quiet_start, quiet_end FROM practice_notification_settings WHERE practice_id = $1`,
      [practiceId],
    );
    return toSettings(row);
  }

  async updateSettings(practiceId: string, settings: NotificationSettings, userId: string, now: Date): Promise<void> {
    await run(
      this.dataSource,
      `INSERT INTO practice_notification_settings (practice_id, show_practice_name, quiet_start, quiet_end, updated_by, updated_at)
       VALUES ($1, $2, $3, $4, $5, $6)
       ON CONFLICT (practice_id) DO UPDATE SET show_practice_name = EXCLUDED.show_practice_name, quiet_start = EXCLUDED.quiet_start,
         quiet_end = EXCLUDED.quiet_end, updated_by = EXCLUDED.updated_by, updated_at = EXCLUDED.updated_at`,
      [practiceId, settings.showPracticeName, settings.quietHours?.start ?? null, settings.quietHours?.end ?? null, userId, now],
    );
  }

  /** The conversation's patient, practice, zone and notification settings, in one query; undefined for an unknown conversation. */
  async contextOf(conversationId: string): Promise<NoticeContext | undefined> {
    const row = await one<SettingsRow & { patient_id: string; practice_id: string; name: string; time_zone: string }>(
      this.dataSource,
      `SELECT c.patient_id, c.practice_id, p.name, p.time_zone, s.show_practice_name, s.quiet_start, s.quiet_end
         FROM conversations c JOIN practices p ON p.id = c.practice_id
         LEFT JOIN practice_notification_settings s ON s.practice_id = c.practice_id
        WHERE c.id = $1`,
      [conversationId],
    );
    return row && { patientUserId: row.patient_id, practiceId: row.practice_id, practiceName: row.name, timeZone: row.time_zone, settings: toSettings(row) };
  }

  /**
   * Claims the notice of this patient and conversation: true for exactly one caller (on any node) until the patient
   * connects again (`clearFor`). `dueAt` later than now holds it (quiet hours) for `claimDue`.
   */
  async claim(patientUserId: string, conversationId: string, practiceId: string, dueAt: Date, now: Date): Promise<boolean> {
    const isHeld = dueAt.getTime() > now.getTime();
    const row = await one<{ patient_user_id: string }>(
      this.dataSource,
      `INSERT INTO notification_notices (patient_user_id, conversation_id, practice_id, due_at, sent_at) VALUES ($1, $2, $3, $4, $5)
       ON CONFLICT DO NOTHING RETURNING patient_user_id`,
      [patientUserId, conversationId, practiceId, dueAt, isHeld ? null : now],
    );
    return row !== undefined;
  }

  /** Claims every held notice due by `now` (each for exactly one node) and marks it sent. */
  async claimDue(now: Date, limit: number): Promise<DueNotice[]> {
    const claimed = await rows<{ patient_user_id: string; conversation_id: string; practice_id: string }>(
      this.dataSource,
      `UPDATE notification_notices SET sent_at = $1
        WHERE (patient_user_id, conversation_id) IN (
          SELECT patient_user_id, conversation_id FROM notification_notices WHERE sent_at IS NULL AND due_at <= $1
           ORDER BY due_at LIMIT $2 FOR UPDATE SKIP LOCKED)
       RETURNING patient_user_id, conversation_id, practice_id`,
      [now, limit],
    );
    return claimed.map((row) => ({ patientUserId: row.patient_user_id, conversationId: row.conversation_id, practiceId: row.practice_id }));
  }

  /** Forgets a claimed notice that no channel delivered, so the next message tries again. */
  async release(patientUserId: string, conversationId: string): Promise<void> {
    await run(this.dataSource, `DELETE FROM notification_notices WHERE patient_user_id = $1 AND conversation_id = $2`, [patientUserId, conversationId]);
  }

  /**
   * The patient connected: the notices already sent are forgotten, so the next message tells them again. Held ones
   * are dropped too (the patient is here; when they go, the next message makes a new one).
   */
  async clearFor(patientUserId: string): Promise<void> {
    await run(this.dataSource, `DELETE FROM notification_notices WHERE patient_user_id = $1`, [patientUserId]);
  }
}
