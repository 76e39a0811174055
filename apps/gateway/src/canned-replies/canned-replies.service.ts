import { Injectable } from '@nestjs/common';
import { MAX_CANNED_REPLIES, type CannedReply, type CannedReplyRequest } from '@parley/protocol';
import { randomUUID } from 'node:crypto';
import { AuditService } from '../audit/audit.service.js';
import { isStaff, type Actor } from '../common/actor.js';
import { Clock } from '../common/clock.js';
import { DomainError } from '../common/domain-error.js';
import { requireRole } from '../common/require-role.js';
import { CannedRepliesRepository } from './canned-replies.repository.js';

/** Practice-wide canned replies: every member of staff reads them, managers write them (audited, ids only). */
@Injectable()
export class CannedRepliesService {
  constructor(
    private readonly replies: CannedRepliesRepository,
    private readonly audit: AuditService,
    private readonly clock: Clock,
  ) {}

  /** The caller's practice's canned replies, by title. @throws DomainError `forbidden` (patients) */
  async list(actor: Actor): Promise<CannedReply[]> {
    if (!isStaff(actor)) throw new DomainError('forbidden');
    return this.replies.list(actor.practiceId);
  }

  /** Adds a canned reply. @throws DomainError `forbidden` (not a manager), `conflict` (the practice has MAX_CANNED_REPLIES already) */
  async create(actor: Actor, request: CannedReplyRequest): Promise<CannedReply> {
    requireRole(actor, 'manager');
    const created = await this.replies.create(
      { id: randomUUID(), practiceId: actor.practiceId, ...request, by: actor.userId, at: this.clock.now() },
      MAX_CANNED_REPLIES,
    );
    if (!created) throw new DomainError('conflict', `A practice may keep at most ${MAX_CANNED_REPLIES} canned replies: delete one first.`);
    await this.audit.record(actor, 'canned-reply.created', { data: { cannedReplyId: created.id } });
    return created;
  }

  /** Rewrites a canned reply. @throws DomainError `forbidden`, `not_found` (none with that id at the practice) */
  async update(actor: Actor, id: string, request: CannedReplyRequest): Promise<CannedReply> {
    requireRole(actor, 'manager');
    const updated = await this.replies.update({ id, practiceId: actor.practiceId, ...request, by: actor.userId, at: this.clock.now() });
    if (!updated) throw new DomainError('not_found');
    await this.audit.record(actor, 'canned-reply.changed', { data: { cannedReplyId: id } });
    return updated;
  }

  /** Deletes a canned reply. @throws DomainError `forbidden`, `not_found` */
  async delete(actor: Actor, id: string): Promise<void> {
    requireRole(actor, 'manager');
    if (!(await this.replies.delete(actor.practiceId, id))) throw new DomainError('not_found');
    await this.audit.record(actor, 'canned-reply.deleted', { data: { cannedReplyId: id } });
  }
}
