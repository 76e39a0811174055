import { Injectable } from '@nestjs/common';
import type { AuditAction, AuditEvent, AuditPage, AuditQuery, People } from '@parley/protocol';
import type { Actor } from '../common/actor.js';
import { Clock } from '../common/clock.js';
import { requireRole } from '../common/require-role.js';
import { isUuid, type Db } from '../database/sql.js';
import { AuditRepository, type NewAuditEvent } from './audit.repository.js';

/** Who acted: a signed-in user (an `Actor` fits), or the server itself (`serverActor`). */
export interface AuditActor {
  practiceId: string;
  /** Null when the server acted by itself. */
  userId: string | null;
  deviceId?: string | null;
}

/**
 * What an event is about. `data` holds ids, codes, numbers and flags only — never message content,
 * names, NHS numbers or free text, because the log is kept for good and read by managers.
 */
export interface AuditDetails {
  conversationId?: string;
  /** The patient concerned. */
  subjectUserId?: string;
  data?: Record<string, string | number | boolean | null | readonly (string | number)[]>;
}

/** The actor of what the server does by itself (automatic assignment, return to the queue after a grace period). */
export const serverActor = (practiceId: string): AuditActor => ({ practiceId, userId: null, deviceId: null });

const DEFAULT_PAGE = 50;

/** The append-only trail of who did what in a practice (ids only), and its viewer for managers. */
@Injectable()
export class AuditService {
  constructor(
    private readonly events: AuditRepository,
    private readonly clock: Clock,
  ) {}

  /**
   * Appends an event to the actor's practice's trail, timed by the Clock. It rejects if the row
   * cannot be stored: a caller that must not act unaudited (a staff read) awaits it before answering.
   * With `db` (a caller's transaction) the row commits together with what it records, or not at all.
   */
  async record(actor: AuditActor, action: AuditAction, details: AuditDetails = {}, db?: Db): Promise<void> {
    const event = this.toEvent(actor, action, details);
    await (db ? this.events.append(event, db) : this.events.append(event));
  }

  /** `record` for several events in one statement (one routing pass's assignments), inside the caller's transaction `db`. */
  async recordAll(events: readonly { actor: AuditActor; action: AuditAction; details?: AuditDetails }[], db: Db): Promise<void> {
    await this.events.appendAll(
      events.map((event) => this.toEvent(event.actor, event.action, event.details ?? {})),
      db,
    );
  }

  private toEvent(actor: AuditActor, action: AuditAction, details: AuditDetails): NewAuditEvent {
    return {
      practiceId: actor.practiceId,
      actorUserId: actor.userId,
      actorDeviceId: actor.userId === null ? null : (actor.deviceId ?? null),
      action,
      subjectUserId: details.subjectUserId ?? null,
      conversationId: details.conversationId ?? null,
      data: details.data ?? {},
      createdAt: this.clock.now(),
    };
  }

  /**
   * A page of the caller's practice's trail, newest first, narrowed by the query's filters.
   * @throws DomainError `forbidden` (not a manager)
   */
  async query(actor: Actor, query: AuditQuery): Promise<AuditPage> {
    requireRole(actor, 'manager');
    const limit = query.limit ?? DEFAULT_PAGE;
    const page = await this.events.find(
      actor.practiceId,
      {
        actorUserId: query.actorUserId,
        subjectUserId: query.subjectUserId,
        conversationId: query.conversationId,
        actorName: query.actorName,
        subjectName: query.subjectName,
        action: query.action,
        from: query.from ? new Date(query.from) : undefined,
        to: query.to ? new Date(query.to) : undefined,
        beforeId: query.before,
      },
      limit + 1,
    );
    const events = page.slice(0, limit);
    // Names are resolved here, for the manager reading the log; the trail itself keeps ids only.
    const people = await this.events.names(actor.practiceId, events.flatMap(namedUserIds));
    return { events, nextBefore: page.length > limit ? (events.at(-1)?.id ?? null) : null, people };
  }

  /**
   * The display names of those of `userIds` who are users of the caller's practice (staff only: they see these
   * names on their screens anyway); ids of anyone else are left out, so the answer tells nothing about them.
   * @throws DomainError `forbidden` (patients)
   */
  async people(actor: Actor, userIds: readonly string[]): Promise<People> {
    requireRole(actor, 'clinician', 'manager');
    return { people: await this.events.names(actor.practiceId, userIds) };
  }
}

/** The user ids an event names: who acted, the patient, and ids in its data (a clinician, an owner, a new member of staff …). */
function namedUserIds(event: AuditEvent): string[] {
  const inData = Object.values(event.data).filter((value): value is string => typeof value === 'string' && isUuid(value));
  return [event.actorUserId, event.subjectUserId, ...inData].filter((id): id is string => id !== null);
}
