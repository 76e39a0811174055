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
import type { AppendOutcome, NewEntry } from '../record/record.types.js';
import { assignedEntries, RoutingService, type Assignment } from '../routing/routing.service.js';
import { isLockNotAvailable, isStatementError, type Db } from '../database/sql.js';
import { ConversationsRepository } from './conversations.repository.js';
import { OpenGroups } from './open-groups.js';
import { ConversationOpeningRepository, type OpenInput, type OpenOutcome } from './opening.repository.js';
import { assertDevicesActive, assertEnvelopeRecipients } from './envelope-rules.js';

/**
 * Open transactions at once on a node: each stores a GROUP of opens (up to OPEN_GROUP_MAX, one per patient) in three round
 * trips on one pooled connection (of 10); the opens arriving meanwhile wait in memory for the next group (up to
 * OPENS_WAITING_MAX, then `rate_limited`), and the pool stays free for sends, reads and the record writer. Four opens at a
 * time, five round trips each, a node stored about 300 opens a second; a burst of 500 a second queued for seconds.
 */
const OPEN_TRANSACTIONS = 2;
const OPEN_GROUP_MAX = 100;
const OPENS_WAITING_MAX = 5_000;

/** An open waiting for its group: what to store, who opens it (for its audit row), and its acknowledgement's text. */
interface GroupedOpen {
  actor: Actor;
  input: OpenInput;
  /** The acknowledgement for the patient's place in the queue (1 = next). */
  acknowledgement: (position: number) => string;
}

/** Opening a conversation: the patient's checks, the first epoch's envelopes, the first record entries, then routing. */
@Injectable()
export class ConversationOpeningService {
  private readonly logger = new Logger(ConversationOpeningService.name);
  /** Per practice, the record key versions last read (see `recordKeyVersions`). */
  private readonly knownRecordKeyVersions = new Map<string, Set<number>>();
  private readonly openGroups = new OpenGroups<GroupedOpen, OpenOutcome>(
    { maxGroups: OPEN_TRANSACTIONS, maxGroupSize: OPEN_GROUP_MAX, maxWaiting: OPENS_WAITING_MAX },
    (open) => open.input.patientId,
    (opens) => this.storeGroup(opens),
  );

