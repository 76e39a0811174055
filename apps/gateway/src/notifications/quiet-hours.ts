import { DateTime } from 'luxon';

/** A practice's quiet hours: local times HH:MM; `end` before `start` spans midnight. */
export interface QuietHours {
  start: string;
  end: string;
}

const minutesOf = (time: string): number => Number(time.slice(0, 2)) * 60 + Number(time.slice(3, 5));

/**
 * When a notice due at `now` may go: `now` outside the quiet hours, else the instant they end (the practice's local
 * time, in its zone, so daylight-saving days are handled by Luxon; an end time in the spring gap moves forward).
 */
export function releaseTime(now: Date, quietHours: QuietHours | null, timeZone: string): Date {
  if (!quietHours) return now;
  const local = DateTime.fromJSDate(now, { zone: timeZone });
  const minute = local.hour * 60 + local.minute;
  const start = minutesOf(quietHours.start);
  const end = minutesOf(quietHours.end);
  const spansMidnight = end < start;
  const isQuiet = spansMidnight ? minute >= start || minute < end : minute >= start && minute < end;
  if (!isQuiet) return now;
  // The end is today unless the window spans midnight and we are before it (evening side): then tomorrow.
  const endDay = spansMidnight && minute >= start ? local.plus({ days: 1 }) : local;
  const release = endDay.set({ hour: Math.floor(end / 60), minute: end % 60, second: 0, millisecond: 0 });
  return release.toJSDate();
}
