import { Injectable, Logger, Optional, type OnModuleDestroy } from '@nestjs/common';
import type { ClinicianState, ConversationSummary, QueuePosition, QueueSnapshot, SetPracticeLimits } from '@parley/protocol';
import { DateTime } from 'luxon';
import { isStaff, type Actor } from '../common/actor.js';
import { Clock } from '../common/clock.js';
import { DomainError } from '../common/domain-error.js';
import { RealtimePublisher } from '../common/realtime.publisher.js';
import { requireRole } from '../common/require-role.js';
import { rooms } from '../common/rooms.js';
import { AuditService, serverActor } from '../audit/audit.service.js';
import { toConversationSummary } from '../common/conversation-row.js';
import { HoursService } from '../hours/hours.service.js';
import { RecordService } from '../record/record.service.js';
import type { NewEntry } from '../record/record.types.js';
import type { Db } from '../database/sql.js';
import { MetricsService } from '../metrics/metrics.service.js';
import { RoutingRepository, type Assignment, type ClinicianRow } from './routing.repository.js';
import { SharedReads } from '../common/shared-reads.js';
import { estimateWait, type WaitEstimate } from './wait-estimate.js';

/** The handling-time median is taken over closed conversations of this many recent days, at most this many. */
const HANDLING_WINDOW_DAYS = 28;
const HANDLING_SAMPLE_LIMIT = 50;
/** The median moves slowly, and every open asks for it: each node reads it at most once a minute per practice. */
const HANDLING_READ_FOR_MS = 60_000;
/** Queue snapshots and positions wait this long so a burst of changes makes one announcement. */
const ANNOUNCE_DEBOUNCE_MS = 100;
/**
 * How long the opens of one practice share a read of its limits, and the wait estimates one of its clinicians' loads.
 * A change of the limits or of a clinician's availability, connection or caps through this node (`practiceLimitsChanged`,
 * `cliniciansChanged`) shows at once; the loads that assignments and closes move, with the announcement that follows them.
 */
const PRACTICE_READ_SHARED_FOR_MS = 1_000;
/** A failed routing pass is tried again this soon (one retry pending per practice at most). */
const ROUTING_RETRY_MS = 1_000;
/** A pass that passed over a waiting conversation (its row held by another transaction for a moment) is followed by another this soon. */
const PASSED_OVER_RETRY_MS = 200;

/**
 * The live queue: patients waiting in order, and their assignment to clinicians under their caps (routing
 * passes and claims). Every assignment goes through the repository's one transaction (`assignment-locks.ts`),
 * so the rules hold with any number of gateway nodes. What changes capacity (availability, caps, limits) is
 * `capacity/`'s, which calls `cliniciansChanged`, `route` and `scheduleAnnouncement` here after each change.
 */
@Injectable()
export class RoutingService implements OnModuleDestroy {
  private readonly logger = new Logger(RoutingService.name);
  /** Per practice: the routing pass under way on this node, and whether another must follow it. */
  private readonly routing = new Map<string, { pass: Promise<Assignment[]>; isRequestedAgain: boolean }>();
  /** Per practice: a routing pass to try again after one failed. */
  private readonly routingRetries = new Map<string, NodeJS.Timeout>();
  private isStopping = false;
  private readonly announcing = new Map<string, NodeJS.Timeout>();
  /** Per practice: this node's latest read of the handling-time median, and when it started. */
  private readonly handlingReads = new Map<string, { startedAt: number; read: Promise<{ median: number | null; samples: number }> }>();
  /** The practice's intake limits, one read shared by the opens of up to a second. */
  private readonly limitReads = new SharedReads<SetPracticeLimits>(PRACTICE_READ_SHARED_FOR_MS, (practiceId) => this.queue.practiceLimits(practiceId));
  /**
   * The clinicians' loads for wait estimates (every open's acknowledgement), one read shared for up to a second; each
   * announcement reads them afresh through it (`announce`), so the opens after it share what it read.
   */
  private readonly clinicianReads = new SharedReads<ClinicianRow[]>(PRACTICE_READ_SHARED_FOR_MS, async (practiceId) =>
    this.queue.clinicians(practiceId, await this.hours.localDayStart(practiceId)),
  );

  constructor(
    private readonly queue: RoutingRepository,
    private readonly record: RecordService,
    private readonly realtime: RealtimePublisher,
    private readonly clock: Clock,
    private readonly audit: AuditService,
    private readonly hours: HoursService,
    @Optional() private readonly metrics?: MetricsService,
  ) {}

