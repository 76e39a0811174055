import { Inject, Injectable, Logger, Optional, type OnApplicationBootstrap, type OnModuleDestroy } from '@nestjs/common';
import type { ClinicianState, ConversationSummary, QueuePosition, QueueSnapshot, SetClinicianCaps, SetPracticeLimits } from '@parley/protocol';
import { DateTime } from 'luxon';
import { isStaff, type Actor } from '../common/actor.js';
import { Clock } from '../common/clock.js';
import { APP_CONFIG, type AppConfig } from '../config.js';
import { DomainError } from '../common/domain-error.js';
import { RealtimePublisher } from '../common/realtime.publisher.js';
import { requireRole } from '../common/require-role.js';
import { rooms } from '../common/rooms.js';
import { AuditService, serverActor } from '../audit/audit.service.js';
import { SessionsService } from '../auth/sessions.service.js';
import { toConversationSummary } from '../common/conversation-row.js';
import { HoursService } from '../hours/hours.service.js';
import { RecordService } from '../record/record.service.js';
import { MetricsService } from '../metrics/metrics.service.js';
import { QueueRepository, type Assignment, type ClinicianRow } from './queue.repository.js';
import { estimateWait, type WaitEstimate } from './wait-estimate.js';

/** The handling-time median is taken over closed conversations of this many recent days, at most this many. */
const HANDLING_WINDOW_DAYS = 28;
const HANDLING_SAMPLE_LIMIT = 50;
/** The median moves slowly, and every open asks for it: each node reads it at most once a minute per practice. */
const HANDLING_READ_FOR_MS = 60_000;
/** Queue snapshots and positions wait this long so a burst of changes makes one announcement. */
const ANNOUNCE_DEBOUNCE_MS = 100;
/** How often each node looks for clinicians disconnected past the grace period. */
const SWEEP_INTERVAL_MS = 15_000;
/** A failed routing pass is tried again this soon (one retry pending per practice at most). */
const ROUTING_RETRY_MS = 1_000;

/**
 * The live queue: who may take what, under which caps. Every assignment goes through the
 * repository's one transaction, so the rules hold with any number of gateway nodes.
 */
@Injectable()
export class QueueService implements OnApplicationBootstrap, OnModuleDestroy {
  private readonly logger = new Logger(QueueService.name);
  /** Per practice: the routing pass under way on this node, and whether another must follow it. */
  private readonly routing = new Map<string, { pass: Promise<Assignment[]>; isRequestedAgain: boolean }>();
  /** Per practice: a routing pass to try again after one failed. */
  private readonly routingRetries = new Map<string, NodeJS.Timeout>();
  private isStopping = false;
  private readonly announcing = new Map<string, NodeJS.Timeout>();
  /** Per practice: this node's latest read of the handling-time median, and when it started. */
  private readonly handlingReads = new Map<string, { startedAt: number; read: Promise<{ median: number | null; samples: number }> }>();

  constructor(
    private readonly queue: QueueRepository,
    private readonly record: RecordService,
    private readonly realtime: RealtimePublisher,
    private readonly clock: Clock,
    private readonly audit: AuditService,
    private readonly hours: HoursService,
    private readonly sessions: SessionsService,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    @Optional() private readonly metrics?: MetricsService,
  ) {}

  private sweeper: NodeJS.Timeout | undefined;

  onApplicationBootstrap(): void {
    // Every node sweeps; the hand-back is one locked transaction per clinician, so two sweeps cannot double it.
    this.sweeper = setInterval(() => void this.sweep().catch((error: unknown) => this.logger.warn({ err: error }, 'sweep failed')), SWEEP_INTERVAL_MS);
    this.sweeper.unref();
  }

  private async sweep(): Promise<void> {
    // Linked by Redis, every node sees every socket: a clinician on record as connected whose sockets are all gone
    // (their node crashed, so no disconnect ran) starts the grace period. Unlinked nodes cannot see each other's sockets.
    if (this.config.redisUrl) await this.noteVanishedConnections();
    await this.returnWorkOfDeparted();
  }