  constructor(
    private readonly conversations: ConversationsRepository,
    private readonly groups: ConversationOpeningRepository,
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
   *
   * In round trips: one transaction, shared with the other opens waiting on this node (`OpenGroups`: BEGIN with the
   * patients' locks, the ids, counts and devices; the conversations with their envelopes, the audit rows and the records'
   * `opened` and `acknowledged` entries, sent together; COMMIT). What the practice set (hours, topics, texts, limits, terms, record
   * keys) comes from reads shared per practice, and a patient's consent from memory once seen; the id is looked up apart
   * only when the open is refused or the id is taken (a retry).
   * @throws DomainError `forbidden` (not a patient; terms not accepted), `invalid_payload` (envelopes; topic not offered), `conflict` (id taken, or no record key), `at_capacity` (a limit the practice set), `patient_limit` (details `{ limit: 'open' | 'daily', max }`)
   */
  async open(actor: Actor, payload: ConversationOpen): Promise<{ conversation: ConversationSummary }> {
    if (!actor.roles.includes('patient')) throw new DomainError('forbidden', 'Only patients open conversations.');
    // The read-only checks run side by side, from shared reads in the common case; the first refusal in this order is
    // the answer, as when they ran one by one. A refused open that was in fact stored already (a retry) is answered as a retry.
    // What the acknowledgement needs is read now too: after the COMMIT only the record append remains, so a busy pool
    // (DB_QUEUE_MAX) refuses an open before anything is stored, never after.
    const acknowledgement = this.acknowledgementWriter(actor.practiceId);
    const refusal = await firstRefusal([
      this.hours.assertOpenForNewConversation(actor.practiceId),
      this.consent.assertConsented(actor),
      this.settings.assertTopicEnabled(actor.practiceId, payload.topic),
      this.checkEnvelopes(actor, payload),
      this.queue.assertCanOpen(actor.practiceId),
      acknowledgement.then(() => undefined),
    ]);
    if (refusal) return this.retried(actor, payload, refusal);
    const writeAcknowledgement = await acknowledgement;
    const [patientLimits, dayStart] = await Promise.all([this.settings.patientLimitsOf(actor.practiceId), this.hours.localDayStart(actor.practiceId)]);
    const created = await this.openGroups.run({
      actor,
      acknowledgement: writeAcknowledgement,
      input: {
        id: payload.conversationId,
        practiceId: actor.practiceId,
        patientId: actor.userId,
        topic: payload.topic,
        creatorDeviceId: actor.deviceId,
        envelopes: payload.envelopes,
        limits: { ...patientLimits, dayStart },
        devicesAllowed: (active) => assertDevicesActive(payload.envelopes, active),
      },
    });
    if ('error' in created) throw created.error;
    if ('taken' in created) return this.retried(actor, payload);
    if ('refusal' in created) throw patientLimit(created.refusal);
    // A group stores the first entries with the conversation; an open stored alone (see storeGroup) writes them now.
    const conversation = await this.ensureFirstEntries(created.conversation, writeAcknowledgement(created.waitingBefore + 1));
    // Acknowledged once stored, without waiting for routing (a burst of opens shares routing passes), unless its group
    // assigned it already; the assignment reaches the patient as the record's `assigned` entry.
    if (conversation.status === 'waiting') this.routeAfterOpen(actor.practiceId);
    return { conversation: toConversationSummary(conversation) };
  }

  /**
   * Stores a group of opens (different patients) in one transaction, each with its audit row: an open is never stored
   * unaudited, nor audited unstored. When PostgreSQL refuses a statement of the group (a conversation id another patient
   * took meanwhile, say), nothing of it was stored and each open is tried alone, so one bad open refuses only itself.
   */
  private async storeGroup(opens: readonly GroupedOpen[]): Promise<OpenOutcome[]> {
    const byId = new Map(opens.map((open) => [open.input.id, open]));
    let entries: NewEntry[] = [];
    let appended: AppendOutcome[] = [];
    /** The practice whose queue the group heads, routed in the group's transaction, and what that gave whom. */
    let routed: { practiceId: string; made: readonly Assignment[] } | undefined;
    try {
      const outcomes = await this.groups.createGroup(
        opens.map((open) => open.input),
        async (db, accepted) => {
          const conversations = accepted.map(({ input }) => ({ id: input.id, patientId: input.patientId }));
          // The audit rows and the records' first entries (`opened`, `acknowledged` and, for a conversation assigned here,
          // `assigned`) are sent at once, behind what was sent before them (createGroup).
          const writeOpened = async (db: Db, made: readonly Assignment[]) => {
            entries = [
              ...accepted.flatMap(({ input, waitingBefore }) => firstEntriesOf(input.id, input.topic, byId.get(input.id)!.acknowledgement(waitingBefore + 1))),
              ...assignedEntries(made),
            ];
            [, appended] = await Promise.all([
              this.audit.recordAll(
                accepted.map(({ input }) => ({
                  actor: byId.get(input.id)!.actor,
                  action: 'conversation.opened' as const,
                  details: { conversationId: input.id, subjectUserId: input.patientId, data: { topic: input.topic } },
                })),
                db,
              ),
              this.record.appendToNew(db, conversations, entries),
            ]);
          };
          // A group that heads its practice's queue (nothing waited before it) is routed in its own transaction: a patient
          // who arrives while a clinician has room is assigned with this COMMIT, not by a pass after it.
          const practiceId = accepted[0]!.input.practiceId;
          if (accepted[0]!.waitingBefore === 0 && accepted.every((open) => open.input.practiceId === practiceId)) {
            const made = await this.queue.assignOnOpen(db, practiceId, conversations, accepted[0]!.input.limits.dayStart, writeOpened);
            routed = { practiceId, made };
          } else await writeOpened(db, []);
        },
      );
      this.record.announce(entries, appended);
      if (routed) this.queue.assignedOnOpen(routed.practiceId, routed.made);
      const lastSeqOf = new Map<string, number>();
      entries.forEach((entry, index) => {
        const outcome = appended[index]!;
        if (outcome.status === 'stored') lastSeqOf.set(entry.conversationId, outcome.seq);
      });
      const assigneeOf = new Map(routed?.made.map((assignment) => [assignment.conversationId, assignment.clinicianId]));
      return outcomes.map((outcome) => {
        if (!('conversation' in outcome)) return outcome;
        const { id } = outcome.conversation;
        const assignee = assigneeOf.get(id);
        const lastSeq = lastSeqOf.get(id) ?? 0;
        return {
          ...outcome,
          conversation: { ...outcome.conversation, lastSeq, ...(assignee ? { status: 'assigned' as const, assignedClinicianId: assignee } : {}) },
        };
      });
    } catch (error) {
      // A group that waited too long for the routing locks (assignOnOpen) stores its opens alone, even a group of one.
      if ((opens.length === 1 && !isLockNotAvailable(error)) || !isStatementError(error)) throw error;
      this.logger.warn({ opens: opens.length, code: (error as { code?: unknown }).code }, 'group open refused; opening one by one');
      const outcomes: OpenOutcome[] = [];
      for (const open of opens) outcomes.push(await this.createAlone(open).catch((alone: unknown) => ({ error: alone })));
      return outcomes;
    }
  }

  /** One open in a transaction of its own (`ConversationsRepository.create`), its audit row committed with it. */
  private createAlone({ actor, input }: GroupedOpen): Promise<OpenOutcome> {
    return this.conversations.create({
      ...input,
      inTransaction: (db) =>
        this.audit.record(actor, 'conversation.opened', { conversationId: input.id, subjectUserId: input.patientId, data: { topic: input.topic } }, db),
    });
  }

  /**
   * The answer to an open whose id is stored already: the same open retried gets its conversation (with its first
   * entries, if the first try stopped before them); another patient's id, or another topic, is a conflict. When the id
   * is not stored after all, `refusal` is the answer.
   */
  private async retried(actor: Actor, payload: ConversationOpen, refusal?: unknown): Promise<{ conversation: ConversationSummary }> {
    const existing = await this.conversations.findById(payload.conversationId);
    if (!existing) throw refusal ?? new DomainError('conflict', 'That conversation id is taken.');
    if (existing.patientId !== actor.userId || existing.topic !== payload.topic) throw new DomainError('conflict', 'That conversation id is taken.');
    const conversation = await this.ensureFirstEntries(existing);
    // Routing takes a conversation only once its first entries are committed: one the first try left without them waits for this.
    if (existing.lastSeq === 0 && conversation.status === 'waiting') this.routeAfterOpen(actor.practiceId);
    return { conversation: toConversationSummary(conversation) };
  }

  private routeAfterOpen(practiceId: string): void {
    this.queue.route(practiceId).catch((error: unknown) => this.logger.warn({ practiceId, err: error }, 'routing after open failed'));
  }

  /**
   * Checks the first epoch's envelopes go only to the patient's own devices, account key and a record key version of
   * the practice (`assertEnvelopeRecipients`). Whether each device is one of the patient's active ones is checked in
   * `create`'s transaction (one round trip fewer).
   */
  private async checkEnvelopes(actor: Actor, payload: ConversationOpen): Promise<void> {
    const versions = payload.envelopes.flatMap((envelope) => (envelope.recipient.kind === 'record' ? [envelope.recipient.version] : []));
    assertEnvelopeRecipients(payload.envelopes, actor.userId, await this.recordKeyVersions(actor.practiceId, versions));
  }

  /**
   * The practice's record key versions, from memory when it holds every version asked for: versions are only ever
   * added, never removed (the database refuses to delete a record key), so a remembered version is never wrong, and
   * a version not remembered (or none at all) is read afresh before anything is refused.
   */
  private async recordKeyVersions(practiceId: string, wanted: readonly number[]): Promise<Set<number>> {
    const known = this.knownRecordKeyVersions.get(practiceId);
    if (known && known.size > 0 && wanted.every((version) => known.has(version))) return known;
    const read = await this.conversations.recordKeyVersions(practiceId);
    this.knownRecordKeyVersions.set(practiceId, read);
    return read;
  }

  /** The acknowledgement's text for a queue of a given length (this conversation included), from shared reads. */
  private async acknowledgementWriter(practiceId: string): Promise<(waiting: number) => string> {
    const [replyTime, acknowledgement] = await Promise.all([this.queue.replyTimeWriter(practiceId), this.settings.acknowledgementWriter(practiceId)]);
    return (waiting) => acknowledgement({ replyTimeText: replyTime(waiting) });
  }

  /**
   * The `opened` entry starts every record, followed by the automatic acknowledgement (received, the typical reply
   * time from the live queue, the urgent advice): both in one record commit, as seq 1 and 2, or neither. An open
   * interrupted before writing them gets them on retry. `text`: the acknowledgement, when the caller has it already.
   */
  private async ensureFirstEntries(conversation: ConversationRow, text?: string): Promise<ConversationRow> {
    if (conversation.lastSeq > 0) return conversation;
    const acknowledgement =
      text ?? (await this.settings.acknowledgementFor(conversation.practiceId, { replyTimeText: await this.queue.replyTimeText(conversation.practiceId) }));
    const outcomes = await this.record.appendAll(firstEntriesOf(conversation.id, conversation.topic, acknowledgement));
    const last = outcomes.findLast((outcome) => outcome.status === 'stored');
    return last?.status === 'stored' ? { ...conversation, lastSeq: last.seq } : conversation;
  }
}

/** A record's first two entries: `opened`, then the automatic acknowledgement. */
function firstEntriesOf(conversationId: string, topic: string, acknowledgement: string): NewEntry[] {
  return [
    { conversationId, system: { event: 'opened', data: { topic } } },
    { conversationId, system: { event: 'acknowledged', data: { text: acknowledgement } } },
  ];
}

/** Waits for every check, then answers the first refusal in the order given (undefined when all passed). */
async function firstRefusal(checks: readonly Promise<void>[]): Promise<unknown> {
  const settled = await Promise.allSettled(checks);
  const refused = settled.find((outcome) => outcome.status === 'rejected');
  return refused ? (refused as PromiseRejectedResult).reason : undefined;
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
