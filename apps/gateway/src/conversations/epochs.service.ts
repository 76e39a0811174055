import { Injectable } from '@nestjs/common';
import type { ConversationEpoch, ConversationSummary } from '@parley/protocol';
import { isStaff, type Actor } from '../common/actor.js';
import { toConversationSummary } from '../common/conversation-row.js';
import { DomainError } from '../common/domain-error.js';
import { AuditService } from '../audit/audit.service.js';
import { RecordService } from '../record/record.service.js';
import { ConversationsRepository } from './conversations.repository.js';
import { assertDevicesActive, assertEnvelopeRecipients } from './envelope-rules.js';

/**
 * New key epochs (`conversation:epoch`, docs/crypto.md "Conversation epochs"): a member's device seals a fresh epoch
 * key to the recipients it verified itself; the gateway checks whom the envelopes are addressed to, stores them and
 * moves the conversation's current epoch in one transaction, then writes `keys.epoch` into the record (relayed to the
 * conversation's room like every entry: members re-join for the new envelopes when they see it).
 */
@Injectable()
export class ConversationEpochsService {
  constructor(
    private readonly conversations: ConversationsRepository,
    private readonly record: RecordService,
    private readonly audit: AuditService,
  ) {}

  /**
   * Starts the next epoch. Who may: those who may write in it (the patient on one of their active devices, the assigned
   * clinician) and a manager of its practice (offboarding renews every conversation a leaver could read). A retry of
   * the same start is answered like the first.
   * @throws DomainError `not_found`, `forbidden`, `invalid_payload` (envelopes), `conflict` (closed; no record key; not the current epoch + 1: details `{ currentEpoch }`)
   */
  async start(actor: Actor, payload: ConversationEpoch): Promise<{ conversation: ConversationSummary }> {
    const conversation = await this.conversations.findById(payload.conversationId);
    if (!conversation) throw new DomainError('not_found', 'No such conversation.');
    const mayStart = isStaff(actor)
      ? conversation.practiceId === actor.practiceId && (actor.roles.includes('manager') || conversation.assignedClinicianId === actor.userId)
      : conversation.patientId === actor.userId;
    if (!mayStart) throw new DomainError('forbidden', 'Only the patient, the assigned clinician or a manager starts a new epoch.');
    if (payload.epoch !== conversation.currentEpoch + 1 && payload.epoch !== conversation.currentEpoch) {
      // Answered before the envelopes are looked at: a client that lost a race re-joins and starts again if it still must.
      throw epochConflict(conversation.currentEpoch);
    }
    assertEnvelopeRecipients(payload.envelopes, conversation.patientId, await this.conversations.recordKeyVersions(conversation.practiceId));
    const outcome = await this.conversations.startEpoch({
      conversationId: conversation.id,
      epoch: payload.epoch,
      creatorDeviceId: actor.deviceId,
      envelopes: payload.envelopes,
      devicesAllowed: (active) => assertDevicesActive(payload.envelopes, active),
      // The audit row commits with the epoch: a new epoch is never stored unaudited, nor audited unstored.
      inTransaction: (db) =>
        this.audit.record(
          actor,
          'conversation.epoch_started',
          { conversationId: conversation.id, subjectUserId: conversation.patientId, data: { epoch: payload.epoch, reason: payload.reason } },
          db,
        ),
    });
    switch (outcome.status) {
      case 'not_found':
        throw new DomainError('not_found', 'No such conversation.');
      case 'closed':
        throw new DomainError('conflict', 'This conversation is closed.');
      case 'not_next':
        throw epochConflict(outcome.currentEpoch);
      case 'repeated':
        return { conversation: toConversationSummary(outcome.conversation) };
      case 'started': {
        // Metadata only: the number and why, never key material. Relayed to the room as `message:relayed`.
        const written = await this.record.append({
          conversationId: conversation.id,
          system: { event: 'keys.epoch', data: { epoch: payload.epoch, reason: payload.reason } },
        });
        const lastSeq = written.status === 'stored' ? written.seq : outcome.conversation.lastSeq;
        return { conversation: toConversationSummary({ ...outcome.conversation, lastSeq }) };
      }
    }
  }
}

/** The refusal of an epoch that is not the next one, with the current one for the client to start from. */
function epochConflict(currentEpoch: number): DomainError {
  return new DomainError('conflict', `The conversation is at epoch ${currentEpoch}: only epoch ${currentEpoch + 1} may start.`, { currentEpoch });
}
