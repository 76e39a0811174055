import {
  ConversationFeed,
  HttpApi,
  MemoryFeedCursorStore,
  MemoryOutboxStore,
  Outbox,
  ParleyClient,
  type EntryCodec,
  type FeedCursorStore,
  type FeedEntry,
  type OutboxResult,
  type OutboxStore,
} from '@parley/client';
import { fromBase64, ready, ReceiveGuard, type BoxKeys, type RecordKey } from '@parley/crypto';
import type { ConversationSummary, JoinedConversation, MemberDevice, RecordEntry, StoredEnvelope } from '@parley/protocol';
import { AccountFlowError, epochKeyId, type SignedIn } from './accounts.js';
import { decryptEntry, encryptForSend, newEpoch, openEnvelope, type EnvelopeTarget } from './conversation-crypto.js';
import { currentRecordKey, isCertifiedBy, isDeviceTrusted } from './trust.js';

/** One step of a conversation as the app shows it: a decrypted, verified message or a system event. */
export type ChatEntry =
  | {
      kind: 'message';
      seq: number;
      serverTime: string;
      senderUserId: string;
      senderDeviceId: string;
      senderRole: 'patient' | 'clinician' | 'manager';
      senderName: string;
      /** The id the sending device gave the message: how a sender matches its own local copy. */
      clientMessageId: string;
      body: string;
      clientSentAt: string;
      /**
       * Red-flag group ids (e.g. `chest_pain`) the patient's device found in this text, for which it showed
       * the 999/111 advice and the patient chose to send anyway; signed with the text. Empty when none,
       * and always empty for a staff sender. {@link redFlagLabel} words them.
       */
      redFlags: string[];
      /** Sent by the signed-in user, from this device or another of theirs. */
      isMine: boolean;
    }
  | { kind: 'system'; seq: number; serverTime: string; event: string; data: Record<string, string | number | boolean | null> };

/** Why an entry could not be opened (besides the crypto codes): its sender or key is unknown or untrusted. */
export class ChatEntryError extends Error {
  constructor(
    readonly code: 'unknown_sender' | 'untrusted_sender' | 'no_key',
    message: string,
  ) {
    super(message);
    this.name = 'ChatEntryError';
  }
}

export interface ChatSessionOptions {
  baseUrl: string;
  signedIn: SignedIn;
  /** The practice root public key this device pinned: from the invitation code or key backup (patients), or the staff key store. */
  pinnedRoot: Uint8Array;
  /** Staff: the record keys opened from this device's grants. */
  recordKeys?: ReadonlyMap<number, RecordKey>;
  /**
   * Epoch keys this device already holds, by `epochKeyId(conversationId, epoch)`: for a patient, those
   * opened with the account key at enrolment. The session adds each key it opens; the first one kept for
   * an epoch is never replaced by a later server answer.
   */
  epochKeys?: Map<string, Uint8Array>;
  /** Called when the session opens an epoch key it did not hold, for the app to keep it (the first key seen for an epoch then survives a reload). */
  onEpochKey?: (id: string, key: Uint8Array) => void;
  /** Patients: the highest record key version this device has seen as current; a lower one is refused (no rollback). */
  recordKeyFloor?: number;
  /** Called when a higher current record key version was seen, for the app to remember it. */
  onRecordKeyFloor?: (version: number) => void;
  outboxStore?: OutboxStore;
  cursorStore?: FeedCursorStore;
  requestTimeoutMs?: number;
  /** Called whenever an outbox item is added, changes state or leaves (to show queued sends). */
  onOutboxChange?: () => void;
}

interface Followed {
  feed: ConversationFeed<ChatEntry>;
  /** The newest join answer: the conversation summary and the patient's account key. */
  joined: JoinedConversation;
  /** Every member device and envelope learnt from any join answer: a later snapshot never forgets one. */
  devices: Map<string, MemberDevice>;
  envelopes: Map<string, StoredEnvelope>;
  epochKeys: Map<number, Uint8Array>;
  nextSenderSeq: number;
}

/** How long to keep retrying a re-join (to learn a new member's device) across dropped connections. */
const REJOIN_PATIENCE_MS = 30_000;

