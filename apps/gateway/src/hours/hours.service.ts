import { Inject, Injectable, Logger } from '@nestjs/common';
import {
  localTimeOfMinutes,
  minutesOfLocalTime,
  type HoursStatus,
  type HoursView,
  type ReplaceWeeklyHoursRequest,
  type SetHoursExceptionRequest,
  type UpdateHoursSettingsRequest,
} from '@parley/protocol';
import { DateTime } from 'luxon';
import { AuditService } from '../audit/audit.service.js';
import type { Actor } from '../common/actor.js';
import { Clock } from '../common/clock.js';
import { DomainError } from '../common/domain-error.js';
import { RealtimePublisher } from '../common/realtime.publisher.js';
import { requireRole } from '../common/require-role.js';
import { rooms } from '../common/rooms.js';
import { BANK_HOLIDAYS, type BankHolidays } from './bank-holidays.js';
import { describeLocalTime, hoursStatus, isInReplyWindow, type ComputedHoursStatus } from './hours-status.js';
import { HoursRepository, type StoredHours } from './hours.repository.js';

/** A practice has just closed: its open conversations should get a system notice. */
export interface PracticeClosing {
  practiceId: string;
  /** The closing instant (the end of the opening that just ended). */
  closedAt: Date;
  /** When it opens again, or null if not within a year. */
  nextOpening: Date | null;
  timeZone: string;
}

/** Called once per closing, on one gateway node; a rejection is logged, not retried. */
export type ClosingListener = (closing: PracticeClosing) => void | Promise<void>;

// Exceptions this far back are loaded for the scheduler: the status looks back a week to find when a closure began.
const EXCEPTION_LOOK_BACK_DAYS = 9;
const BANK_HOLIDAYS_SHOWN_DAYS = 366;
// How long the refusal checks of one practice share a read of its hours (edits through another node show after this).
const HOURS_SHARED_FOR_MS = 1_000;
// How old a read the checks may fall back to when the next one fails (a saturated pool); never one from before an edit here.
const HOURS_STALE_FOR_MS = 10_000;

/**
 * Opening hours: the schedule managers edit, the status patients see, the refusals outside hours, and
 * the transitions (closing soon, closed, open) announced as they happen. Time comes from the Clock.
 */
@Injectable()
export class HoursService {
  private readonly logger = new Logger(HoursService.name);
  private readonly closingListeners = new Set<ClosingListener>();
  /** The last status each practice was seen in on this node, to announce only changes. */
  private readonly lastSeen = new Map<string, { fact: string; state: HoursStatus['state'] }>();
  /** The refusal checks' last computed status per practice, with the stored hours it came from (see `computeForCheck`). */
  private readonly computedForCheck = new Map<
    string,
    { stored: string; storedObject: StoredHours; from: number; until: number; status: ComputedHoursStatus }
  >();
  /** The refusal checks' latest read of each practice's hours (see `loadForCheck`), and a count of this node's edits. */
  private readonly readForCheck = new Map<string, { edits: number; fromDate: string; startedAt: number; loaded: Promise<StoredHours> }>();
  /** The refusal checks' last good read of each practice's hours, for when a read fails (see `loadForCheck`). */
  private readonly lastGoodForCheck = new Map<string, { edits: number; fromDate: string; at: number; stored: StoredHours }>();
  private edits = 0;
  /** Per time zone: the local day last asked for, as instants [start, end) (see `dayStartIn`). */
  private readonly localDays = new Map<string, { start: number; end: number }>();

  constructor(
    private readonly hours: HoursRepository,
    private readonly clock: Clock,
    private readonly realtime: RealtimePublisher,
    private readonly audit: AuditService,
    @Inject(BANK_HOLIDAYS) private readonly bankHolidays: BankHolidays,
  ) {}

