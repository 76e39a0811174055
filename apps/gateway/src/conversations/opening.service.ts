import { Injectable, Logger } from '@nestjs/common';
import type { ConversationOpen, ConversationSummary, PatientLimitDetails } from '@parley/protocol';
import type { Actor } from '../common/actor.js';
import { toConversationSummary, type ConversationRow } from '../common/conversation-row.js';
import { DomainError } from '../common/domain-error.js';
import { AuditService } from '../audit/audit.service.js';
import { ConsentService } from '../consent/consent.service.js';
import { HoursService } from '../hours/hours.service.js';
import { PracticeSettingsService } from '../practices/practice-settings.service.js';
import { RecordService } from '../record/record.service.js';
import { RoutingService } from '../routing/routing.service.js';
import { ConversationsRepository } from './conversations.repository.js';

/** Opening a conversation: the patient's checks, the first epoch's envelopes, the first record entries, then routing. */
@Injectable()
export class ConversationOpeningService {
  private readonly logger = new Logger(ConversationOpeningService.name);

  constructor(
    private readonly conversations: ConversationsRepository,
    private readonly record: RecordService,
    private readonly queue: RoutingService,
    private readonly consent: ConsentService,
    private readonly settings: PracticeSettingsService,
    private readonly audit: AuditService,
    private readonly hours: HoursService,
  ) {}

  /**
   * Opens a conversation for the calling patient with its first epoch's envelopes, and records
   * that it was opened. Retrying the same open returns the same conversation.
   * @throws DomainError `forbidden` (not a patient; terms not accepted), `invalid_payload` (envelopes; topic not offered), `conflict` (id taken, or no record key), `at_capacity` (a limit the practice set), `patient_limit` (details `{ limit: 'open' | 'daily', max }`)
   */
  async open(actor: Actor, payload: ConversationOpen): Promise<{ conversation: ConversationSummary }> {
    if (!actor.roles.includes('patient')) throw new DomainError('forbidden', 'Only patients open conversations.');
    const existing = await this.conversations.findById(payload.conversationId);
    if (existing) {
      if (existing.patientId !== actor.userId || existing.topic !== payload.topic) throw new DomainError('conflict', 'That conversation id is taken.');
      return { conversation: toConversationSummary(await this.ensureOpenedEntry(existing)) };
    }
    await this.hours.assertOpenForNewConversation(actor.practiceId);
    await this.consent.assertConsented(actor);
    await this.settings.assertTopicEnabled(actor.practiceId, payload.topic);
    await this.checkEnvelopes(actor, payload);
    await this.queue.assertCanOpen(actor.practiceId);
    const [patientLimits, dayStart] = await Promise.all([this.settings.patientLimitsOf(actor.practiceId), this.hours.localDayStart(actor.practiceId)]);
    const refusal = await this.conversations.create({
      id: payload.conversationId,
      practiceId: actor.practiceId,
      patientId: actor.userId,
      topic: payload.topic,
      creatorDeviceId: actor.deviceId,
      envelopes: payload.envelopes,
      limits: { ...patientLimits, dayStart },
    });
    if (refusal) throw patientLimit(refusal);
    const created = await this.ensureOpenedEntry((await this.conversations.findById(payload.conversationId))!);
    await this.audit.record(actor, 'conversation.opened', { conversationId: created.id, subjectUserId: actor.userId, data: { topic: created.topic } });
    // Acknowledged once stored, without waiting for routing (a burst of opens shares routing passes);
    // the assignment reaches the patient as the record's `assigned` entry.
    this.queue.route(actor.practiceId).catch((error: unknown) => this.logger.warn({ practiceId: actor.practiceId, err: error }, 'routing after open failed'));
    return { conversation: toConversationSummary(created) };
  }

  /**
   * Checks the first epoch's envelopes go only to the patient's own devices, account key and a record key
   * version of the practice. Which version is current is the root key's signed word, which the gateway
   * cannot check: clients seal to the newest version the root vouched for (docs/crypto.md, v2), so the
   * gateway refuses only versions the practice does not have, never one a client chose over a newer row.
   */
  private async checkEnvelopes(actor: Actor, payload: ConversationOpen): Promise<void> {
    const keyIds = new Set(payload.envelopes.map((envelope) => envelope.recipientKeyId));
    if (keyIds.size !== payload.envelopes.length) throw new DomainError('invalid_payload', 'Two envelopes for the same recipient key.');
    const recordKeyVersions = await this.conversations.recordKeyVersions(actor.practiceId);
    if (recordKeyVersions.size === 0) throw new DomainError('conflict', 'The practice has not set up its record key yet.');
    const deviceIds = payload.envelopes.flatMap((envelope) => (envelope.recipient.kind === 'device' ? [envelope.recipient.deviceId] : []));
    const ownDevices = await this.conversations.activeDevicesOf(actor.userId, deviceIds);
    for (const { recipient } of payload.envelopes) {
      const isAllowed =
        (recipient.kind === 'device' && ownDevices.has(recipient.deviceId)) ||
        (recipient.kind === 'account' && recipient.userId === actor.userId) ||
        (recipient.kind === 'record' && recordKeyVersions.has(recipient.version));
      if (!isAllowed) throw new DomainError('invalid_payload', `An envelope is addressed to a ${recipient.kind} that is not a member.`);
    }
    const kinds = new Set(payload.envelopes.map((envelope) => envelope.recipient.kind));
    // Without these the practice could not read its own record, or the patient their history on a new device.
    if (!kinds.has('record') || !kinds.has('account'))
      throw new DomainError('invalid_payload', 'Envelopes for the record key and the account key are required.');
  }

  /**
   * The `opened` entry starts every record, followed by the automatic acknowledgement (received, the
   * typical reply time from the live queue, the urgent advice). An open interrupted before writing them gets them on retry.
   */
  private async ensureOpenedEntry(conversation: ConversationRow): Promise<ConversationRow> {
    if (conversation.lastSeq > 0) return conversation;
    const opened = await this.record.append({ conversationId: conversation.id, system: { event: 'opened', data: { topic: conversation.topic } } });
    const text = await this.settings.acknowledgementFor(conversation.practiceId, { replyTimeText: await this.queue.replyTimeText(conversation.practiceId) });
    const acknowledged = await this.record.append({ conversationId: conversation.id, system: { event: 'acknowledged', data: { text } } });
    const last = acknowledged.status === 'stored' ? acknowledged : opened;
    return last.status === 'stored' ? { ...conversation, lastSeq: last.seq } : conversation;
  }
}

/** The refusal of an open beyond a per-patient limit: what to do instead, and the limit for the client (docs/protocol.md). */
function patientLimit(refusal: PatientLimitDetails): DomainError {
  const why =
    refusal.limit === 'open'
      ? refusal.max === 1
        ? 'You already have a conversation open with the practice. Please continue there.'
        : `You already have ${refusal.max} conversations open with the practice, the most it takes from one patient at once. Please continue in one of them.`
      : `You have started ${refusal.max} conversation${refusal.max === 1 ? '' : 's'} today, the most the practice takes from one patient in a day. Please continue in an open conversation.`;
  return new DomainError('patient_limit', `${why} Or phone the practice; if it is urgent call 111, or 999 in an emergency.`, {
    limit: refusal.limit,
    max: refusal.max,
  });
}