/**
 * A signed-in user's end-to-end session: one socket, an outbox, and a feed per followed conversation
 * whose entries are decrypted and verified here, in the client. The server only ever sees ciphertext.
 */
export class ChatSession {
  private readonly followed = new Map<string, Followed>();
  private readonly guard = new ReceiveGuard();

  private constructor(
    private readonly options: ChatSessionOptions,
    readonly client: ParleyClient,
    readonly outbox: Outbox,
    readonly api: HttpApi,
  ) {}

  /** Connects with the session token and starts the outbox (which resends what an earlier run left pending). @throws ParleyConnectionError */
  static async start(options: ChatSessionOptions): Promise<ChatSession> {
    await ready();
    const token = options.signedIn.session.token;
    const client = await ParleyClient.connect({ url: options.baseUrl, token, requestTimeoutMs: options.requestTimeoutMs });
    const outbox = new Outbox({ client, store: options.outboxStore ?? new MemoryOutboxStore(), onChange: options.onOutboxChange });
    await outbox.start();
    return new ChatSession(options, client, outbox, new HttpApi({ baseUrl: options.baseUrl, token }));
  }

  private get me() {
    return this.options.signedIn;
  }

  /**
   * Opens a conversation (patients): a new epoch key sealed only to keys this device verified itself:
   * its own key from its own store, the patient's other devices whose certificates verify under the
   * account key it holds, the account key (its own public halves), and the newest record key the pinned
   * root vouches for as current, never older than the newest this device has seen. A device the server
   * lists without such a certificate gets nothing.
   * @throws AccountFlowError with the gateway's code, or `untrusted_record_key`
   */
  async openConversation(topic: string): Promise<ConversationSummary> {
    const { account, session, device: own } = this.me;
    if (!account) throw new AccountFlowError('forbidden', 'only patients open conversations');
    const [devices, keys] = await Promise.all([this.api.listDevices(), this.api.getPracticeKeys()]);
    if (!devices.ok) throw AccountFlowError.of(devices.error);
    if (!keys.ok) throw AccountFlowError.of(keys.error);
    const record = currentRecordKey(keys.data, session.practice.odsCode, this.options.pinnedRoot);
    if (!record) throw new AccountFlowError('untrusted_record_key', 'the practice offers no record key its root key vouches for');
    const floor = this.options.recordKeyFloor ?? 0;
    if (record.version < floor) throw new AccountFlowError('untrusted_record_key', `the server offers record key ${record.version}, older than version ${floor} this device has seen`);
    if (record.version > floor) {
      this.options.recordKeyFloor = record.version;
      this.options.onRecordKeyFloor?.(record.version);
    }
    const otherDevices = devices.data.filter(
      (device) => device.revokedAt === null && device.id !== own.deviceId && device.userId === session.user.id && isCertifiedBy(device, account.signPublicKey),
    );
    const targets: EnvelopeTarget[] = [
      { recipient: { kind: 'device', deviceId: own.deviceId }, boxPublicKey: own.keys.boxPublicKey },
      ...otherDevices.map((device) => ({ recipient: { kind: 'device' as const, deviceId: device.id }, boxPublicKey: fromBase64(device.boxPublicKey) })),
      { recipient: { kind: 'account', userId: session.user.id }, boxPublicKey: account.boxPublicKey },
      { recipient: { kind: 'record', version: record.version }, boxPublicKey: record.boxPublicKey },
    ];
    const conversationId = crypto.randomUUID();
    const { envelopes } = newEpoch({ conversationId, epoch: 1, targets, creatorSignSecretKey: this.me.device.keys.signSecretKey });
    const result = await this.client.request('conversation:open', { conversationId, topic, envelopes });
    if (!result.ok) throw AccountFlowError.of(result.error);
    return result.data.conversation;
  }

  /**
   * The names a screen may show for a conversation's members, by user id: a member of staff only as
   * their root-signed device certificate names them (never the server's name or role field), a patient
   * device only if it chains to the account key. Members that verify as nothing are left out.
   */
  verifiedNames(joined: JoinedConversation): Map<string, { name: string; role: 'patient' | 'clinician' | 'manager' }> {
    const names = new Map<string, { name: string; role: 'patient' | 'clinician' | 'manager' }>();
    for (const device of joined.devices) {
      if (names.has(device.userId) || !this.isTrusted(device, joined)) continue;
      if (device.role === 'patient') names.set(device.userId, { name: device.displayName, role: 'patient' });
      else if (device.certifiedAs) {
        const roles = device.certifiedAs.roles;
        names.set(device.userId, { name: device.certifiedAs.displayName, role: roles.includes(device.role) ? device.role : (roles[0] ?? 'clinician') });
      }
    }
    return names;
  }