  /**
   * The practice's status now, from the read the refusal checks share (at most a second old, see loadForCheck) and the
   * status they remember (see computeForCheck): every patient socket gets it as it connects, and every open for its
   * wait estimate. Read and computed afresh each time, it cost three queries and about 2 ms of CPU per connection (a third
   * of the gateway's CPU while 1,000 patients connected after a restart), and computing it twice per open was
   * 40 % of the gateway's CPU in a burst of opens (docs/benchmarks.md, queue profile).
   * @throws DomainError `not_found` (no such practice)
   */
  async status(practiceId: string): Promise<HoursStatus> {
    const stored = await this.loadForCheck(practiceId);
    return toFact(stored, this.computeForCheck(stored, this.clock.now()));
  }

  /** The caller's practice's schedule, exceptions from today, bank holidays for a year, settings and status. @throws DomainError `not_found` */
  async view(actor: Actor): Promise<HoursView> {
    const now = this.clock.now();
    const stored = await this.load(actor.practiceId);
    const today = DateTime.fromJSDate(now, { zone: stored.timeZone }).toISODate()!;
    const untilDate = DateTime.fromJSDate(now, { zone: stored.timeZone }).plus({ days: BANK_HOLIDAYS_SHOWN_DAYS }).toISODate()!;
    return {
      settings: {
        timeZone: stored.timeZone,
        cutoffMinutes: stored.cutoffMinutes,
        closingSoonMinutes: stored.closingSoonMinutes,
        replyWindow: stored.replyWindow,
        observesBankHolidays: stored.observesBankHolidays,
      },
      weekly: stored.weekly.map((interval) => ({
        weekday: interval.weekday,
        start: localTimeOfMinutes(interval.start),
        end: localTimeOfMinutes(interval.end),
      })),
      exceptions: stored.exceptions
        .filter((exception) => exception.date >= today)
        .map((exception) => ({ date: exception.date, label: exception.label, intervals: exception.intervals.map(toLocalTimes) })),
      bankHolidays: this.bankHolidays.events.filter((event) => event.date >= today && event.date <= untilDate).map(({ date, title }) => ({ date, title })),
      status: toFact(stored, this.compute(stored, now)),
    };
  }

  /**
   * Refuses a new conversation outside hours, or within the cut-off before closing.
   * @throws DomainError `outside_hours` (details: `nextOpening` ISO instant or null, `state`), `not_found`
   */
  async assertOpenForNewConversation(practiceId: string): Promise<void> {
    const stored = await this.loadForCheck(practiceId);
    const status = this.computeForCheck(stored, this.clock.now());
    if (status.isAcceptingNew) return;
    const why =
      status.state === 'closed'
        ? 'The practice is closed.'
        : `The practice takes no new conversations in the last ${stored.cutoffMinutes} minutes before it closes.`;
    throw outsideHours(why, status, stored.timeZone);
  }

  /**
   * Refuses a message (patient's or clinician's) the hours do not allow now. While the practice is open (closing
   * soon included) every conversation is two-way. After closing, one a clinician has taken (`isTaken`: assigned or on
   * hold) stays two-way for both sides until the practice's reply window ends, so nobody is cut off mid-conversation;
   * one nobody has taken waits for the next opening.
   * @throws DomainError `outside_hours` (details: `nextOpening`, `state`), `not_found`
   */
  async assertMayWrite(practiceId: string, isTaken: boolean): Promise<void> {
    const stored = await this.loadForCheck(practiceId);
    const now = this.clock.now();
    const status = this.computeForCheck(stored, now);
    if (status.state !== 'closed') return;
    if (!isTaken)
      throw outsideHours(
        'The practice is closed. Your conversation keeps its place in the queue, and a clinician will reply after it opens.',
        status,
        stored.timeZone,
      );
    if (isInReplyWindow(status, stored.replyWindow, stored.timeZone, now)) return;
    throw outsideHours('The practice is closed and its reply window has ended: this conversation is read-only until it opens.', status, stored.timeZone);
  }

  /** Midnight of the practice's local day now, as an instant: where "today" starts for per-day limits. @throws DomainError `not_found` */
  async localDayStart(practiceId: string): Promise<Date> {
    const stored = await this.loadForCheck(practiceId);
    return this.dayStartIn(stored.timeZone);
  }

