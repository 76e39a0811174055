import { Injectable, Logger, type OnModuleInit } from '@nestjs/common';
import type {
  ConversationReceipt,
  ConversationSend,
  ConversationSummary,
  ConversationTyping,
  JoinedConversation,
  RecordExportRequest,
  SendResult,
  SyncResult,
} from '@parley/protocol';
import { isStaff, primaryRole, type Actor } from '../common/actor.js';
import { assertMember, toConversationSummary, type ConversationRow } from '../common/conversation-row.js';
import { DomainError } from '../common/domain-error.js';
import { RealtimePublisher } from '../common/realtime.publisher.js';
import { rooms } from '../common/rooms.js';
import { SendLanes } from '../common/send-lanes.js';
import { AccountKeysService } from '../account-keys/account-keys.service.js';
import { AttachmentsService } from '../attachments/attachments.service.js';
import { AuditService } from '../audit/audit.service.js';
import { HoursService } from '../hours/hours.service.js';
import { toRecordEntry } from '../record/record-entry.mapper.js';
import { RecordService } from '../record/record.service.js';
import { RoutingService } from '../routing/routing.service.js';
import { ConversationAccessCache } from '../invalidation/conversation-access.cache.js';
import { ConversationsRepository } from './conversations.repository.js';
import { isoTime } from '../common/iso-time.js';

const DEFAULT_SYNC_LIMIT = 200;
const LIST_LIMIT = 100;

/** Conversations and the ciphertext relay: who may open, read and write what, and in which order it is stored and sent. */
@Injectable()
export class ConversationsService implements OnModuleInit {
  private readonly logger = new Logger(ConversationsService.name);

  constructor(
    private readonly conversations: ConversationsRepository,
    private readonly access: ConversationAccessCache,
    private readonly lanes: SendLanes,
    private readonly record: RecordService,
    private readonly realtime: RealtimePublisher,
    private readonly queue: RoutingService,
    private readonly audit: AuditService,
    private readonly hours: HoursService,
    private readonly accountKeys: AccountKeysService,
    private readonly attachments: AttachmentsService,
  ) {}

  onModuleInit(): void {
    // A send whose entry failed after it was queued is owed like one refused before (docs/protocol.md, "Order").
    this.record.onEntriesFailed((entries) => {
      for (const { conversationId, message } of entries) {
        if (message) this.lanes.failed(SendLanes.key(message.senderDeviceId, conversationId), message);
      }
    });
    // At closing, every conversation still open gets a notice in its record (once, whichever node sees the closing).
    this.hours.onClosing(async ({ practiceId, nextOpening }) => {
      for (const conversationId of await this.conversations.openIds(practiceId)) {
        await this.record.append({ conversationId, system: { event: 'practice.closed', data: { nextOpening: nextOpening?.toISOString() ?? null } } });
      }
    });
  }

  /** The caller's conversations (a patient's own; for staff, their practice's), newest first. */
  async list(actor: Actor): Promise<{ conversations: ConversationSummary[] }> {
    const filter = isStaff(actor) ? { practiceId: actor.practiceId } : { patientId: actor.userId };
    return { conversations: (await this.conversations.listFor(filter, LIST_LIMIT)).map(toConversationSummary) };
  }

  /**
   * The conversation if the caller may use it: its patient, or staff of its practice.
   * @throws DomainError `not_found` (no such conversation), `forbidden` (someone else's)
   */
  async authorize(actor: Actor, conversationId: string): Promise<ConversationRow> {
    return assertMember(actor, await this.conversations.findById(conversationId));
  }

  /**
   * Records that a member of staff exported the conversation (the export itself is decrypted and
   * built in their browser; the server only learns that it happened, and in which formats).
   * @throws DomainError `forbidden` (patients, another practice's staff), `not_found`
   */
  async recordExport(actor: Actor, conversationId: string, formats: RecordExportRequest['formats']): Promise<void> {
    if (!isStaff(actor)) throw new DomainError('forbidden', 'Only staff export conversations.');
    const conversation = await this.authorize(actor, conversationId);
    await this.audit.record(actor, 'conversation.exported', { conversationId: conversation.id, subjectUserId: conversation.patientId, data: { formats } });
  }

