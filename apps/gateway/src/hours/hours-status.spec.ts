import { DateTime } from 'luxon';
import { describeLocalTime, hoursStatus, isInReplyWindow, type DatedException, type WeeklySchedule } from './hours-status.js';
import { loadBankHolidays } from './bank-holidays.js';

const LONDON = 'Europe/London';
const hm = (time: string) => {
  const [hours, minutes] = time.split(':').map(Number);
  return hours! * 60 + minutes!;
};
const interval = (weekday: number, start: string, end: string) => ({ weekday, start: hm(start), end: hm(end) });
/** Monday to Friday, the same intervals each day. */
const weekdays = (...spans: [string, string][]) => [1, 2, 3, 4, 5].flatMap((weekday) => spans.map(([start, end]) => interval(weekday, start, end)));
const aSchedule = (overrides: Partial<WeeklySchedule> = {}): WeeklySchedule => ({
  timeZone: LONDON,
  weekly: weekdays(['08:00', '18:30']),
  cutoffMinutes: 15,
  closingSoonMinutes: 15,
  observesBankHolidays: true,
  ...overrides,
});
/** An instant given as London wall-clock time. */
const london = (local: string) => DateTime.fromISO(local, { zone: LONDON }).toJSDate();
const NONE = new Set<string>();

describe('hoursStatus', () => {
  it('is open inside an interval, with its closing time and the next opening after it', () => {
    const status = hoursStatus(aSchedule(), [], NONE, london('2025-11-24T10:00'));

    expect(status).toEqual({
      state: 'open',
      isAcceptingNew: true,
      closesAt: london('2025-11-24T18:30'),
      newConversationsUntil: london('2025-11-24T18:15'),
      nextOpening: london('2025-11-25T08:00'),
      closedSince: null,
      changesAt: london('2025-11-24T18:15'),
    });
  });

  it('is closing soon in the warning window, and stops taking new conversations at the cut-off', () => {
    const schedule = aSchedule({ cutoffMinutes: 30, closingSoonMinutes: 10 });

    const inCutoff = hoursStatus(schedule, [], NONE, london('2025-11-24T18:05'));
    const closingSoon = hoursStatus(schedule, [], NONE, london('2025-11-24T18:25'));

    expect(inCutoff).toMatchObject({ state: 'open', isAcceptingNew: false, changesAt: london('2025-11-24T18:20') });
    expect(closingSoon).toMatchObject({ state: 'closing_soon', isAcceptingNew: false, changesAt: london('2025-11-24T18:30') });
  });

  it('is closed at the closing instant, naming the next opening, across a weekend', () => {
    const atClose = hoursStatus(aSchedule(), [], NONE, london('2025-11-28T18:30'));
    const saturday = hoursStatus(aSchedule(), [], NONE, london('2025-11-29T12:00'));

    expect(atClose).toMatchObject({ state: 'closed', isAcceptingNew: false, closedSince: london('2025-11-28T18:30'), nextOpening: london('2025-12-01T08:00') });
    expect(saturday.nextOpening).toEqual(london('2025-12-01T08:00'));
    expect(saturday.changesAt).toEqual(saturday.nextOpening);
  });

  it('handles several intervals a day: closed over lunch, open again after', () => {
    const schedule = aSchedule({ weekly: weekdays(['08:00', '12:00'], ['14:00', '18:00']) });

    const lunch = hoursStatus(schedule, [], NONE, london('2025-11-25T13:00'));
    const morning = hoursStatus(schedule, [], NONE, london('2025-11-25T09:00'));

    expect(lunch).toMatchObject({ state: 'closed', nextOpening: london('2025-11-25T14:00'), closedSince: london('2025-11-25T12:00') });
    expect(morning).toMatchObject({ state: 'open', closesAt: london('2025-11-25T12:00'), nextOpening: london('2025-11-25T14:00') });
  });

  it('treats a practice with no weekly schedule as always open, whatever the exceptions and bank holidays', () => {
    const closedException: DatedException = { date: '2025-12-25', intervals: [] };

    const status = hoursStatus(aSchedule({ weekly: [] }), [closedException], new Set(['2025-12-25']), london('2025-12-25T10:00'));

    expect(status).toMatchObject({ state: 'open', isAcceptingNew: true, closesAt: null, nextOpening: null, changesAt: null });
  });

  it('has no closing time for a practice open around the clock (00:00–24:00 every day)', () => {
    const always = aSchedule({ weekly: [1, 2, 3, 4, 5, 6, 7].map((weekday) => interval(weekday, '00:00', '24:00')), observesBankHolidays: false });

    const status = hoursStatus(always, [], NONE, london('2026-03-29T01:30'));

    expect(status).toMatchObject({ state: 'open', isAcceptingNew: true, closesAt: null });
  });

  describe('intervals that end at midnight', () => {
    it('closes at the next local midnight and warns before it', () => {
      const schedule = aSchedule({ weekly: [interval(5, '18:00', '24:00')] });

      const evening = hoursStatus(schedule, [], NONE, london('2025-11-28T23:50'));
      const after = hoursStatus(schedule, [], NONE, london('2025-11-29T00:00'));

      expect(evening).toMatchObject({ state: 'closing_soon', isAcceptingNew: false, closesAt: london('2025-11-29T00:00') });
      expect(after).toMatchObject({ state: 'closed', nextOpening: london('2025-12-05T18:00') });
    });

    it('joins Friday 18:00–24:00 and Saturday 00:00–02:00 into one opening', () => {
      const schedule = aSchedule({ weekly: [interval(5, '18:00', '24:00'), interval(6, '00:00', '02:00')] });

      const beforeMidnight = hoursStatus(schedule, [], NONE, london('2025-11-28T23:55'));
      const afterMidnight = hoursStatus(schedule, [], NONE, london('2025-11-29T01:00'));

      expect(beforeMidnight).toMatchObject({
        state: 'open',
        isAcceptingNew: true,
        closesAt: london('2025-11-29T02:00'),
        nextOpening: london('2025-12-05T18:00'),
      });
      expect(afterMidnight).toMatchObject({ state: 'open', closesAt: london('2025-11-29T02:00') });
    });
  });

  describe('daylight saving in Europe/London', () => {
    const sundays = aSchedule({ weekly: [interval(6, '20:00', '24:00'), interval(7, '00:00', '03:00'), interval(7, '09:00', '17:00')] });

    it('knows the last Sundays of March and October 2026 are 23 and 25 hours long', () => {
      const march = DateTime.fromISO('2026-03-29', { zone: LONDON });
      const october = DateTime.fromISO('2026-10-25', { zone: LONDON });

      expect(march.plus({ days: 1 }).diff(march, 'hours').hours).toBe(23);
      expect(october.plus({ days: 1 }).diff(october, 'hours').hours).toBe(25);
    });

    it('opens at 09:00 BST (08:00 UTC) on the last Sunday of March, and the night opening spans the lost hour', () => {
      const saturdayNight = hoursStatus(sundays, [], NONE, new Date('2026-03-28T23:30:00Z'));
      const earlyMorning = hoursStatus(sundays, [], NONE, new Date('2026-03-29T05:00:00Z'));
      const morning = hoursStatus(sundays, [], NONE, new Date('2026-03-29T08:30:00Z'));

      // 03:00 BST is 02:00 UTC: from 20:00 GMT the night opening lasts 6 wall-clock hours but 5 real ones.
      expect(saturdayNight).toMatchObject({ state: 'open', closesAt: new Date('2026-03-29T02:00:00Z'), nextOpening: new Date('2026-03-29T08:00:00Z') });
      expect(earlyMorning).toMatchObject({ state: 'closed', nextOpening: new Date('2026-03-29T08:00:00Z') });
      expect(morning).toMatchObject({ state: 'open', closesAt: new Date('2026-03-29T16:00:00Z') });
    });

    it('opens at 09:00 GMT (09:00 UTC) on the last Sunday of October, and 01:00–03:00 lasts three hours', () => {
      const saturdayNight = hoursStatus(sundays, [], NONE, new Date('2026-10-24T22:30:00Z'));
      const morning = hoursStatus(sundays, [], NONE, new Date('2026-10-25T08:30:00Z'));

      // 20:00 BST Saturday is 19:00 UTC; 03:00 GMT Sunday is 03:00 UTC.
      expect(saturdayNight).toMatchObject({ state: 'open', closesAt: new Date('2026-10-25T03:00:00Z'), nextOpening: new Date('2026-10-25T09:00:00Z') });
      expect(morning).toMatchObject({ state: 'closed', nextOpening: new Date('2026-10-25T09:00:00Z') });
    });

    it('moves an opening that starts in the spring gap forward by the gap', () => {
      const schedule = aSchedule({ weekly: [interval(7, '01:30', '04:00')] });

      const status = hoursStatus(schedule, [], NONE, new Date('2026-03-29T00:00:00Z'));

      // 01:30 does not exist that night; Luxon reads it as 02:30 BST, i.e. 01:30 UTC.
      expect(status).toMatchObject({ state: 'closed', nextOpening: new Date('2026-03-29T01:30:00Z') });
    });

    it('counts the warning window in real minutes across the October change', () => {
      const schedule = aSchedule({ weekly: [interval(7, '00:00', '02:00')], closingSoonMinutes: 30 });

      // 01:45 GMT (after the clocks went back), 15 minutes before closing at 02:00 GMT.
      const status = hoursStatus(schedule, [], NONE, new Date('2026-10-25T01:45:00Z'));

      expect(status).toMatchObject({ state: 'closing_soon', closesAt: new Date('2026-10-25T02:00:00Z') });
    });
  });

  describe('exceptions and bank holidays', () => {
    const bankHolidays = loadBankHolidays().dates;

    it('is closed on a bank holiday, and names the day after as the next opening', () => {
      // Monday 4 May 2026 is the Early May bank holiday.
      const status = hoursStatus(aSchedule(), [], bankHolidays, london('2026-05-04T10:00'));

      expect(status).toMatchObject({ state: 'closed', nextOpening: london('2026-05-05T08:00') });
    });

    it('opens on a bank holiday with special hours when an exception says so', () => {
      const exception: DatedException = { date: '2026-05-04', intervals: [{ start: hm('09:00'), end: hm('13:00') }] };

      const status = hoursStatus(aSchedule(), [exception], bankHolidays, london('2026-05-04T10:00'));
      const afterwards = hoursStatus(aSchedule(), [exception], bankHolidays, london('2026-05-04T14:00'));

      expect(status).toMatchObject({ state: 'open', closesAt: london('2026-05-04T13:00') });
      expect(afterwards).toMatchObject({ state: 'closed', nextOpening: london('2026-05-05T08:00') });
    });

    it('ignores bank holidays when the practice does not observe them', () => {
      const status = hoursStatus(aSchedule({ observesBankHolidays: false }), [], bankHolidays, london('2026-05-04T10:00'));

      expect(status.state).toBe('open');
    });

    it('closes a normal day for a dated closure (training afternoon), skipping it for the next opening', () => {
      const training: DatedException = { date: '2025-11-26', intervals: [{ start: hm('08:00'), end: hm('12:00') }] };
      const closedDay: DatedException = { date: '2025-11-27', intervals: [] };

      const status = hoursStatus(aSchedule(), [training, closedDay], NONE, london('2025-11-26T13:00'));

      expect(status).toMatchObject({ state: 'closed', closedSince: london('2025-11-26T12:00'), nextOpening: london('2025-11-28T08:00') });
    });

    it('skips Christmas and Boxing Day (bank holidays) for the next opening', () => {
      const status = hoursStatus(aSchedule(), [], bankHolidays, london('2025-12-24T19:00'));

      expect(status.nextOpening).toEqual(london('2025-12-29T08:00'));
    });

    it('has no next opening when none comes within a year', () => {
      const onlyOnADate = aSchedule({ weekly: [interval(1, '08:00', '09:00')] });
      const closures = Array.from({ length: 60 }, (_, week) => ({ date: DateTime.fromISO('2025-11-24').plus({ weeks: week }).toISODate()!, intervals: [] }));

      const status = hoursStatus(onlyOnADate, closures, NONE, london('2025-11-24T10:00'));

      expect(status).toMatchObject({ state: 'closed', nextOpening: null, changesAt: null });
    });
  });
});