  /** The caller's conversations. @throws AccountFlowError */
  async listConversations(): Promise<ConversationSummary[]> {
    const result = await this.client.request('conversation:list', {});
    if (!result.ok) throw AccountFlowError.of(result.error);
    return result.data.conversations;
  }

  /**
   * Follows a conversation: joins its room, syncs what is missing, and hands every entry, decrypted
   * and verified (or with the reason it could not be), to `onEntry` in sequence order, once each.
   */
  async follow(conversationId: string, onEntry: (entry: FeedEntry<ChatEntry>) => void): Promise<void> {
    if (this.followed.has(conversationId)) return;
    const state = { devices: new Map(), envelopes: new Map(), epochKeys: new Map<number, Uint8Array>(), nextSenderSeq: 1 } as Followed;
    const codec: EntryCodec<ChatEntry> = { open: (entry, context) => this.openEntry(state, entry, context.joined) };
    state.feed = new ConversationFeed({
      client: this.client,
      conversationId,
      codec,
      cursorStore: this.options.cursorStore ?? new MemoryFeedCursorStore(),
      onEntry,
    });
    this.followed.set(conversationId, state);
    const outcome = await state.feed.start();
    if (!outcome.ok) {
      this.followed.delete(conversationId);
      throw AccountFlowError.of(outcome.error);
    }
  }

  /**
   * Encrypts a text for a followed conversation and sends it through the outbox, which retries with
   * the same id until the server has committed it. `clientMessageId` (a fresh UUID unless given) comes back
   * on the record's copy, so a sender can match its local "sending" copy exactly. A patient's device passes
   * `redFlags` when it showed the red-flag advice and the patient sent anyway (then calls {@link markUrgent}).
   * @throws AccountFlowError (`not_following`, `no_key`), CryptoError `invalid_input` for a malformed red-flag id
   */
  async send(conversationId: string, body: string, clientMessageId: string = crypto.randomUUID(), options: { redFlags?: readonly string[] } = {}): Promise<OutboxResult> {
    const state = this.followed.get(conversationId);
    if (!state?.joined) throw new AccountFlowError('not_following', 'follow the conversation before sending');
    const epoch = state.joined.conversation.currentEpoch;
    const epochKey = this.epochKey(state, epoch);
    const senderDeviceSeq = this.nextSenderSeq(state, conversationId);
    const payload = encryptForSend({
      conversation: state.joined.conversation,
      epoch,
      epochKey,
      sender: { userId: this.me.session.user.id, deviceId: this.me.device.deviceId, role: this.role, signSecretKey: this.me.device.keys.signSecretKey },
      senderDeviceSeq,
      clientMessageId,
      body,
      redFlags: options.redFlags,
    });
    return this.outbox.enqueue(payload);
  }

  /**
   * A patient's device raises its conversation's priority after the red-flag advice: the server sees only
   * this mark (never the words or which red flag), puts the conversation at the head of the queue and
   * audits it. Idempotent. @throws AccountFlowError with the gateway's code (`forbidden`, `not_found`, `conflict` …)
   */
  async markUrgent(conversationId: string): Promise<ConversationSummary> {
    const result = await this.client.request('conversation:urgent', { conversationId });
    if (!result.ok) throw AccountFlowError.of(result.error);
    return result.data.conversation;
  }

  /** A clinician becomes available for assignments (or away). @throws AccountFlowError */
  async setAvailability(availability: 'available' | 'away'): Promise<void> {
    const result = await this.client.request('staff:availability', { availability });
    if (!result.ok) throw AccountFlowError.of(result.error);
  }

  /** A clinician takes a waiting conversation. @throws AccountFlowError (`conflict`, `at_capacity` …) */
  async claim(conversationId: string): Promise<ConversationSummary> {
    const result = await this.client.request('conversation:claim', { conversationId });
    if (!result.ok) throw AccountFlowError.of(result.error);
    return result.data.conversation;
  }

