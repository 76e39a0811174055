import { Injectable, Logger } from '@nestjs/common';
import { toConversationSummary } from '../common/conversation-row.js';
import type { ConversationChanged, ConversationClose, ConversationHold, ConversationTransfer, FollowUp } from '@parley/protocol';
import { DateTime } from 'luxon';
import { isStaff, type Actor } from '../common/actor.js';
import { Clock } from '../common/clock.js';
import { DomainError } from '../common/domain-error.js';
import { RealtimePublisher } from '../common/realtime.publisher.js';
import { rooms } from '../common/rooms.js';
import { AuditService } from '../audit/audit.service.js';
import { RecordService } from '../record/record.service.js';
import { LifecycleRepository, type ActingAs, type FollowUpRow, type LifecycleConversation, type LifecycleRefusal } from './lifecycle.repository.js';
import { RoutingService } from '../routing/routing.service.js';

/**
 * What happens to a conversation once a clinician has it: transfer to a colleague or back to the
 * queue, hold, close with an outcome, and the follow-ups a close leaves. Each change is one
 * transaction in the repository; then the patient is told through the record (a system entry with
 * ids and codes only), the new assignee through their user room, and the audit trail gets a row.
 */
@Injectable()
export class LifecycleService {
  private readonly logger = new Logger(LifecycleService.name);

  constructor(
    private readonly lifecycle: LifecycleRepository,
    private readonly queue: RoutingService,
    private readonly record: RecordService,
    private readonly realtime: RealtimePublisher,
    private readonly clock: Clock,
    private readonly audit: AuditService,
  ) {}

  /**
   * Hands the conversation to a colleague (an available, connected clinician of the practice below both caps)
   * or back to the head of the queue. Only its assignee or a manager may.
   * @throws DomainError `forbidden` (a patient; not the assignee), `not_found` (no such conversation; the colleague is not a clinician of the practice), `conflict` (waiting or closed; already theirs), `at_capacity` (the colleague is not available, not connected, or at a cap)
   */
  async transfer(actor: Actor, payload: ConversationTransfer): Promise<ConversationChanged> {
    const conversation = await this.authorize(actor, payload.conversationId);
    const now = this.clock.now();
    if (payload.to === 'queue') {
      const requeued = refuseOr(await this.lifecycle.requeue(conversation.practiceId, conversation.id, actingAs(actor), now));
      await this.record.append({ conversationId: conversation.id, system: { event: 'requeued', data: { fromClinicianId: requeued.previousClinicianId } } });
      await this.audit.record(actor, 'conversation.requeued', {
        conversationId: conversation.id,
        subjectUserId: conversation.patientId,
        data: { fromUserId: requeued.previousClinicianId },
      });
      // It is at the head now: the next free clinician (possibly the one who handed it back) gets it at once.
      await this.routeSafely(conversation.practiceId);
      return this.changed(conversation.id);
    }
    const targetId = payload.to.clinicianId;
    const dayStart = await this.dayStart(conversation.practiceId);
    const moved = refuseOr(await this.lifecycle.transferTo(conversation.practiceId, conversation.id, actingAs(actor), targetId, now, dayStart));
    await this.record.append({
      conversationId: conversation.id,
      system: { event: 'transferred', data: { fromClinicianId: moved.previousClinicianId, clinicianId: targetId } },
    });
    await this.audit.record(actor, 'conversation.transferred', {
      conversationId: conversation.id,
      subjectUserId: conversation.patientId,
      data: { fromUserId: moved.previousClinicianId, toUserId: targetId },
    });
    this.realtime.publish(rooms.user(targetId), 'conversation:assigned', { conversationId: conversation.id, clinicianId: targetId, how: 'transfer' });
    // The previous assignee has a free slot now: a waiting patient may take it.
    await this.routeSafely(conversation.practiceId);
    return this.changed(conversation.id);
  }

  /**
   * Puts the caller's own conversation on hold, or resumes it; asking for the state it is in changes nothing.
   * A held conversation still counts against the assignee's cap: it is theirs to come back to, and
   * freeing the slot would let routing fill it, leaving them over cap on resuming.
   * @throws DomainError `forbidden` (a patient; not the assignee), `not_found`, `conflict` (waiting or closed)
   */
  async hold(actor: Actor, payload: ConversationHold): Promise<ConversationChanged> {
    const conversation = await this.authorize(actor, payload.conversationId);
    const outcome = await this.lifecycle.setHold(conversation.practiceId, conversation.id, actor.userId, payload.isOnHold);
    if (outcome !== 'unchanged') {
      refuseOr(outcome);
      await this.record.append({
        conversationId: conversation.id,
        system: { event: payload.isOnHold ? 'held' : 'resumed', data: { clinicianId: actor.userId } },
      });
      await this.audit.record(actor, 'conversation.held', {
        conversationId: conversation.id,
        subjectUserId: conversation.patientId,
        data: { isOnHold: payload.isOnHold },
      });
    }
    return this.changed(conversation.id);
  }

