import type { HoursState, ReplyWindow } from '@parley/protocol';
import { DateTime } from 'luxon';

/** One opening interval of a local day, in minutes since local midnight; `end` may be 1440 ("until midnight"). */
export interface MinuteInterval {
  start: number;
  end: number;
}

/** The weekly schedule and the settings the status depends on. Weekdays are ISO: 1 = Monday … 7 = Sunday. */
export interface WeeklySchedule {
  timeZone: string;
  weekly: readonly (MinuteInterval & { weekday: number })[];
  cutoffMinutes: number;
  closingSoonMinutes: number;
  observesBankHolidays: boolean;
}

/** A dated exception: the intervals of that local date instead of the weekly ones (none: closed). */
export interface DatedException {
  date: string;
  intervals: readonly MinuteInterval[];
}

/** Whether a practice is open at an instant, and when that changes. */
export interface ComputedHoursStatus {
  state: HoursState;
  /** False outside hours and within the cut-off before closing. */
  isAcceptingNew: boolean;
  /** End of the current opening; null when closed, or when it does not end within the look-ahead (always open). */
  closesAt: Date | null;
  /** closesAt minus the cut-off: the last moment a new conversation is taken. */
  newConversationsUntil: Date | null;
  /** The next opening after now (closed) or after closesAt (open); null when there is none within a year. */
  nextOpening: Date | null;
  /** When closed: the end of the last opening (within the look-back), else null. */
  closedSince: Date | null;
  /** The next instant the status itself changes (closing soon, cut-off, closing, opening); null if not within the look-ahead. */
  changesAt: Date | null;
}

const MINUTE_MS = 60_000;
// The current opening is followed this far; a longer one (a practice open around the clock) has no closing time.
const LOOK_AHEAD_DAYS = 15;
// Far enough back to find when a closure started (a closed week, then a weekend).
const LOOK_BACK_DAYS = 8;
const NEXT_OPENING_SEARCH_DAYS = 366;

interface Span {
  start: number;
  end: number;
}

/**
 * The status of a practice at `now`: open, closing soon or closed, whether it takes new conversations,
 * when it closes and when it next opens. Local times are turned into instants in the practice's zone
 * by Luxon, so daylight-saving days are 23 or 25 hours long and a time in the spring gap moves forward.
 * Consecutive intervals that touch (Friday 18:00–24:00, Saturday 00:00–02:00) are one opening.
 *
 * A schedule with no weekly interval at all means the practice has not set hours: it is always open
 * (exceptions and bank holidays apply only to a practice that has a schedule).
 */
export function hoursStatus(
  schedule: WeeklySchedule,
  exceptions: readonly DatedException[],
  bankHolidays: ReadonlySet<string>,
  now: Date,
): ComputedHoursStatus {
  if (schedule.weekly.length === 0) {
    return { state: 'open', isAcceptingNew: true, closesAt: null, newConversationsUntil: null, nextOpening: null, closedSince: null, changesAt: null };
  }
  const intervalsOf = dayIntervals(schedule, exceptions, bankHolidays);
  const today = DateTime.fromJSDate(now, { zone: schedule.timeZone }).startOf('day');
  const horizon = today.plus({ days: LOOK_AHEAD_DAYS + 1 }).toMillis();
  const raw: Span[] = [];
  for (let offset = -LOOK_BACK_DAYS; offset <= LOOK_AHEAD_DAYS; offset++) raw.push(...intervalsOf(today.plus({ days: offset })));
  const openings = merge(raw);
  const at = now.getTime();
  const firstStartAfter = (instant: number): Date | null => {
    const found = openings.find((opening) => opening.start > instant);
    if (found) return new Date(found.start);
    for (let offset = LOOK_AHEAD_DAYS + 1; offset <= NEXT_OPENING_SEARCH_DAYS; offset++) {
      const first = intervalsOf(today.plus({ days: offset })).find((span) => span.start > instant);
      if (first) return new Date(first.start);
    }
    return null;
  };

  const current = openings.find((opening) => opening.start <= at && at < opening.end);
  if (!current) {
    const nextOpening = firstStartAfter(at);
    const closedSince = openings.filter((opening) => opening.end <= at).at(-1)?.end;
    return {
      state: 'closed',
      isAcceptingNew: false,
      closesAt: null,
      newConversationsUntil: null,
      nextOpening,
      closedSince: closedSince === undefined ? null : new Date(closedSince),
      changesAt: nextOpening,
    };
  }
  if (current.end >= horizon) {
    return { state: 'open', isAcceptingNew: true, closesAt: null, newConversationsUntil: null, nextOpening: null, closedSince: null, changesAt: null };
  }
  const closingSoonAt = current.end - schedule.closingSoonMinutes * MINUTE_MS;
  const cutoffAt = current.end - schedule.cutoffMinutes * MINUTE_MS;
  const changes = [closingSoonAt, cutoffAt, current.end].filter((instant) => instant > at);
  return {
    state: at >= closingSoonAt ? 'closing_soon' : 'open',
    isAcceptingNew: at < cutoffAt,
    closesAt: new Date(current.end),
    newConversationsUntil: new Date(cutoffAt),
    nextOpening: firstStartAfter(current.end),
    closedSince: null,
    changesAt: new Date(Math.min(...changes)),
  };
}

