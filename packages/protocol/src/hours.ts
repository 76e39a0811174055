import { z } from 'zod';

/**
 * A local wall-clock time "HH:MM" in the practice's time zone. `24:00` is allowed as an end only:
 * "until midnight". Minutes of the day are what the gateway stores and compares.
 */
export const LocalTime = z.string().regex(/^(?:[01][0-9]|2[0-3]):[0-5][0-9]$|^24:00$/, 'must be HH:MM (00:00–24:00)');
export type LocalTime = z.infer<typeof LocalTime>;

/** Minutes since local midnight of an `HH:MM` (0–1440). */
export function minutesOfLocalTime(time: string): number {
  const [hours, minutes] = time.split(':').map(Number);
  return (hours ?? 0) * 60 + (minutes ?? 0);
}

/** `HH:MM` of minutes since local midnight (1440 is `24:00`). */
export function localTimeOfMinutes(minutes: number): string {
  return `${String(Math.floor(minutes / 60)).padStart(2, '0')}:${String(minutes % 60).padStart(2, '0')}`;
}

/** A calendar date "YYYY-MM-DD" (a real one: 2026-02-30 is refused). */
export const LocalDate = z.iso.date();
export type LocalDate = z.infer<typeof LocalDate>;

/** One opening interval of a day, local times; `end` may be `24:00`, and must be after `start`. */
export const DayInterval = z
  .object({ start: LocalTime, end: LocalTime })
  .strict()
  .refine((interval) => interval.start !== '24:00', { message: '24:00 is an end time only', path: ['start'] })
  .refine((interval) => minutesOfLocalTime(interval.end) > minutesOfLocalTime(interval.start), { message: 'end must be after start', path: ['end'] });
export type DayInterval = z.infer<typeof DayInterval>;

/** ISO weekday: 1 = Monday … 7 = Sunday. */
export const Weekday = z.number().int().min(1).max(7);

/** One interval of the weekly schedule. */
export const WeeklyInterval = z
  .object({ weekday: Weekday, start: LocalTime, end: LocalTime })
  .strict()
  .refine((interval) => interval.start !== '24:00', { message: '24:00 is an end time only', path: ['start'] })
  .refine((interval) => minutesOfLocalTime(interval.end) > minutesOfLocalTime(interval.start), { message: 'end must be after start', path: ['end'] });
export type WeeklyInterval = z.infer<typeof WeeklyInterval>;

/** The most intervals one day may have; more is a typo, not a schedule. */
export const MAX_INTERVALS_PER_DAY = 12;

/** True when no two intervals overlap (touching, 12:00–13:00 then 13:00–14:00, is allowed). */
function hasNoOverlap(intervals: readonly { start: string; end: string }[]): boolean {
  const sorted = [...intervals].sort((a, b) => minutesOfLocalTime(a.start) - minutesOfLocalTime(b.start));
  return sorted.every((interval, index) => index === 0 || minutesOfLocalTime(interval.start) >= minutesOfLocalTime(sorted[index - 1]!.end));
}

/**
 * `PUT /api/hours/weekly`: replaces the whole weekly schedule. Several intervals a day, no overlaps.
 * An empty list means "no schedule": the practice is then always open (see docs/protocol.md).
 */
export const ReplaceWeeklyHoursRequest = z
  .object({
    intervals: z.array(WeeklyInterval).max(7 * MAX_INTERVALS_PER_DAY),
  })
  .strict()
  .refine(
    (request) =>
      [1, 2, 3, 4, 5, 6, 7].every((weekday) => {
        const ofDay = request.intervals.filter((interval) => interval.weekday === weekday);
        return ofDay.length <= MAX_INTERVALS_PER_DAY && hasNoOverlap(ofDay);
      }),
    { message: 'intervals of one day overlap (or more than 12 a day)', path: ['intervals'] },
  );
export type ReplaceWeeklyHoursRequest = z.infer<typeof ReplaceWeeklyHoursRequest>;

/**
 * `PUT /api/hours/exceptions/:date`: what one date does instead of the weekly schedule (and instead
 * of a bank holiday closure): `intervals: []` closes the practice that day; intervals are special hours.
 */
