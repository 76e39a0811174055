import { Injectable } from '@nestjs/common';
import type {
  ConversationOpen,
  ConversationReceipt,
  ConversationSend,
  ConversationSummary,
  ConversationTyping,
  JoinedConversation,
  RecordEntry,
  SendResult,
  SyncResult,
} from '@parley/protocol';
import { isStaff, primaryRole, type Actor } from '../common/actor.js';
import { DomainError } from '../common/domain-error.js';
import { RealtimePublisher } from '../common/realtime.publisher.js';
import { rooms } from '../common/rooms.js';
import { RecordService } from '../record/record.service.js';
import type { StoredEntry } from '../record/record.types.js';
import { ConversationsRepository, type ConversationRow } from './conversations.repository.js';

const DEFAULT_SYNC_LIMIT = 200;
const LIST_LIMIT = 100;

/** Conversations and the ciphertext relay: who may open, read and write what, and in which order it is stored and sent. */
@Injectable()
export class ConversationsService {
  constructor(
    private readonly conversations: ConversationsRepository,
    private readonly record: RecordService,
    private readonly realtime: RealtimePublisher,
  ) {}

  /**
   * Opens a conversation for the calling patient with its first epoch's envelopes, and records
   * that it was opened. Retrying the same open returns the same conversation.
   * @throws DomainError `forbidden` (not a patient), `invalid_payload` (envelopes), `conflict` (id taken, or no record key)
   */
  async open(actor: Actor, payload: ConversationOpen): Promise<{ conversation: ConversationSummary }> {
    if (!actor.roles.includes('patient')) throw new DomainError('forbidden', 'Only patients open conversations.');
    const existing = await this.conversations.findById(payload.conversationId);
    if (existing) {
      if (existing.patientId !== actor.userId || existing.topic !== payload.topic) throw new DomainError('conflict', 'That conversation id is taken.');
      return { conversation: toSummary(await this.ensureOpenedEntry(existing)) };
    }
    await this.checkEnvelopes(actor, payload);
    await this.conversations.create({
      id: payload.conversationId,
      practiceId: actor.practiceId,
      patientId: actor.userId,
      topic: payload.topic,
      creatorDeviceId: actor.deviceId,
      envelopes: payload.envelopes,
    });
    const created = await this.conversations.findById(payload.conversationId);
    return { conversation: toSummary(await this.ensureOpenedEntry(created!)) };
  }

  /** The caller's conversations (a patient's own; for staff, their practice's), newest first. */
  async list(actor: Actor): Promise<{ conversations: ConversationSummary[] }> {
    const filter = isStaff(actor) ? { practiceId: actor.practiceId } : { patientId: actor.userId };
    return { conversations: (await this.conversations.listFor(filter, LIST_LIMIT)).map(toSummary) };
  }

  /**
   * The conversation if the caller may use it: its patient, or staff of its practice.
   * @throws DomainError `not_found` (no such conversation), `forbidden` (someone else's)
   */
  async authorize(actor: Actor, conversationId: string): Promise<ConversationRow> {
    const conversation = await this.conversations.findById(conversationId);
    if (!conversation) throw new DomainError('not_found', 'No such conversation.');
    const isMember = isStaff(actor) ? conversation.practiceId === actor.practiceId : conversation.patientId === actor.userId;
    if (!isMember) throw new DomainError('forbidden', 'That conversation is not yours.');
    return conversation;
  }

  /**
   * What a member needs to read the conversation: envelopes it can open, member devices, receipts.
   * The gateway puts the socket in the conversation's room before answering, so the client can
   * sync afterwards without missing anything (subscribe, then fetch).
   * @throws DomainError `not_found`, `forbidden`
   */
  async join(actor: Actor, conversationId: string): Promise<JoinedConversation> {
    const conversation = await this.authorize(actor, conversationId);
    const [envelopes, devices, patientAccount, receipts] = await Promise.all([
      this.conversations.envelopesFor(conversation.id, { deviceId: actor.deviceId, userId: actor.userId, isStaff: isStaff(actor) }),
      this.conversations.memberDevices(conversation.id, actor.userId),
      this.conversations.patientAccount(conversation.patientId),
      this.conversations.receipts(conversation.id),
    ]);
    return { conversation: toSummary(conversation), envelopes, devices, patientAccount, receipts };
  }