  onModuleDestroy(): void {
    this.isStopping = true;
    for (const timer of this.routingRetries.values()) clearTimeout(timer);
    this.routingRetries.clear();
    for (const timer of this.announcing.values()) clearTimeout(timer);
    this.announcing.clear();
  }

  /**
   * Refuses a new conversation only for limits a manager set on purpose: intake paused, the daily
   * demand cap, the queue limit. Full clinicians never refuse: the conversation waits.
   * @throws DomainError `at_capacity` (with what to do instead)
   */
  async assertCanOpen(practiceId: string): Promise<void> {
    const limits = await this.limitReads.get(practiceId);
    const elsewhere = 'Please phone the practice, or call 111 if it is urgent.';
    if (limits.isIntakePaused) throw new DomainError('at_capacity', `The practice is not taking new online conversations just now. ${elsewhere}`);
    if (limits.maxNewPerDay !== null && (await this.queue.openedSince(practiceId, await this.hours.localDayStart(practiceId))) >= limits.maxNewPerDay) {
      throw new DomainError('at_capacity', `The practice has reached today's limit for online conversations. ${elsewhere}`);
    }
    if (limits.maxQueue !== null && (await this.queue.waitingCount(practiceId)) >= limits.maxQueue) {
      throw new DomainError('at_capacity', `Too many patients are waiting right now. ${elsewhere}`);
    }
  }

  /** The practice's intake limits were changed through this node: the next open reads them afresh. */
  practiceLimitsChanged(practiceId: string): void {
    this.limitReads.forget(practiceId);
  }

  /**
   * A clinician's availability, connection or caps were changed through this node: the next wait estimate reads the
   * clinicians afresh (a patient opening now is not promised a clinician who just went away), and the staff are told.
   */
  cliniciansChanged(practiceId: string): void {
    this.clinicianReads.forget(practiceId);
    this.scheduleAnnouncement(practiceId);
  }

  /**
   * Assigns whatever can be assigned now and tells everyone concerned. Call after anything that adds
   * work or frees capacity. A burst of calls for one practice collapses into at most one running
   * pass plus one more (single flight): each caller's change is covered by a pass that starts after it.
   */
  route(practiceId: string): Promise<Assignment[]> {
    const running = this.routing.get(practiceId);
    if (running) {
      running.isRequestedAgain = true;
      return running.pass;
    }
    const state = { pass: Promise.resolve<Assignment[]>([]), isRequestedAgain: false };
    state.pass = (async () => {
      const made: Assignment[] = [];
      const recording: Promise<void>[] = [];
      try {
        do {
          state.isRequestedAgain = false;
          const pass = await this.routeOnce(practiceId);
          made.push(...pass.made);
          recording.push(pass.recorded);
        } while (state.isRequestedAgain);
      } catch (error) {
        // A pass that failed (a pool timeout under load, a lost connection) would leave patients waiting until something
        // else routes: try again shortly, whoever asked for this pass.
        this.retryRouting(practiceId);
        throw error;
      } finally {
        this.routing.delete(practiceId);
      }
      // The record entries of the passes are written while the next pass runs: under a burst of opens the next pass
      // (and with it the next assignments) does not wait for the previous one's record commit.
      await Promise.all(recording);
      return made;
    })();
    this.routing.set(practiceId, state);
    return state.pass;
  }

  private retryRouting(practiceId: string, afterMs = ROUTING_RETRY_MS): void {
    if (this.isStopping || this.routingRetries.has(practiceId)) return;
    const timer = setTimeout(() => {
      this.routingRetries.delete(practiceId);
      this.route(practiceId).catch((error: unknown) => this.logger.warn({ practiceId, err: error }, 'routing retry failed'));
    }, afterMs);
    timer.unref();
    this.routingRetries.set(practiceId, timer);
  }

  /** One routing pass: its transaction, then the assignees told at once; `recorded` settles when its record entries are written. */
  private async routeOnce(practiceId: string): Promise<{ made: Assignment[]; recorded: Promise<void> }> {
    // The day's start from the hours' shared read (no query in the common case); should that read fail (a busy pool), the
    // pass reads the time zone on its own transaction's connection instead, so it is never refused before it starts.
    const dayStart = await this.hours.localDayStart(practiceId).catch(() => undefined);
    // The audit rows of the automatic assignments commit with them (one statement), so none is lost and none waits for the pool.
    const { made, isRoomLeft } = await this.queue.assignWaiting(
      practiceId,
      this.clock.now(),
      dayStart ?? ((timeZone) => this.dayStart(timeZone)),
      (db, assigned) => this.auditAssignments(practiceId, assigned, db),
    );
    // The assignees hear at once, right after the commit; the record entries (one batch) follow.
    this.announceAssignments(made);
    this.scheduleAnnouncement(practiceId);
    const recorded = this.recordAssignments(made);
    // Awaited by `route` after its last pass; meanwhile a rejection is not left unhandled.
    recorded.catch(() => undefined);
    if (isRoomLeft) this.routeAgainIfPassedOver(practiceId);
    return { made, recorded };
  }

