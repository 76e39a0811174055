import { Inject, Injectable, Logger, type OnApplicationBootstrap, type OnModuleDestroy } from '@nestjs/common';
import type { RequeueReason, SetAvailability, SetClinicianCaps, SetPracticeLimits } from '@parley/protocol';
import { AuditService, serverActor } from '../audit/audit.service.js';
import type { Actor } from '../common/actor.js';
import { Clock } from '../common/clock.js';
import { DomainError } from '../common/domain-error.js';
import { RealtimePublisher } from '../common/realtime.publisher.js';
import { requireRole } from '../common/require-role.js';
import { rooms } from '../common/rooms.js';
import { APP_CONFIG, type AppConfig } from '../config.js';
import { RecordService } from '../record/record.service.js';
import { RoutingService } from '../routing/routing.service.js';
import { SessionsService } from '../sessions/sessions.service.js';
import { CapacityRepository } from './capacity.repository.js';

/** How often each node looks for clinicians disconnected past the grace period. */
const SWEEP_INTERVAL_MS = 15_000;

/**
 * What a clinician can take: their availability and connection (with the grace period after a dropped one),
 * their caps and the practice's limits, as clinicians and managers change them live. Each change that frees
 * capacity or takes it away hands work back to the queue head or routes waiting work (through `RoutingService`).
 */
@Injectable()
export class CapacityService implements OnApplicationBootstrap, OnModuleDestroy {
  private readonly logger = new Logger(CapacityService.name);
  private sweeper: NodeJS.Timeout | undefined;