  /**
   * Appends an encrypted message to the record and relays it to the conversation's room. Resolves
   * only after the row is committed; a retry with the same client message id and content returns
   * the original place.
   * @throws DomainError `not_found`, `forbidden`, `conflict` (id or sender sequence reused with other content; closed conversation; unknown epoch)
   */
  async send(actor: Actor, payload: ConversationSend): Promise<SendResult> {
    const conversation = await this.authorize(actor, payload.conversationId);
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
      case 'stored': {
        const entry: RecordEntry = {
          conversationId: conversation.id,
          seq: outcome.seq,
          kind: 'message',
          serverTime: outcome.createdAt.toISOString(),
          hash: outcome.hash.toString('hex'),
          message: { ...payload, senderUserId: actor.userId, senderDeviceId: actor.deviceId, senderRole: primaryRole(actor) },
        };
        this.realtime.publish(rooms.conversation(conversation.id), 'message:relayed', entry);
        return { seq: outcome.seq, serverTime: entry.serverTime, isDuplicate: false };
      }
      case 'duplicate':
        return { seq: outcome.seq, serverTime: outcome.createdAt.toISOString(), isDuplicate: true };
      case 'conflict':
        throw new DomainError('conflict', 'That message id or sequence number was already used for a different message.');
      case 'closed':
        throw new DomainError('conflict', 'This conversation is closed.');
      case 'unknown_epoch':
        throw new DomainError('conflict', 'Unknown key epoch for this conversation.');
      case 'not_found':
        throw new DomainError('not_found', 'No such conversation.');
    }
  }

  /** Entries after `afterSeq`, in order: what a client missed. @throws DomainError `not_found`, `forbidden` */
  async sync(actor: Actor, payload: { conversationId: string; afterSeq: number; limit?: number }): Promise<SyncResult> {
    const conversation = await this.authorize(actor, payload.conversationId);
    const limit = payload.limit ?? DEFAULT_SYNC_LIMIT;
    const page = await this.record.entriesAfter(conversation.id, payload.afterSeq, limit + 1);
    const entries = page.slice(0, limit).map(toRecordEntry);
    return { entries, lastSeq: Math.max(conversation.lastSeq, entries.at(-1)?.seq ?? 0), hasMore: page.length > limit };
  }

  /** Tells the other members' sockets that the caller is (not) typing. @throws DomainError `not_found`, `forbidden` */
  async typing(actor: Actor, payload: ConversationTyping, socketId: string): Promise<null> {
    const conversation = await this.authorize(actor, payload.conversationId);
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
    const upToSeq = await this.conversations.raiseReceipt({ conversationId: conversation.id, deviceId: actor.deviceId, userId: actor.userId, kind: payload.kind, upToSeq: payload.upToSeq });
    this.realtime.publish(rooms.conversation(conversation.id), 'receipt:updated', { conversationId: conversation.id, userId: actor.userId, deviceId: actor.deviceId, kind: payload.kind, upToSeq });
    return null;
  }

  /** Checks the first epoch's envelopes go only to the patient's own devices, account key and the practice's record key. */
  private async checkEnvelopes(actor: Actor, payload: ConversationOpen): Promise<void> {
    const keyIds = new Set(payload.envelopes.map((envelope) => envelope.recipientKeyId));
    if (keyIds.size !== payload.envelopes.length) throw new DomainError('invalid_payload', 'Two envelopes for the same recipient key.');
    const latestRecordKey = await this.conversations.latestRecordKeyVersion(actor.practiceId);
    if (latestRecordKey === undefined) throw new DomainError('conflict', 'The practice has not set up its record key yet.');
    const deviceIds = payload.envelopes.flatMap((envelope) => (envelope.recipient.kind === 'device' ? [envelope.recipient.deviceId] : []));
    const ownDevices = await this.conversations.activeDevicesOf(actor.userId, deviceIds);
    for (const { recipient } of payload.envelopes) {
      const isAllowed =
        (recipient.kind === 'device' && ownDevices.has(recipient.deviceId)) ||
        (recipient.kind === 'account' && recipient.userId === actor.userId) ||
        (recipient.kind === 'record' && recipient.version === latestRecordKey);
      if (!isAllowed) throw new DomainError('invalid_payload', `An envelope is addressed to a ${recipient.kind} that is not a member.`);
    }
    const kinds = new Set(payload.envelopes.map((envelope) => envelope.recipient.kind));
    // Without these the practice could not read its own record, or the patient their history on a new device.
    if (!kinds.has('record') || !kinds.has('account')) throw new DomainError('invalid_payload', 'Envelopes for the record key and the account key are required.');
  }

  /** The `opened` entry starts every record; an open that was interrupted before writing it gets it on retry. */
  private async ensureOpenedEntry(conversation: ConversationRow): Promise<ConversationRow> {
    if (conversation.lastSeq > 0) return conversation;
    const outcome = await this.record.append({ conversationId: conversation.id, system: { event: 'opened', data: { topic: conversation.topic } } });
    return outcome.status === 'stored' ? { ...conversation, lastSeq: outcome.seq } : conversation;
  }
}

function toSummary(conversation: ConversationRow): ConversationSummary {
  return {
    id: conversation.id,
    practiceId: conversation.practiceId,
    practiceOdsCode: conversation.practiceOdsCode,
    patientId: conversation.patientId,
    topic: conversation.topic,
    status: conversation.status,
    currentEpoch: conversation.currentEpoch,
    lastSeq: conversation.lastSeq,
    createdAt: conversation.createdAt.toISOString(),
  };
}

/** A stored entry as the wire carries it. */
export function toRecordEntry(entry: StoredEntry): RecordEntry {
  const base = { conversationId: entry.conversationId, seq: entry.seq, serverTime: entry.createdAt.toISOString(), hash: entry.hash.toString('hex') };
  if (entry.system) return { ...base, kind: 'system', system: entry.system };
  const m = entry.message!;
  return {
    ...base,
    kind: 'message',
    message: { ...m, ciphertext: m.ciphertext.toString('base64'), nonce: m.nonce.toString('base64') },
  };
}