describe('isInReplyWindow', () => {
  const schedule = aSchedule();
  const closedTonight = hoursStatus(schedule, [], NONE, london('2025-11-24T20:00'));
  const closedNextMorning = hoursStatus(schedule, [], NONE, london('2025-11-25T07:00'));

  it('keeps a taken conversation two-way after closing only as the reply window says', () => {
    expect(isInReplyWindow(closedTonight, 'none', LONDON, london('2025-11-24T20:00'))).toBe(false);
    expect(isInReplyWindow(closedTonight, 'end_of_day', LONDON, london('2025-11-24T20:00'))).toBe(true);
    expect(isInReplyWindow(closedTonight, 'end_of_day', LONDON, london('2025-11-24T23:59'))).toBe(true);
    expect(isInReplyWindow(closedNextMorning, 'end_of_day', LONDON, london('2025-11-25T07:00'))).toBe(false);
    expect(isInReplyWindow(closedNextMorning, 'until_closed', LONDON, london('2025-11-25T07:00'))).toBe(true);
  });

  it('is always open while the practice is', () => {
    const open = hoursStatus(schedule, [], NONE, london('2025-11-24T10:00'));

    expect(isInReplyWindow(open, 'none', LONDON, london('2025-11-24T10:00'))).toBe(true);
  });
});

describe('describeLocalTime', () => {
  it('names the day and the wall-clock time in the practice zone', () => {
    expect(describeLocalTime(new Date('2026-03-30T07:00:00Z'), LONDON)).toBe('Monday 30 March at 08:00');
  });
});

describe('loadBankHolidays', () => {
  it('reads England-and-Wales dates for 2025 to 2028, none on a weekend', () => {
    const { dates, events } = loadBankHolidays();

    expect(dates.has('2025-12-25')).toBe(true);
    expect(dates.has('2028-12-26')).toBe(true);
    expect(events.filter((event) => event.date.startsWith('2027'))).toHaveLength(8);
    expect(events.filter((event) => DateTime.fromISO(event.date).weekday > 5)).toEqual([]);
  });
});
