import { Injectable } from '@nestjs/common';
import type { DashboardHour } from '@parley/protocol';
import { DataSource } from 'typeorm';
import { one, rows } from '../database/sql.js';

/** Today's totals, as the dashboard's summary row. */
export interface DayTotals {
  opened: number;
  answered: number;
  closed: number;
  medianWaitSeconds: number | null;
  longestWaitSeconds: number | null;
}

/** One local hour's figures of `day`, or the day's total (ROLLUP's row, `hour` null); `median` is percentile_cont's float8. */
interface HourRow {
  hour: number | null;
  opened: number;
  answered: number;
  closed: number;
  median: number | null;
  longest: number | null;
}

/** The dashboard's reads: conversations opened in a day and how long each waited for its first clinician. Read-only, no locks. */
@Injectable()
export class DashboardRepository {
  constructor(private readonly dataSource: DataSource) {}

  /** The practice's IANA time zone. */
  async timeZoneOf(practiceId: string): Promise<string> {
    const row = await one<{ time_zone: string }>(this.dataSource, `SELECT time_zone FROM practices WHERE id = $1`, [practiceId]);
    return row?.time_zone ?? 'Europe/London';
  }

  /**
   * Conversations opened in [dayStart, dayEnd), per local hour of `timeZone` and in total: how many,
   * how many a clinician took, how many are closed, and the median and longest wait from opening to
   * the first assignment (over the answered ones). One aggregate query, grouped with ROLLUP.
   */
  async day(practiceId: string, dayStart: Date, dayEnd: Date, timeZone: string): Promise<{ hours: DashboardHour[]; totals: DayTotals }> {
    const found = await rows<HourRow>(
      this.dataSource,
      `WITH opened AS (
         SELECT extract(hour FROM c.created_at AT TIME ZONE $4)::int AS hour, c.status,
                extract(epoch FROM (SELECT min(a.assigned_at) FROM assignments a WHERE a.conversation_id = c.id) - c.created_at) AS wait
           FROM conversations c
          WHERE c.practice_id = $1 AND c.created_at >= $2 AND c.created_at < $3)
       SELECT hour, count(*)::int AS opened, count(wait)::int AS answered, count(*) FILTER (WHERE status = 'closed')::int AS closed,
              percentile_cont(0.5) WITHIN GROUP (ORDER BY wait) AS median, max(wait)::float8 AS longest
         FROM opened GROUP BY ROLLUP (hour) ORDER BY hour NULLS LAST`,
      [practiceId, dayStart, dayEnd, timeZone],
    );
    const seconds = (value: number | null) => (value === null ? null : Math.max(0, Math.round(Number(value))));
    const hours = found
      .filter((row) => row.hour !== null)
      .map((row) => ({
        hour: row.hour!,
        opened: row.opened,
        answered: row.answered,
        medianWaitSeconds: seconds(row.median),
        longestWaitSeconds: seconds(row.longest),
      }));
    const total = found.find((row) => row.hour === null);
    return {
      hours,
      totals: {
        opened: total?.opened ?? 0,
        answered: total?.answered ?? 0,
        closed: total?.closed ?? 0,
        medianWaitSeconds: seconds(total?.median ?? null),
        longestWaitSeconds: seconds(total?.longest ?? null),
      },
    };
  }
}