  /**
   * Midnight of the local day now in an IANA time zone, as an instant. Luxon computes each day's bounds once per zone;
   * every instant until the next local midnight gets the remembered one (it runs on every open and routing pass).
   */
  dayStartIn(timeZone: string): Date {
    const now = this.clock.now().getTime();
    const day = this.localDays.get(timeZone);
    if (day && now >= day.start && now < day.end) return new Date(day.start);
    const local = DateTime.fromMillis(now, { zone: timeZone });
    // The next day's start from the next day itself: a 23- or 25-hour day (daylight saving) ends where Luxon says.
    const computed = { start: local.startOf('day').toMillis(), end: local.plus({ days: 1 }).startOf('day').toMillis() };
    this.localDays.set(timeZone, computed);
    return new Date(computed.start);
  }

  /**
   * Replaces the weekly schedule (a manager). An empty list removes it: the practice is then always open.
   * @throws DomainError `forbidden`, `not_found`
   */
  async replaceWeekly(actor: Actor, request: ReplaceWeeklyHoursRequest): Promise<void> {
    requireRole(actor, 'manager');
    const intervals = request.intervals
      .map((interval) => ({ weekday: interval.weekday, start: minutesOfLocalTime(interval.start), end: minutesOfLocalTime(interval.end) }))
      .sort((a, b) => a.weekday - b.weekday || a.start - b.start);
    await this.hours.replaceWeekly(actor.practiceId, intervals);
    await this.changed(actor, { what: 'weekly', intervals: intervals.length });
  }

  /**
   * Sets the exception of one local date (a manager): closed (no intervals) or special hours. It
   * overrides the weekly schedule and a bank holiday closure.
   * @throws DomainError `forbidden`, `not_found`
   */
  async setException(actor: Actor, date: string, request: SetHoursExceptionRequest): Promise<void> {
    requireRole(actor, 'manager');
    await this.hours.setException(actor.practiceId, { date, label: request.label, intervals: request.intervals.map(toMinutes) });
    await this.changed(actor, { what: 'exception_set', date, intervals: request.intervals.length });
  }

  /** Removes the exception of one date (a manager). @throws DomainError `forbidden`, `not_found` (no exception that date) */
  async removeException(actor: Actor, date: string): Promise<void> {
    requireRole(actor, 'manager');
    if (!(await this.hours.removeException(actor.practiceId, date))) throw new DomainError('not_found', 'No exception on that date.');
    await this.changed(actor, { what: 'exception_removed', date });
  }

  /** Changes the named hours settings (a manager). @throws DomainError `forbidden`, `not_found` */
  async updateSettings(actor: Actor, request: UpdateHoursSettingsRequest): Promise<void> {
    requireRole(actor, 'manager');
    await this.hours.updateSettings(actor.practiceId, request);
    await this.changed(actor, { what: 'settings', fields: Object.keys(request).sort().join(',') });
  }

  /**
   * Subscribes to closings: each fires once across all gateway nodes, when a practice's opening ends
   * (or an edit closes it now). Returns the unsubscribe function.
   */
  onClosing(listener: ClosingListener): () => void {
    this.closingListeners.add(listener);
    return () => this.closingListeners.delete(listener);
  }

  /**
   * Recomputes every practice's status, tells each practice's patients when theirs changed, and
   * announces closings. A practice seen for the first time on this node is only remembered. Returns
   * the next instant any status changes (null if none is due within the look-ahead).
   */
  async refreshAll(): Promise<Date | null> {
    const now = this.clock.now();
    const fromDate = DateTime.fromJSDate(now, { zone: 'UTC' }).minus({ days: EXCEPTION_LOOK_BACK_DAYS }).toISODate()!;
    let next: number | null = null;
    for (const stored of await this.hours.allHours(fromDate)) {
      const status = this.compute(stored, now);
      await this.observe(stored, status, now, false);
      const changesAt = status.changesAt?.getTime();
      if (changesAt !== undefined && (next === null || changesAt < next)) next = changesAt;
    }
    return next === null ? null : new Date(next);
  }