  /**
   * After a pass that left room: if a conversation still waits, the pass skipped its row (another transaction held it),
   * and nothing else may come to route it (no open, no change of capacity): a patient must not wait beside a free
   * clinician. Asked after the assignees were told; a failed question routes again too.
   */
  private routeAgainIfPassedOver(practiceId: string): void {
    this.queue.isRoutableWaiting(practiceId).then(
      (isWaiting) => isWaiting && this.retryRouting(practiceId, PASSED_OVER_RETRY_MS),
      () => this.retryRouting(practiceId, PASSED_OVER_RETRY_MS),
    );
  }

  /** The audit rows of automatic assignments, in their transaction (`db`). */
  private auditAssignments(practiceId: string, made: readonly Assignment[], db: Db): Promise<void> {
    return this.audit.recordAll(
      made.map((assignment) => ({
        actor: serverActor(practiceId),
        action: 'conversation.assigned' as const,
        details: { conversationId: assignment.conversationId, subjectUserId: assignment.patientId, data: { assigneeUserId: assignment.clinicianId } },
      })),
      db,
    );
  }

  /**
   * Routes a group of conversations being opened, in the transaction that opens them (`db`), when nothing else of the
   * practice waits (`RoutingRepository.assignOnOpen`): their audit rows go with the assignments, and `inTransaction`
   * writes the opener's own rows given the assignments made (maybe none), the record's `assigned` entries
   * (`assignedEntries`) among them. Once committed, the caller hands the assignments to `assignedOnOpen`; a conversation
   * left waiting is routed by a pass as usual.
   */
  assignOnOpen(
    db: Db,
    practiceId: string,
    conversations: readonly { id: string; patientId: string }[],
    dayStart: Date,
    inTransaction: (db: Db, made: readonly Assignment[]) => Promise<void>,
  ): Promise<Assignment[]> {
    return this.queue.assignOnOpen(db, practiceId, conversations, this.clock.now(), dayStart, async (db, made) => {
      // The opener's rows first: its `conversation.opened` audit row goes ahead of the `conversation.assigned` ones.
      await Promise.all([inTransaction(db, made), this.auditAssignments(practiceId, made, db)]);
    });
  }

  /** After the open's COMMIT: the assignees hear of what `assignOnOpen` gave them, and the practice's staff of the queue. */
  assignedOnOpen(practiceId: string, made: readonly Assignment[]): void {
    for (const assignment of made) this.metrics?.assigned(assignment.how);
    this.announceAssignments(made);
    this.scheduleAnnouncement(practiceId);
  }

  /**
   * An honest reply time for a conversation opened now (the last in the queue), for the automatic acknowledgement.
   * `waiting`: how many wait now, this one included, when the caller counted them already.
   */
  async replyTimeText(practiceId: string, waiting?: number): Promise<string> {
    // A count, not the rows: fetching every waiting conversation on every open made a burst of opens quadratic (docs/benchmarks.md).
    const [counted, write] = await Promise.all([waiting ?? this.queue.waitingCount(practiceId), this.replyTimeWriter(practiceId)]);
    return write(counted);
  }

  /**
   * `replyTimeText` in two steps: what the estimate needs is read first (shared reads), and the text for a queue length
   * is written later without a query. The open reads before its transaction, so nothing after its COMMIT can be refused.
   */
  async replyTimeWriter(practiceId: string): Promise<(waiting: number) => string> {
    const [estimateAt, status] = await Promise.all([this.waitEstimator(practiceId), this.hours.status(practiceId)]);
    return (waiting) => {
      const estimate = estimateAt(Math.max(1, waiting));
      if (estimate.estimatedWaitMinutes !== null) return `about ${estimate.estimatedWaitMinutes} minutes`;
      if (estimate.nextSessionAt !== null) {
        const opening = DateTime.fromISO(estimate.nextSessionAt, { zone: status.timeZone });
        return `after the practice opens again (${opening.toFormat("cccc d LLLL 'at' HH:mm")})`;
      }
      return 'when a clinician is next available';
    };
  }