  /**
   * Closes the conversation with an outcome (and a follow-up with `follow_up`), freeing the
   * assignee's slot for the next waiting patient at once. Its assignee or a manager may; a manager
   * may also close one still waiting. A closed conversation takes no more messages.
   * @throws DomainError `forbidden` (a patient; not the assignee), `not_found` (no such conversation; the follow-up owner is not a clinician of the practice), `conflict` (already closed)
   */
  async close(actor: Actor, payload: ConversationClose): Promise<ConversationChanged> {
    const conversation = await this.authorize(actor, payload.conversationId);
    const followUp = payload.followUp ? { ...payload.followUp, createdBy: actor.userId } : undefined;
    const closed = refuseOr(await this.lifecycle.close(conversation.practiceId, conversation.id, actingAs(actor), payload.outcome, followUp, this.clock.now()));
    await this.record.append({ conversationId: conversation.id, system: { event: 'closed', data: { outcome: payload.outcome } } });
    await this.audit.record(actor, 'conversation.closed', {
      conversationId: conversation.id,
      subjectUserId: conversation.patientId,
      data: {
        outcome: payload.outcome,
        fromUserId: closed.previousClinicianId,
        followUpId: closed.followUpId,
        ownerUserId: payload.followUp?.ownerId ?? null,
        dueDate: payload.followUp?.dueDate ?? null,
      },
    });
    await this.routeSafely(conversation.practiceId);
    return this.changed(conversation.id);
  }

  /**
   * The practice's follow-ups not done yet, every one of them (a clinician covers for colleagues), the
   * caller's own first, then by due date.
   * @throws DomainError `forbidden` (patients)
   */
  async listFollowUps(actor: Actor): Promise<{ followUps: FollowUp[] }> {
    if (!isStaff(actor)) throw new DomainError('forbidden');
    return { followUps: (await this.lifecycle.openFollowUps(actor.practiceId, actor.userId)).map(toFollowUp) };
  }

  /**
   * Marks a follow-up done; its owner or a manager may. Marking one already done answers it as it is.
   * @throws DomainError `forbidden` (patients; someone else's follow-up), `not_found` (none at the caller's practice)
   */
  async completeFollowUp(actor: Actor, followUpId: string): Promise<{ followUp: FollowUp }> {
    if (!isStaff(actor)) throw new DomainError('forbidden');
    const followUp = await this.lifecycle.findFollowUp(actor.practiceId, followUpId);
    if (!followUp) throw new DomainError('not_found', 'No such follow-up.');
    if (followUp.ownerId !== actor.userId && !actor.roles.includes('manager'))
      throw new DomainError('forbidden', 'Only its owner or a manager may mark a follow-up done.');
    if (await this.lifecycle.completeFollowUp(followUp.id, actor.userId, this.clock.now())) {
      await this.audit.record(actor, 'follow-up.completed', {
        conversationId: followUp.conversationId,
        subjectUserId: followUp.patientId,
        data: { followUpId: followUp.id, ownerUserId: followUp.ownerId },
      });
    }
    return { followUp: toFollowUp((await this.lifecycle.findFollowUp(actor.practiceId, followUpId))!) };
  }

  /** Staff of the conversation's practice only (as ConversationsService.authorize answers). @throws DomainError `forbidden`, `not_found` */
  private async authorize(actor: Actor, conversationId: string): Promise<LifecycleConversation> {
    if (!isStaff(actor)) throw new DomainError('forbidden', 'Only staff change a conversation.');
    const conversation = await this.lifecycle.find(conversationId);
    if (!conversation) throw new DomainError('not_found', 'No such conversation.');
    if (conversation.practiceId !== actor.practiceId) throw new DomainError('forbidden', 'That conversation is not yours.');
    return conversation;
  }

  private async changed(conversationId: string): Promise<ConversationChanged> {
    return { conversation: toConversationSummary((await this.lifecycle.find(conversationId))!) };
  }

  /** The change is committed and acknowledged whatever routing does; a failed pass is retried by the next event. */
  private async routeSafely(practiceId: string): Promise<void> {
    try {
      await this.queue.route(practiceId);
    } catch (error) {
      this.logger.warn({ practiceId, err: error }, 'routing after a lifecycle change failed');
    }
  }

  /** Midnight in the practice's time zone: where daily caps restart. */
  private async dayStart(practiceId: string): Promise<Date> {
    const timeZone = await this.lifecycle.timeZoneOf(practiceId);
    return DateTime.fromJSDate(this.clock.now(), { zone: timeZone }).startOf('day').toJSDate();
  }
}

/** Managers act on any conversation of their practice; anyone else only on their own. */
function actingAs(actor: Actor): ActingAs {
  return actor.roles.includes('manager') ? { kind: 'manager' } : { kind: 'assignee', userId: actor.userId };
}

/** The change made, or the DomainError its refusal means. */
function refuseOr<T>(outcome: T | LifecycleRefusal): T {
  if (typeof outcome !== 'string') return outcome;
  switch (outcome as LifecycleRefusal) {
    case 'not_found':
      throw new DomainError('not_found', 'No such conversation.');
    case 'not_assignee':
      throw new DomainError('forbidden', 'Only the clinician it is assigned to (or a manager) may do that.');
    case 'not_active':
      throw new DomainError('conflict', 'That conversation is waiting in the queue, not assigned.');
    case 'closed':
      throw new DomainError('conflict', 'This conversation is closed.');
    case 'no_such_clinician':
      throw new DomainError('not_found', 'No such clinician at this practice.');
    case 'same_clinician':
      throw new DomainError('conflict', 'That clinician already has this conversation.');
    case 'at_cap':
      throw new DomainError('at_capacity', 'That clinician is not available, not signed in, or at their limit.');
  }
}

function toFollowUp(row: FollowUpRow): FollowUp {
  return {
    id: row.id,
    conversationId: row.conversationId,
    patientId: row.patientId,
    ownerId: row.ownerId,
    dueDate: row.dueDate,
    createdBy: row.createdBy,
    createdAt: row.createdAt.toISOString(),
    doneAt: row.doneAt?.toISOString() ?? null,
    doneBy: row.doneBy,
  };
}