  /** Tells the conversation the user is (not) typing. */
  async typing(conversationId: string, isTyping: boolean): Promise<void> {
    await this.client.request('conversation:typing', { conversationId, isTyping });
  }

  /**
   * Marks what the app showed, up to `upToSeq`, as read. The receipt never claims more than this device
   * opened: it is clamped to the feed's readable seq, which stops before the first entry that could not
   * be opened (so "Read" on the other side never covers a message this device could not show). Nothing is
   * sent for a conversation this session does not follow, or when nothing is readable yet.
   */
  async markRead(conversationId: string, upToSeq: number): Promise<void> {
    const readable = Math.min(upToSeq, this.followed.get(conversationId)?.feed.readableSeq ?? 0);
    if (readable < 1) return;
    await this.client.request('conversation:receipt', { conversationId, kind: 'read', upToSeq: readable });
  }

  /** Stops the feeds and the outbox (pending items stay in the store) and closes the socket. */
  async close(): Promise<void> {
    for (const { feed } of this.followed.values()) feed.stop();
    this.followed.clear();
    await this.outbox.stop();
    this.client.close();
  }

  private get role(): 'patient' | 'clinician' | 'manager' {
    const roles = this.me.session.user.roles;
    if (roles.includes('patient')) return 'patient';
    return roles.includes('clinician') ? 'clinician' : 'manager';
  }

  /** The next sender sequence: past every own message seen in the record and every one still in the outbox. */
  private nextSenderSeq(state: Followed, conversationId: string): number {
    const pending = this.outbox.itemsOf(conversationId).map((item) => item.send.senderDeviceSeq);
    const next = Math.max(state.nextSenderSeq, ...pending.map((seq) => seq + 1));
    state.nextSenderSeq = next + 1;
    return next;
  }

  private async openEntry(state: Followed, entry: RecordEntry, joined: JoinedConversation): Promise<ChatEntry> {
    absorb(state, joined);
    if (entry.kind === 'system' || !entry.message) {
      return { kind: 'system', seq: entry.seq, serverTime: entry.serverTime, event: entry.system?.event ?? 'unknown', data: entry.system?.data ?? {} };
    }
    const m = entry.message;
    // A member who joined after our snapshot (a clinician's first reply): ask the server again.
    if (!state.devices.has(m.senderDeviceId)) await this.rejoin(state, entry.conversationId);
    const sender = state.devices.get(m.senderDeviceId);
    if (!sender) throw new ChatEntryError('unknown_sender', 'the sending device is not a member of this conversation');
    if (sender.userId !== m.senderUserId) throw new ChatEntryError('unknown_sender', 'the sending device belongs to someone else');
    if (!this.isTrusted(sender, state.joined)) throw new ChatEntryError('untrusted_sender', 'the sending device is not certified by the practice');
    // The role in the signed header must be one the practice certified for this device (a clinician's device cannot speak as a manager).
    const isRoleCertified = sender.role === 'patient' ? m.senderRole === 'patient' : m.senderRole !== 'patient' && (sender.certifiedAs?.roles.includes(m.senderRole) ?? false);
    if (!isRoleCertified) throw new ChatEntryError('untrusted_sender', 'the sender speaks in a role the practice did not certify');
    const payload = decryptEntry({
      conversation: state.joined.conversation,
      entry,
      epochKey: this.epochKey(state, m.epoch),
      senderSignPublicKey: fromBase64(sender.signPublicKey),
    });
    // Refuses a message id or sender sequence already seen: a replay by the server under a new seq.
    this.guard.accept({ conversationId: entry.conversationId, senderDeviceId: m.senderDeviceId, clientMsgId: m.clientMessageId, senderDeviceSeq: m.senderDeviceSeq });
    if (m.senderDeviceId === this.me.device.deviceId) state.nextSenderSeq = Math.max(state.nextSenderSeq, m.senderDeviceSeq + 1);
    return {
      kind: 'message',
      seq: entry.seq,
      serverTime: entry.serverTime,
      senderUserId: m.senderUserId,
      senderDeviceId: m.senderDeviceId,
      senderRole: m.senderRole,
      // Staff names come from the root-signed device certificate just verified, never from a server field.
      senderName: sender.role === 'patient' ? sender.displayName : (sender.certifiedAs?.displayName ?? ''),
      clientMessageId: m.clientMessageId,
      body: payload.body,
      clientSentAt: payload.clientSentAt,
      redFlags: m.senderRole === 'patient' ? [...(payload.redFlags ?? [])] : [],
      // The sender device was checked above to belong to senderUserId: a patient's other devices are "You" too.
      isMine: m.senderUserId === this.me.session.user.id,
    };
  }