  /** Audits a change, then tells the practice's patients its status at once (and announces a closing it caused). */
  private async changed(actor: Actor, data: Record<string, string | number>): Promise<void> {
    // The edit is stored: refusal checks from now on must not share a read that started before it.
    this.edits += 1;
    // Ids and codes only: the trail never holds free text (not even the exception's label).
    await this.audit.record(actor, 'hours.changed', { data });
    this.logger.log({ practiceId: actor.practiceId, userId: actor.userId, ...data }, 'opening hours changed');
    const stored = await this.load(actor.practiceId);
    const now = this.clock.now();
    await this.observe(stored, this.compute(stored, now), now, true);
  }

  private async observe(stored: StoredHours, status: ComputedHoursStatus, now: Date, isEdit: boolean): Promise<void> {
    const fact = toFact(stored, status);
    const serialized = JSON.stringify(fact);
    const previous = this.lastSeen.get(stored.practiceId);
    this.lastSeen.set(stored.practiceId, { fact: serialized, state: status.state });
    if (!previous && !isEdit) return;
    if (isEdit || previous?.fact !== serialized) this.realtime.publish(rooms.practicePatients(stored.practiceId), 'hours:status', fact);
    if (previous && previous.state !== 'closed' && status.state === 'closed') await this.announceClosing(stored, status, now);
  }

  private async announceClosing(stored: StoredHours, status: ComputedHoursStatus, now: Date): Promise<void> {
    // The closing instant comes from the schedule, so every node that sees this closing claims the same key.
    const closedAt = status.closedSince ?? new Date(Math.floor(now.getTime() / 60_000) * 60_000);
    if (!(await this.hours.claimClosing(stored.practiceId, closedAt))) return;
    this.logger.log({ practiceId: stored.practiceId, closedAt: closedAt.toISOString() }, 'practice closed');
    const closing: PracticeClosing = { practiceId: stored.practiceId, closedAt, nextOpening: status.nextOpening, timeZone: stored.timeZone };
    for (const listener of this.closingListeners) {
      try {
        await listener(closing);
      } catch (error) {
        this.logger.error({ practiceId: stored.practiceId, err: error }, 'closing listener failed');
      }
    }
  }

  private async load(practiceId: string, fromDate = exceptionsFrom(this.clock.now())): Promise<StoredHours> {
    const stored = await this.hours.hoursOf(practiceId, fromDate);
    if (!stored) throw new DomainError('not_found', 'No such practice.');
    return stored;
  }

  /**
   * `load` for the refusal checks, which run on every message, and for `status` (every patient socket that connects,
   * every open): the checks of one practice share one read of its hours (three queries) for up to a second instead of
   * each queueing three for the database pool (docs/benchmarks.md). An
   * edit made through this node is seen by the very next check; one made through another node, within a second. The
   * status itself is still computed from the clock at each check, so openings and closings take effect on time.
   */
  private loadForCheck(practiceId: string): Promise<StoredHours> {
    const fromDate = exceptionsFrom(this.clock.now());
    const now = performance.now();
    const shared = this.readForCheck.get(practiceId);
    // An earlier `fromDate` holds every exception a later one would, so a clock moved forward can still share the read.
    if (shared && shared.edits === this.edits && shared.fromDate <= fromDate && now - shared.startedAt < HOURS_SHARED_FOR_MS) return shared.loaded;
    // A read the pool refuses under a burst (DB_QUEUE_MAX) would refuse every check sharing it: while no edit was made
    // through this node since, the last good read (at most HOURS_STALE_FOR_MS old, same dates) answers them instead.
    const fallback = this.lastGoodForCheck.get(practiceId);
    const edits = this.edits;
    const entry = { edits, fromDate, startedAt: now, loaded: Promise.resolve(undefined as unknown as StoredHours) };
    entry.loaded = this.load(practiceId, fromDate).then(
      (stored) => {
        if (this.readForCheck.get(practiceId) === entry) this.lastGoodForCheck.set(practiceId, { edits, fromDate, at: performance.now(), stored });
        return stored;
      },
      (error: unknown) => {
        if (fallback && fallback.edits === this.edits && fallback.fromDate <= fromDate && performance.now() - fallback.at <= HOURS_STALE_FOR_MS)
          return fallback.stored;
        if (this.readForCheck.get(practiceId) === entry) this.readForCheck.delete(practiceId);
        throw error;
      },
    );
    this.readForCheck.set(practiceId, entry);
    return entry.loaded;
  }