  /** The practice's recent handling-time median, read at most once a minute per practice on this node (HANDLING_READ_FOR_MS). */
  private handlingMinutes(practiceId: string, now: Date): Promise<{ median: number | null; samples: number }> {
    const shared = this.handlingReads.get(practiceId);
    // Aged on the gateway's clock, so a moved test clock ages it too.
    if (shared && now.getTime() - shared.startedAt >= 0 && now.getTime() - shared.startedAt < HANDLING_READ_FOR_MS) return shared.read;
    const read = this.queue.handlingMinutes(practiceId, new Date(now.getTime() - HANDLING_WINDOW_DAYS * 86_400_000), HANDLING_SAMPLE_LIMIT);
    const entry = { startedAt: now.getTime(), read };
    this.handlingReads.set(practiceId, entry);
    // A failed read is not kept: the next estimate reads again.
    read.catch(() => this.handlingReads.get(practiceId) === entry && this.handlingReads.delete(practiceId));
    return read;
  }

  /**
   * The wait estimate for any place in the practice's queue, from its recent handling times, the
   * clinicians available and connected now with their free capacity, and the opening hours (see wait-estimate.ts).
   */
  private async waitEstimator(practiceId: string, clinicianRows?: readonly ClinicianRow[]): Promise<(position: number) => WaitEstimate> {
    const now = this.clock.now();
    const [clinicians, handling, status] = await Promise.all([
      clinicianRows ?? this.clinicianReads.get(practiceId),
      this.handlingMinutes(practiceId, now),
      this.hours.status(practiceId),
    ]);
    const reachable = clinicians
      .filter((c) => c.availability === 'available' && c.isConnected)
      .map((c) => ({ maxConcurrent: c.maxConcurrent, active: c.active, dailyRemaining: c.dailyMax === null ? null : Math.max(0, c.dailyMax - c.today) }));
    const hours = {
      isOpen: status.state !== 'closed',
      closesAt: status.closesAt ? new Date(status.closesAt) : null,
      nextOpening: status.nextOpening ? new Date(status.nextOpening) : null,
    };
    return (position) => estimateWait({ position, now, handling, clinicians: reachable, hours });
  }

  /**
   * A clinician takes a waiting conversation of their practice.
   * @throws DomainError `forbidden` (not a clinician), `conflict` (no longer waiting), `at_capacity` (at their cap, or not available)
   */
  async claim(actor: Actor, conversationId: string): Promise<Assignment> {
    requireRole(actor, 'clinician');
    const timeZone = await this.queue.timeZoneOf(actor.practiceId);
    const outcome = await this.queue.claim(actor.practiceId, actor.userId, conversationId, this.clock.now(), this.dayStart(timeZone));
    if (outcome === 'not_waiting') throw new DomainError('conflict', 'That conversation is not waiting any more.');
    if (outcome === 'at_cap') throw new DomainError('at_capacity', 'You are at your limit of conversations.');
    if (outcome === 'not_available') throw new DomainError('at_capacity', 'Set yourself available first.');
    await this.recordAssignments([outcome]);
    this.announceAssignments([outcome]);
    await this.audit.record(actor, 'conversation.claimed', { conversationId, subjectUserId: outcome.patientId });
    this.scheduleAnnouncement(actor.practiceId);
    return outcome;
  }

  /** The live queue and every clinician's load. @throws DomainError `forbidden` (patients) */
  async snapshot(actor: Actor): Promise<QueueSnapshot> {
    if (!isStaff(actor)) throw new DomainError('forbidden');
    return (await this.buildSnapshot(actor.practiceId, await this.queue.timeZoneOf(actor.practiceId))).snapshot;
  }

  /**
   * The patient's device marks their conversation urgent (after showing the red-flag advice): it moves
   * to the head of the queue, behind only conversations marked earlier. The server learns the mark,
   * never the words. A second mark keeps the first time and changes nothing.
   * @throws DomainError `forbidden` (not a patient), `not_found` (not their conversation, or closed)
   */
  async markUrgent(actor: Actor, conversationId: string): Promise<{ conversation: ConversationSummary }> {
    requireRole(actor, 'patient');
    const marked = await this.queue.markUrgent(actor.userId, conversationId, this.clock.now());
    if (!marked) throw new DomainError('not_found', 'No such open conversation of yours.');
    if (marked.isNew) {
      await this.record.append({ conversationId, system: { event: 'marked_urgent', data: {} } });
      await this.audit.record(actor, 'conversation.marked_urgent', { conversationId, subjectUserId: actor.userId });
      this.logger.log({ conversationId }, 'conversation marked urgent');
      this.scheduleAnnouncement(marked.conversation.practiceId);
    }
    return { conversation: toConversationSummary(marked.conversation) };
  }