  /** Re-joins to refresh members; a dropped connection is waited out (up to REJOIN_PATIENCE_MS), a refusal is not. */
  private async rejoin(state: Followed, conversationId: string): Promise<void> {
    const deadline = Date.now() + REJOIN_PATIENCE_MS;
    for (;;) {
      const result = await this.client.request('conversation:join', { conversationId });
      if (result.ok) return absorb(state, result.data);
      const isTransient = result.error.code === 'timeout' || result.error.code === 'disconnected';
      if (!isTransient || Date.now() > deadline) return;
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
  }

  private isTrusted(device: MemberDevice, joined: JoinedConversation): boolean {
    return isDeviceTrusted(device, joined, this.options.pinnedRoot, this.me.account);
  }

  /**
   * The epoch key: one this device already holds, or opened from the first envelope (in the order the
   * server first listed them) that this client can open and that passes every check. A first epoch
   * counts only from one of the conversation's own patient devices (the patient opens it); a later
   * epoch from any trusted member device. Every opened key is kept and never replaced.
   * @throws ChatEntryError `no_key`, CryptoError of the first envelope that failed
   */
  private epochKey(state: Followed, epoch: number): Uint8Array {
    const { joined } = state;
    const id = epochKeyId(joined.conversation.id, epoch);
    const held = state.epochKeys.get(epoch) ?? this.options.epochKeys?.get(id);
    if (held) {
      state.epochKeys.set(epoch, held);
      return held;
    }
    let firstError: unknown;
    for (const envelope of [...state.envelopes.values()].filter((candidate) => candidate.epoch === epoch)) {
      const recipient = this.boxKeysFor(envelope);
      const creator = state.devices.get(envelope.creatorDeviceId);
      if (!recipient || !creator) continue;
      const isPatientDevice = creator.role === 'patient' && creator.userId === joined.conversation.patientId;
      const isMember = epoch === 1 ? isPatientDevice : isPatientDevice || creator.role !== 'patient';
      try {
        const key = openEnvelope({
          conversationId: joined.conversation.id,
          envelope,
          recipient,
          creator: { signPublicKey: fromBase64(creator.signPublicKey), isTrusted: this.isTrusted(creator, joined), isMember },
        });
        state.epochKeys.set(epoch, key);
        this.options.epochKeys?.set(id, key);
        this.options.onEpochKey?.(id, key);
        return key;
      } catch (error) {
        firstError ??= error;
      }
    }
    throw firstError ?? new ChatEntryError('no_key', `no envelope of epoch ${epoch} opens with this device's keys`);
  }

  private boxKeysFor(envelope: StoredEnvelope): BoxKeys | undefined {
    const { recipient } = envelope;
    if (recipient.kind === 'device') return recipient.deviceId === this.me.device.deviceId ? this.me.device.keys : undefined;
    // The account key's secret halves never stay on a device: its envelopes were opened at enrolment (options.epochKeys).
    if (recipient.kind === 'account') return undefined;
    return this.options.recordKeys?.get(recipient.version);
  }
}

/** Takes in a join answer: the newest summary and account key, and every device and envelope it lists. */
function absorb(state: Followed, joined: JoinedConversation): void {
  // The feed hands back the snapshot of its own join with every entry; never let it replace a newer one.
  if (!state.joined || joined.conversation.lastSeq >= state.joined.conversation.lastSeq) state.joined = joined;
  for (const device of joined.devices) state.devices.set(device.id, device);
  // The first envelope seen for an epoch and recipient key is kept: a later answer cannot swap it.
  for (const envelope of joined.envelopes) {
    const key = `${envelope.epoch}/${envelope.recipientKeyId}`;
    if (!state.envelopes.has(key)) state.envelopes.set(key, envelope);
  }
}