  onModuleDestroy(): void {
    this.isStopping = true;
    clearInterval(this.sweeper);
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
    const timeZone = await this.queue.timeZoneOf(practiceId);
    const limits = await this.queue.practiceLimits(practiceId);
    const elsewhere = 'Please phone the practice, or call 111 if it is urgent.';
    if (limits.isIntakePaused) throw new DomainError('at_capacity', `The practice is not taking new online conversations just now. ${elsewhere}`);
    if (limits.maxNewPerDay !== null && (await this.queue.openedSince(practiceId, this.dayStart(timeZone))) >= limits.maxNewPerDay) {
      throw new DomainError('at_capacity', `The practice has reached today's limit for online conversations. ${elsewhere}`);
    }
    if (limits.maxQueue !== null && (await this.queue.waiting(practiceId)).length >= limits.maxQueue) {
      throw new DomainError('at_capacity', `Too many patients are waiting right now. ${elsewhere}`);
    }
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
      try {
        do {
          state.isRequestedAgain = false;
          made.push(...(await this.routeOnce(practiceId)));
        } while (state.isRequestedAgain);
      } catch (error) {
        // A pass that failed (a pool timeout under load, a lost connection) would leave patients waiting until something
        // else routes: try again shortly, whoever asked for this pass.
        this.retryRouting(practiceId);
        throw error;
      } finally {
        this.routing.delete(practiceId);
      }
      return made;
    })();
    this.routing.set(practiceId, state);
    return state.pass;
  }

  private retryRouting(practiceId: string): void {
    if (this.isStopping || this.routingRetries.has(practiceId)) return;
    const timer = setTimeout(() => {
      this.routingRetries.delete(practiceId);
      this.route(practiceId).catch((error: unknown) => this.logger.warn({ practiceId, err: error }, 'routing retry failed'));
    }, ROUTING_RETRY_MS);
    timer.unref();
    this.routingRetries.set(practiceId, timer);
  }

  private async routeOnce(practiceId: string): Promise<Assignment[]> {
    const timeZone = await this.queue.timeZoneOf(practiceId);
    const made = await this.queue.assignWaiting(practiceId, this.clock.now(), this.dayStart(timeZone));
    await this.recordAssignments(made);
    this.scheduleAnnouncement(practiceId);
    return made;
  }

  /** An honest reply time for a conversation opened now (the last in the queue), for the automatic acknowledgement. */
  async replyTimeText(practiceId: string): Promise<string> {
    // A count, not the rows: fetching every waiting conversation on every open made a burst of opens quadratic (docs/benchmarks.md).
    const [waiting, estimateAt] = await Promise.all([this.queue.waitingCount(practiceId), this.waitEstimator(practiceId)]);
    const estimate = estimateAt(Math.max(1, waiting));
    if (estimate.estimatedWaitMinutes !== null) return `about ${estimate.estimatedWaitMinutes} minutes`;
    if (estimate.nextSessionAt !== null) {
      const opening = DateTime.fromISO(estimate.nextSessionAt, { zone: await this.queue.timeZoneOf(practiceId) });
      return `after the practice opens again (${opening.toFormat("cccc d LLLL 'at' HH:mm")})`;
    }
    return 'when a clinician is next available';
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
    const timeZone = await this.queue.timeZoneOf(practiceId);
    const [clinicians, handling, status] = await Promise.all([
      clinicianRows ?? this.queue.clinicians(practiceId, this.dayStart(timeZone)),
      this.handlingMinutes(practiceId, now),
      this.hours.sharedStatus(practiceId),
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
    await this.audit.record(actor, 'conversation.claimed', { conversationId, subjectUserId: outcome.patientId });
    this.scheduleAnnouncement(actor.practiceId);
    return outcome;
  }

  /**
   * A clinician becomes available (and is given waiting work at once) or away: going away hands their
   * conversations back to the head of the queue, where colleagues pick them up; the patients are told.
   * @throws DomainError `forbidden`
   */
  async setAvailability(actor: Actor, availability: 'available' | 'away'): Promise<void> {
    requireRole(actor, 'clinician');
    await this.queue.setAvailability(actor.practiceId, actor.userId, availability);
    this.logger.log({ userId: actor.userId, availability }, 'availability changed');
    if (availability === 'away') await this.handBack(actor.practiceId, actor.userId, 'away');
    await this.route(actor.practiceId);
  }

  /** A clinician's socket connected: they are connected (back within any grace period, nothing handed back) and may be given work. */
  async clinicianConnected(actor: Actor): Promise<void> {
    if (!actor.roles.includes('clinician')) return;
    await this.queue.markConnected(actor.practiceId, actor.userId, this.clock.now());
    await this.route(actor.practiceId);
  }

  /**
   * A clinician's socket went away. If it was their last on any node: a session that ended (signed out,
   * expired, revoked) makes them offline at once and hands their conversations back to the queue head;
   * a dropped connection only starts the grace period (their conversations stay theirs, nothing new comes).
   */
  async clinicianDisconnected(actor: Actor, socketId: string): Promise<void> {
    if (!actor.roles.includes('clinician')) return;
    const checkedFrom = this.clock.now();
    // The closing socket has left its rooms before this runs, so of two tabs closing at once the later check sees neither.
    if ((await this.realtime.usersIn(rooms.user(actor.userId), socketId)).has(actor.userId)) return;
    if ((await this.sessions.endedReason(actor)) !== null) {
      await this.queue.markDisconnected(actor.userId, checkedFrom, checkedFrom);
      await this.queue.setAvailability(actor.practiceId, actor.userId, 'offline');
      this.logger.log({ userId: actor.userId }, 'clinician signed out: offline');
      await this.handBack(actor.practiceId, actor.userId, 'signed_out');
      await this.route(actor.practiceId);
      return;
    }
    if (await this.queue.markDisconnected(actor.userId, checkedFrom, checkedFrom)) this.scheduleAnnouncement(actor.practiceId);
  }

  /** Clinicians on record as connected with no socket on any node start their grace period (see sweep). */
  private async noteVanishedConnections(): Promise<void> {
    const checkedFrom = this.clock.now();
    const connected = await this.queue.connectedClinicians();
    for (const practiceId of new Set(connected.map((row) => row.practiceId))) {
      const present = await this.realtime.usersIn(rooms.practiceStaff(practiceId));
      let isChanged = false;
      for (const { userId } of connected.filter((row) => row.practiceId === practiceId && !present.has(row.userId))) {
        if (await this.queue.markDisconnected(userId, checkedFrom, checkedFrom)) isChanged = true;
      }
      if (isChanged) this.scheduleAnnouncement(practiceId);
    }
  }

  /**
   * Clinicians still available but disconnected for longer than the grace period go offline and their
   * conversations return to the head of the queue (then to whoever is free). Runs on a timer; tests call it.
   */
  async returnWorkOfDeparted(): Promise<void> {
    const cutoff = new Date(this.clock.now().getTime() - this.config.clinicianGraceSeconds * 1000);
    for (const departed of await this.queue.departedBefore(cutoff)) {
      await this.queue.setAvailability(departed.practiceId, departed.userId, 'offline');
      await this.handBack(departed.practiceId, departed.userId, 'disconnected');
      await this.route(departed.practiceId);
    }
  }

  /** Returns a clinician's conversations to the queue head, telling each patient through the record. */
  private async handBack(practiceId: string, clinicianId: string, reason: 'away' | 'disconnected' | 'signed_out' | 'offboarded'): Promise<number> {
    const returned = await this.queue.requeueAllOf(practiceId, clinicianId, this.clock.now());
    for (const { conversationId, patientId } of returned) {
      await this.record.append({ conversationId, system: { event: 'requeued', data: { fromClinicianId: clinicianId, reason } } });
      await this.audit.record(serverActor(practiceId), 'conversation.requeued', { conversationId, subjectUserId: patientId, data: { fromUserId: clinicianId, reason } });
    }
    if (returned.length > 0) this.logger.log({ clinicianId, count: returned.length, reason }, 'conversations handed back to the queue');
    return returned.length;
  }

  /**
   * An offboarded clinician takes no more work: they go offline (routing skips them from now on) and
   * every conversation they hold goes back to the head of the queue, each patient told through the
   * record (`requeued`, reason `offboarded`); then routing runs. Returns how many were handed back.
   */
  async releaseClinician(practiceId: string, clinicianId: string): Promise<number> {
    // Offline first, under the routing locks: a routing pass running now finishes first, and the hand-back below collects what it assigned.
    await this.queue.setAvailability(practiceId, clinicianId, 'offline');
    const count = await this.handBack(practiceId, clinicianId, 'offboarded');
    await this.route(practiceId);
    return count;
  }

  /** A manager sets a clinician's caps; a raise assigns waiting conversations at once, a cut drops none. @throws DomainError `forbidden`, `not_found` */
  async setClinicianCaps(actor: Actor, caps: SetClinicianCaps): Promise<void> {
    requireRole(actor, 'manager');
    const isSet = await this.queue.setClinicianCaps(actor.practiceId, caps.clinicianId, { maxConcurrent: caps.maxConcurrent, dailyMax: caps.dailyMax });
    if (!isSet) throw new DomainError('not_found', 'No such clinician at this practice.');
    await this.audit.record(actor, 'capacity.changed', { data: { clinicianId: caps.clinicianId, maxConcurrent: caps.maxConcurrent, dailyMax: caps.dailyMax } });
    await this.route(actor.practiceId);
  }

  /** A manager sets the practice's limits. @throws DomainError `forbidden` */
  async setPracticeLimits(actor: Actor, limits: SetPracticeLimits): Promise<void> {
    requireRole(actor, 'manager');
    await this.queue.setPracticeLimits(actor.practiceId, limits);
    await this.audit.record(actor, 'capacity.changed', { data: { maxQueue: limits.maxQueue, maxNewPerDay: limits.maxNewPerDay, isIntakePaused: limits.isIntakePaused } });
    this.scheduleAnnouncement(actor.practiceId);
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

  private async buildSnapshot(practiceId: string, timeZone: string): Promise<{ snapshot: QueueSnapshot; rows: ClinicianRow[] }> {
    const [waiting, rows, limits] = await Promise.all([
      this.queue.waiting(practiceId),
      this.queue.clinicians(practiceId, this.dayStart(timeZone)),
      this.queue.practiceLimits(practiceId),
    ]);
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
      waiting: waiting.map((entry) => ({ conversationId: entry.id, topic: entry.topic, waitingSince: entry.queuedAt.toISOString(), urgentAt: entry.urgentAt?.toISOString() ?? null })),
      clinicians,
      limits,
    };
    return { snapshot, rows };
  }

  /** Writes each assignment into its conversation's record (the patient sees it) and tells the assignee's devices. */
  private async recordAssignments(made: readonly Assignment[]): Promise<void> {
    await Promise.all(
      made.map(async (assignment) => {
        this.metrics?.assigned(assignment.how);
        await this.record.append({ conversationId: assignment.conversationId, system: { event: 'assigned', data: { clinicianId: assignment.clinicianId, how: assignment.how } } });
        if (assignment.how === 'auto') {
          await this.audit.record(serverActor(assignment.practiceId), 'conversation.assigned', { conversationId: assignment.conversationId, subjectUserId: assignment.patientId, data: { assigneeUserId: assignment.clinicianId } });
        }
        this.realtime.publish(rooms.user(assignment.clinicianId), 'conversation:assigned', { conversationId: assignment.conversationId, clinicianId: assignment.clinicianId, how: assignment.how });
      }),
    );
  }

  private scheduleAnnouncement(practiceId: string): void {
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
    const { snapshot, rows } = await this.buildSnapshot(practiceId, await this.queue.timeZoneOf(practiceId));
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
    return DateTime.fromJSDate(this.clock.now(), { zone: timeZone }).startOf('day').toJSDate();
  }
}
