import { Injectable } from '@nestjs/common';
import type { ReplyWindow } from '@parley/protocol';
import { randomUUID } from 'node:crypto';
import { DataSource } from 'typeorm';
import { rows, run, transaction } from '../database/sql.js';
import type { DatedException, MinuteInterval } from './hours-status.js';

/** A practice's hours as stored: zone, settings, weekly intervals and exceptions. */
export interface StoredHours {
  practiceId: string;
  timeZone: string;
  cutoffMinutes: number;
  closingSoonMinutes: number;
  replyWindow: ReplyWindow;
  observesBankHolidays: boolean;
  /** Ordered by weekday, then start. */
  weekly: (MinuteInterval & { weekday: number })[];
  /** Ordered by date. */
  exceptions: (DatedException & { label: string })[];
}

/** Settings to change; absent ones keep their value. */
export interface HoursSettingsChange {
  timeZone?: string;
  cutoffMinutes?: number;
  closingSoonMinutes?: number;
  replyWindow?: ReplyWindow;
  observesBankHolidays?: boolean;
}

/** A practice with its `opening_hours_settings` (all null when it has no settings row), as `load` selects it. */
interface PracticeHoursRow {
  id: string;
  time_zone: string;
  cutoff_minutes: number | null;
  closing_soon_minutes: number | null;
  reply_window: ReplyWindow | null;
  observes_bank_holidays: boolean | null;
}

/** An `opening_hours_intervals` row. */
interface IntervalRow {
  practice_id: string;
  weekday: number;
  start_minute: number;
  end_minute: number;
}

/** An `opening_hours_exceptions` row (the date as YYYY-MM-DD text, the intervals as stored jsonb). */
interface ExceptionRow {
  practice_id: string;
  date: string;
  label: string;
  intervals: MinuteInterval[];
}

const DEFAULTS = { cutoff_minutes: 15, closing_soon_minutes: 15, reply_window: 'end_of_day', observes_bank_holidays: true } as const;

/** Every query of opening hours. */
@Injectable()
export class HoursRepository {
  constructor(private readonly dataSource: DataSource) {}

  /** One practice's hours (exceptions from `fromDate` on), or null for an unknown practice. */
  async hoursOf(practiceId: string, fromDate = '0001-01-01'): Promise<StoredHours | null> {
    const [hours] = await this.load([practiceId], fromDate);
    return hours ?? null;
  }

  /** The hours of every practice (exceptions from `fromDate` on): what the scheduler watches. */
  allHours(fromDate: string): Promise<StoredHours[]> {
    return this.load(undefined, fromDate);
  }

  /** Replaces a practice's weekly schedule in one transaction (the caller checked for overlaps). */
  async replaceWeekly(practiceId: string, intervals: readonly (MinuteInterval & { weekday: number })[]): Promise<void> {
    await transaction(this.dataSource, async (db) => {
      // Lock the practice row: two managers saving at once end with one schedule or the other, never a mix.
      await run(db, `SELECT id FROM practices WHERE id = $1 FOR UPDATE`, [practiceId]);
      await run(db, `DELETE FROM opening_hours_intervals WHERE practice_id = $1`, [practiceId]);
      for (const interval of intervals) {
        await run(db, `INSERT INTO opening_hours_intervals (id, practice_id, weekday, start_minute, end_minute) VALUES ($1, $2, $3, $4, $5)`, [
          randomUUID(),
          practiceId,
          interval.weekday,
          interval.start,
          interval.end,
        ]);
      }
    });
  }

  /** Sets (or replaces) the exception of one local date. */
  async setException(practiceId: string, exception: DatedException & { label: string }): Promise<void> {
    await run(
      this.dataSource,
      `INSERT INTO opening_hours_exceptions (practice_id, date, label, intervals) VALUES ($1, $2, $3, $4::jsonb)
       ON CONFLICT (practice_id, date) DO UPDATE SET label = excluded.label, intervals = excluded.intervals, updated_at = now()`,
      [practiceId, exception.date, exception.label, JSON.stringify(exception.intervals.map(({ start, end }) => ({ start, end })))],
    );
  }