  /**
   * What a member needs to read the conversation: envelopes it can open, member devices, receipts.
   * The gateway puts the socket in the conversation's room before answering, so the client can
   * sync afterwards without missing anything (subscribe, then fetch).
   * @throws DomainError `not_found`, `forbidden`
   */
  async join(actor: Actor, conversationId: string): Promise<JoinedConversation> {
    const conversation = await this.authorize(actor, conversationId);
    // Every staff read of a conversation is audited before anything is answered.
    if (isStaff(actor)) await this.audit.record(actor, 'conversation.read', { conversationId: conversation.id, subjectUserId: conversation.patientId });
    const [envelopes, devices, patientAccount, receipts, currentEpochState] = await Promise.all([
      this.conversations.envelopesFor(conversation.id, { deviceId: actor.deviceId, userId: actor.userId, isStaff: isStaff(actor) }),
      this.conversations.memberDevices(conversation.id, actor.userId),
      this.accountKeys.patientAccountKey(conversation.patientId),
      this.conversations.receipts(conversation.id),
      this.conversations.epochState(conversation.id, conversation.currentEpoch),
    ]);
    const joined: JoinedConversation = { conversation: toConversationSummary(conversation), envelopes, devices, patientAccount, receipts };
    return currentEpochState ? { ...joined, currentEpochState } : joined;
  }

  /**
   * A clinician takes a waiting conversation (under their caps).
   * @throws DomainError `not_found`, `forbidden`, `conflict` (no longer waiting), `at_capacity`
   */
  async claim(actor: Actor, conversationId: string): Promise<{ conversation: ConversationSummary }> {
    const conversation = await this.authorize(actor, conversationId);
    await this.queue.claim(actor, conversation.id);
    return { conversation: toConversationSummary((await this.conversations.findById(conversation.id))!) };
  }

  /**
   * Appends an encrypted message to the record and relays it to the conversation's room. Resolves
   * only after the row is committed; a retry with the same client message id and content returns
   * the original place.
   * @throws DomainError `not_found`, `forbidden`, `conflict` (id or sender sequence reused with other content; closed conversation; an epoch not current: details `{ currentEpoch }`),
   *   and those of `AttachmentsService.claim` for a message with files
   */
  async send(actor: Actor, payload: ConversationSend, admit: () => void = () => undefined): Promise<SendResult> {
    const conversation = assertMember(actor, await this.access.get(payload.conversationId));
    // Staff read any conversation of their practice, but answer only those assigned to them: that is what the caps count.
    if (isStaff(actor) && conversation.assignedClinicianId !== actor.userId) {
      throw new DomainError('forbidden', 'Claim the conversation (or have it assigned to you) before answering.');
    }
    try {
      // Only a conversation nobody has taken waits for the opening; a closed one is refused as closed by the record below.
      await this.hours.assertMayWrite(conversation.practiceId, conversation.status !== 'waiting');
    } catch (error) {
      // A retry of a send stored before closing still gets its original answer, not `outside_hours`.
      const stored = await this.record.findMessage(actor.deviceId, payload.clientMessageId);
      if (stored) return { seq: stored.seq, serverTime: stored.createdAt.toISOString(), isDuplicate: true };
      throw error;
    }
    // A message with files claims their uploads first (a text send makes no query here), still in its lane's turn.
    if (payload.attachmentIds) {
      await this.attachments.claim(actor, { conversationId: conversation.id, clientMessageId: payload.clientMessageId, attachmentIds: payload.attachmentIds });
    }
    // The device's next send may go ahead once this one is queued, in this same tick (SendLanes).
    admit();
    const outcome = await this.record.append({
      conversationId: conversation.id,
      message: {
        epoch: payload.epoch,
        senderUserId: actor.userId,
        senderDeviceId: actor.deviceId,
        senderRole: primaryRole(actor),
        senderDeviceSeq: payload.senderDeviceSeq,
        clientMessageId: payload.clientMessageId,
        contentType: payload.contentType,
        ciphertext: Buffer.from(payload.ciphertext, 'base64'),
        nonce: Buffer.from(payload.nonce, 'base64'),
      },
    });
    switch (outcome.status) {
      case 'stored':
        return { seq: outcome.seq, serverTime: isoTime(outcome.createdAt), isDuplicate: false };
      case 'duplicate': {
        // A retry may follow a node that died between COMMIT and the relay: relay the stored entry again, so members on
        // other nodes with nothing later to sync on do not miss it (clients drop seqs they already hold).
        const [entry] = await this.record.entriesAfter(conversation.id, outcome.seq - 1, 1);
        if (entry?.seq === outcome.seq) this.realtime.publish(rooms.conversation(conversation.id), 'message:relayed', toRecordEntry(entry));
        return { seq: outcome.seq, serverTime: outcome.createdAt.toISOString(), isDuplicate: true };
      }
      case 'conflict':
        throw new DomainError('conflict', 'That message id or sequence number was already used for a different message.');
      case 'closed':
        throw new DomainError('conflict', 'This conversation is closed.');
      case 'unknown_epoch':
        throw new DomainError('conflict', 'Unknown key epoch for this conversation.', { currentEpoch: outcome.currentEpoch });
      case 'stale_epoch':
        // The client re-encrypts under the current epoch (after re-joining for its envelopes) and sends again.
        throw new DomainError('conflict', 'A newer key epoch has started: encrypt under the current one.', { currentEpoch: outcome.currentEpoch });
      case 'not_found':
        throw new DomainError('not_found', 'No such conversation.');
    }
  }