  private async buildSnapshot(
    practiceId: string,
    timeZone: string,
    clinicianRows = this.queue.clinicians(practiceId, this.dayStart(timeZone)),
  ): Promise<{ snapshot: QueueSnapshot; rows: ClinicianRow[] }> {
    const [waiting, rows, limits] = await Promise.all([this.queue.waiting(practiceId), clinicianRows, this.queue.practiceLimits(practiceId)]);
    const clinicians: ClinicianState[] = rows.map((row) => ({
      clinicianId: row.userId,
      displayName: row.displayName,
      availability: row.availability,
      isConnected: row.isConnected,
      active: row.active,
      maxConcurrent: row.maxConcurrent,
      today: row.today,
      dailyMax: row.dailyMax,
    }));
    const snapshot: QueueSnapshot = {
      practiceId,
      waiting: waiting.map((entry) => ({
        conversationId: entry.id,
        topic: entry.topic,
        waitingSince: entry.queuedAt.toISOString(),
        urgentAt: entry.urgentAt?.toISOString() ?? null,
      })),
      clinicians,
      limits,
    };
    return { snapshot, rows };
  }

  /** Writes the assignments into their conversations' records (the patient sees them), in one batch. */
  private async recordAssignments(made: readonly Assignment[]): Promise<void> {
    if (made.length === 0) return;
    for (const assignment of made) this.metrics?.assigned(assignment.how);
    await this.record.appendAll(assignedEntries(made));
  }

  /** Tells each assignee's devices of their new conversations. */
  private announceAssignments(made: readonly Assignment[]): void {
    for (const assignment of made) {
      this.realtime.publish(rooms.user(assignment.clinicianId), 'conversation:assigned', {
        conversationId: assignment.conversationId,
        clinicianId: assignment.clinicianId,
        how: assignment.how,
      });
    }
  }

  /**
   * Tells the practice's staff and waiting patients the queue soon: a burst of changes makes one announcement. The loads
   * the change moved reach the wait estimates with it (`announce`), not at once: under a burst of opens every group
   * assigns, and a fresh read of the clinicians for each group's acknowledgements kept the opens waiting (docs/benchmarks.md, step 21).
   */
  scheduleAnnouncement(practiceId: string): void {
    if (this.announcing.has(practiceId)) return;
    const timer = setTimeout(() => {
      this.announcing.delete(practiceId);
      this.announce(practiceId).catch((error: unknown) => this.logger.warn({ practiceId, err: error }, 'queue announcement failed'));
    }, ANNOUNCE_DEBOUNCE_MS);
    timer.unref();
    this.announcing.set(practiceId, timer);
  }

  /** Tells the practice's staff the queue and every waiting patient their place and an honest estimate. */
  private async announce(practiceId: string): Promise<void> {
    // Read afresh (whatever scheduled this changed the queue or the loads), and shared with the estimates that follow.
    this.clinicianReads.forget(practiceId);
    const { snapshot, rows } = await this.buildSnapshot(practiceId, await this.queue.timeZoneOf(practiceId), this.clinicianReads.get(practiceId));
    this.realtime.publish(rooms.practiceStaff(practiceId), 'queue:updated', snapshot);
    const waitingPatients = await this.queue.waitingPatients(practiceId);
    if (waitingPatients.length === 0) return;
    const estimateAt = await this.waitEstimator(practiceId, rows);
    waitingPatients.forEach((entry, index) => {
      const position = index + 1;
      const fact: QueuePosition = { conversationId: entry.id, position, ...estimateAt(position) };
      this.realtime.publish(rooms.user(entry.patientId), 'queue:position', fact);
    });
  }

  /** Midnight in the practice's time zone: where daily caps restart. */
  private dayStart(timeZone: string): Date {
    return this.hours.dayStartIn(timeZone);
  }
}

export type { Assignment };

/** The record's `assigned` entry of each assignment. */
export function assignedEntries(made: readonly Assignment[]): NewEntry[] {
  return made.map((assignment) => ({
    conversationId: assignment.conversationId,
    system: { event: 'assigned' as const, data: { clinicianId: assignment.clinicianId, how: assignment.how } },
  }));
}