  private compute(stored: StoredHours, now: Date): ComputedHoursStatus {
    return hoursStatus(stored, stored.exceptions, this.bankHolidays.dates, now);
  }

  /**
   * `compute`, remembered for the refusal checks that run on every message (Luxon's time-zone arithmetic over three
   * weeks of intervals cost about 2 ms of CPU per message; docs/benchmarks.md). The hours are still read on every call:
   * the remembered status is used only for the very same stored hours, from the instant it was computed until its next
   * change (`changesAt`), and for a minute at most, since the look-ahead window moves with the local day.
   */
  private computeForCheck(stored: StoredHours, now: Date): ComputedHoursStatus {
    const at = now.getTime();
    const remembered = this.computedForCheck.get(stored.practiceId);
    const isCurrent = (entry: NonNullable<typeof remembered>) => at >= entry.from && at < entry.until;
    // The shared read hands out the same object for a second: then the hours are the same without comparing them.
    if (remembered && remembered.storedObject === stored && isCurrent(remembered)) return remembered.status;
    const key = JSON.stringify(stored);
    if (remembered && remembered.stored === key && isCurrent(remembered)) {
      remembered.storedObject = stored;
      return remembered.status;
    }
    const status = this.compute(stored, now);
    this.computedForCheck.set(stored.practiceId, {
      stored: key,
      storedObject: stored,
      from: at,
      until: Math.min(status.changesAt?.getTime() ?? Infinity, at + 60_000),
      status,
    });
    return status;
  }
}

/**
 * The first date whose exceptions the status needs: the UTC date EXCEPTION_LOOK_BACK_DAYS before `now`. Plain UTC
 * arithmetic (UTC has no daylight saving): Luxon's costs more. The last one computed is kept (every message's check asks).
 */
function exceptionsFrom(now: Date): string {
  const day = Math.floor(now.getTime() / 86_400_000);
  if (day !== lastExceptionsFrom.day) {
    lastExceptionsFrom = { day, date: new Date((day - EXCEPTION_LOOK_BACK_DAYS) * 86_400_000).toISOString().slice(0, 10) };
  }
  return lastExceptionsFrom.date;
}
let lastExceptionsFrom = { day: Number.NaN, date: '' };

function outsideHours(why: string, status: ComputedHoursStatus, timeZone: string): DomainError {
  const when = status.nextOpening ? `It next opens on ${describeLocalTime(status.nextOpening, timeZone)}.` : 'It has no opening hours set for the coming year.';
  return new DomainError('outside_hours', `${why} ${when} If it is urgent, call 111, or 999 in an emergency.`, {
    nextOpening: status.nextOpening?.toISOString() ?? null,
    state: status.state,
  });
}

function toFact(stored: StoredHours, status: ComputedHoursStatus): HoursStatus {
  return {
    practiceId: stored.practiceId,
    state: status.state,
    isAcceptingNew: status.isAcceptingNew,
    closesAt: status.closesAt?.toISOString() ?? null,
    newConversationsUntil: status.newConversationsUntil?.toISOString() ?? null,
    nextOpening: status.nextOpening?.toISOString() ?? null,
    timeZone: stored.timeZone,
  };
}

const toMinutes = (interval: { start: string; end: string }) => ({ start: minutesOfLocalTime(interval.start), end: minutesOfLocalTime(interval.end) });
const toLocalTimes = (interval: { start: number; end: number }) => ({ start: localTimeOfMinutes(interval.start), end: localTimeOfMinutes(interval.end) });