/**
 * Whether a conversation a clinician has taken is still two-way now, under the practice's reply window: always
 * while open; after closing, never (`none`), until the end of the local day the practice closed (`end_of_day`),
 * or until the clinician closes it (`until_closed`).
 */
export function isInReplyWindow(status: ComputedHoursStatus, window: ReplyWindow, timeZone: string, now: Date): boolean {
  if (status.state !== 'closed' || window === 'until_closed') return true;
  if (window === 'none' || !status.closedSince) return false;
  // A closing at 24:00 belongs to the day that just ended, so step back a millisecond to name its day.
  const closingDay = DateTime.fromMillis(status.closedSince.getTime() - 1, { zone: timeZone }).toISODate();
  return closingDay === DateTime.fromJSDate(now, { zone: timeZone }).toISODate();
}

/** An instant as people in the practice read it, e.g. "Monday 24 November at 08:00". */
export function describeLocalTime(instant: Date, timeZone: string): string {
  return DateTime.fromJSDate(instant, { zone: timeZone }).setLocale('en-GB').toFormat("cccc d LLLL 'at' HH:mm");
}

/** The opening intervals of one local day as instants: the exception for that date, else closed on a bank holiday, else the weekly ones. */
function dayIntervals(schedule: WeeklySchedule, exceptions: readonly DatedException[], bankHolidays: ReadonlySet<string>): (day: DateTime) => Span[] {
  const exceptionsByDate = new Map(exceptions.map((exception) => [exception.date, exception.intervals]));
  return (day) => {
    const date = day.toISODate()!;
    const intervals =
      exceptionsByDate.get(date) ??
      (schedule.observesBankHolidays && bankHolidays.has(date) ? [] : schedule.weekly.filter((interval) => interval.weekday === day.weekday));
    return (
      [...intervals]
        .sort((a, b) => a.start - b.start)
        .map((interval) => ({ start: localInstant(day, interval.start), end: localInstant(day, interval.end) }))
        // Both ends of a span inside the spring-forward gap move forward alike; never keep an empty span.
        .filter((span) => span.end > span.start)
    );
  };
}

/** The instant of `minutes` past local midnight of `day`; 1440 is the next day's midnight (which is not always 24 hours later). */
function localInstant(day: DateTime, minutes: number): number {
  if (minutes >= 1440) return day.plus({ days: 1 }).startOf('day').toMillis();
  // A local time in the spring-forward gap does not exist: Luxon moves it forward by the gap's length.
  return DateTime.fromObject(
    { year: day.year, month: day.month, day: day.day, hour: Math.floor(minutes / 60), minute: minutes % 60 },
    { zone: day.zone },
  ).toMillis();
}

/** Joins spans (ordered by start) that overlap or touch into continuous openings. */
function merge(spans: readonly Span[]): Span[] {
  const merged: Span[] = [];
  for (const span of spans) {
    const last = merged.at(-1);
    if (last && span.start <= last.end) last.end = Math.max(last.end, span.end);
    else merged.push({ ...span });
  }
  return merged;
}