  constructor(
    private readonly capacity: CapacityRepository,
    private readonly routing: RoutingService,
    private readonly record: RecordService,
    private readonly realtime: RealtimePublisher,
    private readonly clock: Clock,
    private readonly audit: AuditService,
    private readonly sessions: SessionsService,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  onApplicationBootstrap(): void {
    // Every node sweeps; the hand-back is one locked transaction per clinician, so two sweeps cannot double it.
    this.sweeper = setInterval(() => void this.sweep().catch((error: unknown) => this.logger.warn({ err: error }, 'sweep failed')), SWEEP_INTERVAL_MS);
    this.sweeper.unref();
  }

  onModuleDestroy(): void {
    clearInterval(this.sweeper);
  }

  private async sweep(): Promise<void> {
    // Linked by Redis, every node sees every socket: a clinician on record as connected whose sockets are all gone
    // (their node crashed, so no disconnect ran) starts the grace period. Unlinked nodes cannot see each other's sockets.
    if (this.config.redisUrl) await this.noteVanishedConnections();
    await this.returnWorkOfDeparted();
  }

  /**
   * A clinician becomes available (and is given waiting work at once) or away: going away hands their
   * conversations back to the head of the queue, where colleagues pick them up; the patients are told.
   * @throws DomainError `forbidden`
   */
  async setAvailability(actor: Actor, availability: SetAvailability['availability']): Promise<void> {
    requireRole(actor, 'clinician');
    await this.capacity.setAvailability(actor.practiceId, actor.userId, availability);
    this.routing.cliniciansChanged(actor.practiceId);
    this.logger.log({ userId: actor.userId, availability }, 'availability changed');
    if (availability === 'away') await this.handBack(actor.practiceId, actor.userId, 'away');
    await this.routing.route(actor.practiceId);
  }

  /** A clinician's socket connected: they are connected (back within any grace period, nothing handed back) and may be given work. */
  async clinicianConnected(actor: Actor): Promise<void> {
    if (!actor.roles.includes('clinician')) return;
    await this.capacity.markConnected(actor.practiceId, actor.userId, this.clock.now());
    this.routing.cliniciansChanged(actor.practiceId);
    await this.routing.route(actor.practiceId);
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
    // From the database, not the per-command cache: the sign-out that closed this socket may not have reached the cache yet.
    if ((await this.sessions.status(actor)).reason !== null) {
      await this.capacity.markDisconnected(actor.userId, checkedFrom, checkedFrom);
      await this.capacity.setAvailability(actor.practiceId, actor.userId, 'offline');
      this.routing.cliniciansChanged(actor.practiceId);
      this.logger.log({ userId: actor.userId }, 'clinician signed out: offline');
      await this.handBack(actor.practiceId, actor.userId, 'signed_out');
      await this.routing.route(actor.practiceId);
      return;
    }
    if (await this.capacity.markDisconnected(actor.userId, checkedFrom, checkedFrom)) this.routing.cliniciansChanged(actor.practiceId);
  }

  /** Clinicians on record as connected with no socket on any node start their grace period (see sweep). */
  private async noteVanishedConnections(): Promise<void> {
    const checkedFrom = this.clock.now();
    const connected = await this.capacity.connectedClinicians();
    for (const practiceId of new Set(connected.map((row) => row.practiceId))) {
      const present = await this.realtime.usersIn(rooms.practiceStaff(practiceId));
      let isChanged = false;
      for (const { userId } of connected.filter((row) => row.practiceId === practiceId && !present.has(row.userId))) {
        if (await this.capacity.markDisconnected(userId, checkedFrom, checkedFrom)) isChanged = true;
      }
      if (isChanged) this.routing.cliniciansChanged(practiceId);
    }
  }

  /**
   * Clinicians still available but disconnected for longer than the grace period go offline and their
   * conversations return to the head of the queue (then to whoever is free). Runs on a timer; tests call it.
   */
  async returnWorkOfDeparted(): Promise<void> {
    const cutoff = new Date(this.clock.now().getTime() - this.config.clinicianGraceSeconds * 1000);
    for (const departed of await this.capacity.departedBefore(cutoff)) {
      await this.capacity.setAvailability(departed.practiceId, departed.userId, 'offline');
      this.routing.cliniciansChanged(departed.practiceId);
      await this.handBack(departed.practiceId, departed.userId, 'disconnected');
      await this.routing.route(departed.practiceId);
    }
  }

  /** Returns a clinician's conversations to the queue head, telling each patient through the record. */
  private async handBack(practiceId: string, clinicianId: string, reason: RequeueReason): Promise<number> {
    const returned = await this.capacity.requeueAllOf(practiceId, clinicianId, this.clock.now());
    for (const { conversationId, patientId } of returned) {
      await this.record.append({ conversationId, system: { event: 'requeued', data: { fromClinicianId: clinicianId, reason } } });
      await this.audit.record(serverActor(practiceId), 'conversation.requeued', {
        conversationId,
        subjectUserId: patientId,
        data: { fromUserId: clinicianId, reason },
      });
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
    await this.capacity.setAvailability(practiceId, clinicianId, 'offline');
    this.routing.cliniciansChanged(practiceId);
    const count = await this.handBack(practiceId, clinicianId, 'offboarded');
    await this.routing.route(practiceId);
    return count;
  }

  /** A manager sets a clinician's caps; a raise assigns waiting conversations at once, a cut drops none. @throws DomainError `forbidden`, `not_found` */
  async setClinicianCaps(actor: Actor, caps: SetClinicianCaps): Promise<void> {
    requireRole(actor, 'manager');
    const isSet = await this.capacity.setClinicianCaps(actor.practiceId, caps.clinicianId, { maxConcurrent: caps.maxConcurrent, dailyMax: caps.dailyMax });
    if (!isSet) throw new DomainError('not_found', 'No such clinician at this practice.');
    this.routing.cliniciansChanged(actor.practiceId);
    await this.audit.record(actor, 'capacity.changed', { data: { clinicianId: caps.clinicianId, maxConcurrent: caps.maxConcurrent, dailyMax: caps.dailyMax } });
    await this.routing.route(actor.practiceId);
  }

  /** A manager sets the practice's limits. @throws DomainError `forbidden` */
  async setPracticeLimits(actor: Actor, limits: SetPracticeLimits): Promise<void> {
    requireRole(actor, 'manager');
    await this.capacity.setPracticeLimits(actor.practiceId, limits);
    this.routing.practiceLimitsChanged(actor.practiceId);
    await this.audit.record(actor, 'capacity.changed', {
      data: { maxQueue: limits.maxQueue, maxNewPerDay: limits.maxNewPerDay, isIntakePaused: limits.isIntakePaused },
    });
    this.routing.scheduleAnnouncement(actor.practiceId);
  }
}