  /** Removes the exception of one date; false when there was none. */
  async removeException(practiceId: string, date: string): Promise<boolean> {
    const removed = await rows<{ date: string }>(this.dataSource, `DELETE FROM opening_hours_exceptions WHERE practice_id = $1 AND date = $2 RETURNING date`, [
      practiceId,
      date,
    ]);
    return removed.length > 0;
  }

  /** Changes the named settings (the zone is the practice's own column); others keep their value. */
  async updateSettings(practiceId: string, change: HoursSettingsChange): Promise<void> {
    await transaction(this.dataSource, async (db) => {
      if (change.timeZone !== undefined) await run(db, `UPDATE practices SET time_zone = $2 WHERE id = $1`, [practiceId, change.timeZone]);
      // Absent settings are NULL here: a new row takes the column default, an existing one keeps its value.
      await run(db, `INSERT INTO opening_hours_settings (practice_id) VALUES ($1) ON CONFLICT (practice_id) DO NOTHING`, [practiceId]);
      await run(
        db,
        `UPDATE opening_hours_settings SET
           cutoff_minutes = coalesce($2::integer, cutoff_minutes),
           closing_soon_minutes = coalesce($3::integer, closing_soon_minutes),
           reply_window = coalesce($4::text, reply_window),
           observes_bank_holidays = coalesce($5::boolean, observes_bank_holidays),
           updated_at = now()
         WHERE practice_id = $1`,
        [practiceId, change.cutoffMinutes ?? null, change.closingSoonMinutes ?? null, change.replyWindow ?? null, change.observesBankHolidays ?? null],
      );
    });
  }

  /**
   * Claims the announcement of one closing: true for the first caller only, so each closing notice is
   * posted once however many gateway nodes see the closing.
   */
  async claimClosing(practiceId: string, closedAt: Date): Promise<boolean> {
    const claimed = await rows<{ practice_id: string }>(
      this.dataSource,
      `INSERT INTO opening_hours_closings (practice_id, closed_at) VALUES ($1, $2) ON CONFLICT DO NOTHING RETURNING practice_id`,
      [practiceId, closedAt],
    );
    return claimed.length === 1;
  }

  private async load(practiceIds: string[] | undefined, fromDate: string): Promise<StoredHours[]> {
    const filter = practiceIds ? `WHERE p.id = ANY($1::uuid[])` : '';
    const practices = await rows<PracticeHoursRow>(
      this.dataSource,
      `SELECT p.id, p.time_zone, s.cutoff_minutes, s.closing_soon_minutes, s.reply_window, s.observes_bank_holidays
         FROM practices p LEFT JOIN opening_hours_settings s ON s.practice_id = p.id ${filter} ORDER BY p.id`,
      practiceIds ? [practiceIds] : [],
    );
    if (practices.length === 0) return [];
    const ids = practices.map((row) => row.id);
    const intervals = await rows<IntervalRow>(
      this.dataSource,
      `SELECT practice_id, weekday, start_minute, end_minute FROM opening_hours_intervals WHERE practice_id = ANY($1::uuid[]) ORDER BY weekday, start_minute`,
      [ids],
    );
    const exceptions = await rows<ExceptionRow>(
      this.dataSource,
      `SELECT practice_id, to_char(date, 'YYYY-MM-DD') AS date, label, intervals FROM opening_hours_exceptions
        WHERE practice_id = ANY($1::uuid[]) AND date >= $2::date ORDER BY date`,
      [ids, fromDate],
    );
    return practices.map((row) => ({
      practiceId: row.id,
      timeZone: row.time_zone,
      cutoffMinutes: row.cutoff_minutes ?? DEFAULTS.cutoff_minutes,
      closingSoonMinutes: row.closing_soon_minutes ?? DEFAULTS.closing_soon_minutes,
      replyWindow: row.reply_window ?? DEFAULTS.reply_window,
      observesBankHolidays: row.observes_bank_holidays ?? DEFAULTS.observes_bank_holidays,
      weekly: intervals
        .filter((interval) => interval.practice_id === row.id)
        .map((interval) => ({ weekday: interval.weekday, start: interval.start_minute, end: interval.end_minute })),
      exceptions: exceptions
        .filter((exception) => exception.practice_id === row.id)
        .map((exception) => ({ date: exception.date, label: exception.label, intervals: exception.intervals })),
    }));
  }
}