export const SetHoursExceptionRequest = z
  .object({
    label: z.string().trim().min(1).max(100),
    intervals: z.array(DayInterval).max(MAX_INTERVALS_PER_DAY).refine(hasNoOverlap, 'intervals overlap'),
  })
  .strict();
export type SetHoursExceptionRequest = z.infer<typeof SetHoursExceptionRequest>;

/** A dated exception as stored. */
export interface HoursException {
  date: LocalDate;
  label: string;
  /** Empty: closed all day. */
  intervals: DayInterval[];
}

/**
 * The reply window: how long a conversation a clinician has taken (assigned or on hold) stays two-way, for the
 * clinician and the patient alike, once the practice has closed. `none`: read-only from closing; `end_of_day`
 * (the default): until the end of the practice's local day it closed; `until_closed`: until the clinician closes
 * it. Conversations nobody has taken follow the opening hours only (docs/clinical-safety.md).
 */
export const REPLY_WINDOWS = ['none', 'end_of_day', 'until_closed'] as const;
export const ReplyWindow = z.enum(REPLY_WINDOWS);
export type ReplyWindow = z.infer<typeof ReplyWindow>;

/** Whether `zone` is an IANA time zone this runtime knows. */
export function isTimeZone(zone: string): boolean {
  if (!/^[A-Za-z_]+(?:\/[A-Za-z0-9_+-]+)*$/.test(zone)) return false;
  try {
    new Intl.DateTimeFormat('en-GB', { timeZone: zone });
    return true;
  } catch {
    return false;
  }
}

/** The practice's hours settings. */
export const HoursSettings = z
  .object({
    /** IANA zone the schedule is written in, e.g. "Europe/London". */
    timeZone: z.string().max(64).refine(isTimeZone, 'not an IANA time zone'),
    /** New conversations are refused this many minutes before closing (0–720; default 15). */
    cutoffMinutes: z.number().int().min(0).max(720),
    /** The status says `closing_soon` this many minutes before closing (0–720; default 15). */
    closingSoonMinutes: z.number().int().min(0).max(720),
    /** After closing, how long taken conversations stay two-way (default `end_of_day`). */
    replyWindow: ReplyWindow,
    /** Closed on England-and-Wales bank holidays unless a dated exception says otherwise (default true). */
    observesBankHolidays: z.boolean(),
  })
  .strict();
export type HoursSettings = z.infer<typeof HoursSettings>;

/** `PUT /api/hours/settings`: any of the settings; the others keep their value. */
export const UpdateHoursSettingsRequest = HoursSettings.partial()
  .strict()
  .refine((request) => Object.keys(request).length > 0, 'name at least one setting');
export type UpdateHoursSettingsRequest = z.infer<typeof UpdateHoursSettingsRequest>;

export const HOURS_STATES = ['open', 'closing_soon', 'closed'] as const;
export type HoursState = (typeof HOURS_STATES)[number];

/**
 * The `hours:status` fact and `hours:get` answer: whether the practice is open now, when it closes
 * and when it next opens (ISO instants; the client shows them in `timeZone`).
 */
export interface HoursStatus {
  practiceId: string;
  state: HoursState;
  /** False outside hours and during the cut-off before closing: `conversation:open` is refused `outside_hours`. */
  isAcceptingNew: boolean;
  /** When the current opening ends; null when closed, or open with no end in the next two weeks. */
  closesAt: string | null;
  /** Until when new conversations are taken (closing minus the cut-off); null when not open or no end in sight. */
  newConversationsUntil: string | null;
  /** The next opening after now (when closed) or after `closesAt` (when open); null if none within a year. */
  nextOpening: string | null;
  timeZone: string;
}

/** `GET /api/hours`: the practice's schedule, upcoming exceptions and bank holidays, settings and status. */
export interface HoursView {
  settings: HoursSettings;
  /** Ordered by weekday, then start. Empty: no schedule, the practice is always open. */
  weekly: WeeklyInterval[];
  /** From today (the practice's local date) on, by date. */
  exceptions: HoursException[];
  /** England-and-Wales bank holidays from today for a year, with their names. */
  bankHolidays: { date: LocalDate; title: string }[];
  status: HoursStatus;
}

/** `hours:get` takes no fields. */
export const HoursGet = z.object({}).strict();
export type HoursGet = z.infer<typeof HoursGet>;