  /**
   * Entries after `afterSeq`, in order: what a client missed. A member of staff whose socket has not
   * joined the conversation (whose read was therefore not audited at the join) is audited here.
   * @throws DomainError `not_found`, `forbidden`
   */
  async sync(actor: Actor, payload: { conversationId: string; afterSeq: number; limit?: number }, hasJoined = false): Promise<SyncResult> {
    const conversation = await this.authorize(actor, payload.conversationId);
    if (isStaff(actor) && !hasJoined) {
      await this.audit.record(actor, 'conversation.read', { conversationId: conversation.id, subjectUserId: conversation.patientId, data: { via: 'sync' } });
    }
    const limit = payload.limit ?? DEFAULT_SYNC_LIMIT;
    const page = await this.record.entriesAfter(conversation.id, payload.afterSeq, limit + 1);
    const entries = page.slice(0, limit).map((entry) => toRecordEntry(entry));
    return { entries, lastSeq: Math.max(conversation.lastSeq, entries.at(-1)?.seq ?? 0), hasMore: page.length > limit };
  }

  /** Tells the other members' sockets that the caller is (not) typing. @throws DomainError `not_found`, `forbidden` */
  async typing(actor: Actor, payload: ConversationTyping, socketId: string): Promise<null> {
    const conversation = assertMember(actor, await this.access.get(payload.conversationId));
    const fact = { conversationId: conversation.id, userId: actor.userId, role: primaryRole(actor), isTyping: payload.isTyping };
    this.realtime.publish(rooms.conversation(conversation.id), 'conversation:typing', fact, socketId);
    return null;
  }

  /**
   * Records that the caller's device has received or read everything up to `upToSeq`, and tells the room.
   * @throws DomainError `not_found`, `forbidden`, `invalid_payload` (beyond the last entry)
   */
  async receipt(actor: Actor, payload: ConversationReceipt): Promise<null> {
    const conversation = await this.authorize(actor, payload.conversationId);
    if (payload.upToSeq > conversation.lastSeq) throw new DomainError('invalid_payload', 'upToSeq is beyond the last entry.');
    const upToSeq = await this.conversations.raiseReceipt({
      conversationId: conversation.id,
      deviceId: actor.deviceId,
      userId: actor.userId,
      kind: payload.kind,
      upToSeq: payload.upToSeq,
    });
    this.realtime.publish(rooms.conversation(conversation.id), 'receipt:updated', {
      conversationId: conversation.id,
      userId: actor.userId,
      deviceId: actor.deviceId,
      kind: payload.kind,
      upToSeq,
    });
    return null;
  }
}
