import { HttpApi, MemoryFeedCursorStore, MemoryOutboxStore, Outbox, ParleyClient, type FeedCursorStore, type OutboxStore } from '@parley/client';
import { fromBase64, ready, ReceiveGuard, type RecordKey } from '@parley/crypto';
import type { ConversationSummary, EpochReason, PracticeKeys } from '@parley/protocol';
import { AccountFlowError, type SignedIn } from './accounts.js';
import { Conversation } from './conversation.js';
import { newEpoch, type EnvelopeTarget } from './conversation-crypto.js';
import { currentRoot, practiceAuthority, type TrustAnchor } from './authority.js';
import type { RevocationState } from './revocations.js';
import { currentRecordKey, isCertifiedBy, type CurrentRecordKey } from './trust.js';

export interface ChatSessionOptions {
  baseUrl: string;
  signedIn: SignedIn;
  /**
   * The practice root public key this device pinned (from the invitation code or key backup: patients), or the
   * authority a staff client resolved from its pinned root. The session resolves the practice's current authority
   * from it (root successors, admin keys: `practiceAuthority`) each time it reads the practice's keys.
   */
  pinnedRoot: TrustAnchor;
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
  /**
   * The practice's revocation list as this device verified it: a device it names is never sealed to, and nothing it
   * made at or after its revocation is trusted. Refreshed when the session starts and before a patient opens a conversation.
   */
  revocations?: RevocationState;
  outboxStore?: OutboxStore;
  cursorStore?: FeedCursorStore;
  requestTimeoutMs?: number;
}

/** How long a verified current record key is reused before the practice keys are fetched again (the epoch triggers read it before sends). */
const RECORD_KEY_TTL_MS = 60_000;

/**
 * A signed-in user's end-to-end session: one socket, an outbox, this device's key material, and one
 * {@link Conversation} model per conversation it follows, whose entries are decrypted and verified there,
 * in the client. The server only ever sees ciphertext.
 */
export class ChatSession {
  private readonly conversations = new Map<string, Conversation>();
  private readonly guard = new ReceiveGuard();
  private readonly cursorStore: FeedCursorStore;
  private recordKey: { key: CurrentRecordKey; at: number } | null = null;
  /** Whom this session trusts to sign for the practice: the pinned root, moved on only along verified successors. */
  private anchor: TrustAnchor;

  private constructor(
    private readonly options: ChatSessionOptions,
    readonly client: ParleyClient,
    readonly outbox: Outbox,
    readonly api: HttpApi,
  ) {
    this.cursorStore = options.cursorStore ?? new MemoryFeedCursorStore();
    this.anchor = options.pinnedRoot;
  }

  /** Connects with the session token and starts the outbox (which resends what an earlier run left pending). @throws ParleyConnectionError, AccountFlowError (the revocation list's refusals) */
  static async start(options: ChatSessionOptions): Promise<ChatSession> {
    await ready();
    const token = options.signedIn.session.token;
    const api = new HttpApi({ baseUrl: options.baseUrl, token });
    // The practice's keys, read once: the revocation list is verified under the authority they give, and so is everything
    // after. Before anything is read or sealed: a list the server rolled back or forged stops the session here.
    const keys = await api.getPracticeKeys();
    await options.revocations?.refresh(keys.ok ? keys.data : undefined);
    const client = await ParleyClient.connect({ url: options.baseUrl, token, requestTimeoutMs: options.requestTimeoutMs });
    let session: ChatSession | null = null;
    // Each conversation model shows its queued sends: tell them all when an item is added, changes state or leaves.
    const onChange = () => {
      for (const conversation of session?.conversations.values() ?? []) conversation.outboxChanged();
    };
    const outbox = new Outbox({ client, store: options.outboxStore ?? new MemoryOutboxStore(), onChange });
    session = new ChatSession(options, client, outbox, api);
    // The practice's authority before anything is verified: a staff device admitted with an admin key, or certified
    // again at a root rotation, is trusted only through it. Unreachable now, the pinned root stands (a denial at worst).
    if (keys.ok) session.anchor = session.authorityFrom(keys.data);
    await outbox.start();
    return session;
  }

  private get me() {
    return this.options.signedIn;
  }

  /**
   * The model of one conversation, made on first use (it joins only when opened). `summary`, when the caller
   * has one (from a list), is shown until the join answers.
   */
  conversation(conversationId: string, summary?: ConversationSummary): Conversation {
    let conversation = this.conversations.get(conversationId);
    if (!conversation) {
      const { signedIn, recordKeys, epochKeys, onEpochKey, revocations } = this.options;
      // eslint-disable-next-line @typescript-eslint/no-this-alias -- the context reads the session's authority as it is now, not as it was
      const session = this;
      const context = {
        client: this.client,
        outbox: this.outbox,
        api: this.api,
        signedIn,
        get pinnedRoot(): TrustAnchor {
          return session.anchor;
        },
        recordKeys,
        epochKeys,
        onEpochKey,
        revocations,
        cursorStore: this.cursorStore,
        guard: this.guard,
        currentRecordKey: (fresh?: boolean) => this.currentRecordKey(fresh),
      };
      conversation = new Conversation(context, conversationId, summary ?? null);
      this.conversations.set(conversationId, conversation);
    }
    return conversation;
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
    // Read afresh (the revocation list with them), so a device revoked a moment ago gets nothing.
    const [devices, record] = await Promise.all([this.api.listDevices(), this.currentRecordKey(true)]);
    if (!devices.ok) throw AccountFlowError.of(devices.error);
    const otherDevices = devices.data.filter(
      (device) =>
        device.revokedAt === null &&
        device.id !== own.deviceId &&
        device.userId === session.user.id &&
        isCertifiedBy(device, account.signPublicKey, this.options.revocations?.revoked),
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
   * Starts a new epoch in each conversation (a manager at an offboarding, say: `reason` `offboarding`), one after
   * another, each sealed only to recipients this client verified (see {@link Conversation.startEpoch}). Answers which
   * succeeded and, for the others, why; never throws for one conversation's refusal.
   */
  async renewEpochs(
    conversationIds: readonly string[],
    reason: EpochReason,
  ): Promise<{ renewed: { conversationId: string; epoch: number }[]; failed: { conversationId: string; code: string; message: string }[] }> {
    const renewed: { conversationId: string; epoch: number }[] = [];
    const failed: { conversationId: string; code: string; message: string }[] = [];
    for (const conversationId of conversationIds) {
      const conversation = this.conversation(conversationId);
      try {
        await conversation.open();
        renewed.push({ conversationId, epoch: await conversation.startEpoch(reason) });
      } catch (error) {
        const code = error instanceof AccountFlowError ? error.code : error instanceof Error && 'code' in error ? String(error.code) : 'internal';
        failed.push({ conversationId, code, message: error instanceof Error ? error.message : String(error) });
      }
    }
    return { renewed, failed };
  }

  /**
   * The newest record key the practice's authority vouches for as current (read again after RECORD_KEY_TTL_MS, or when
   * `fresh`, with the revocation list and the authority itself), never older than the highest version this device has
   * seen: that floor rises with what it sees.
   * @throws AccountFlowError (`untrusted_record_key`, the gateway's codes)
   */
  private async currentRecordKey(fresh = false): Promise<CurrentRecordKey> {
    if (!fresh && this.recordKey && Date.now() - this.recordKey.at < RECORD_KEY_TTL_MS) return this.recordKey.key;
    const keys = await this.api.getPracticeKeys();
    if (!keys.ok) throw AccountFlowError.of(keys.error);
    await this.options.revocations?.refresh(keys.data);
    this.anchor = this.authorityFrom(keys.data);
    const record = currentRecordKey(keys.data, this.me.session.practice.odsCode, this.anchor);
    if (!record) throw new AccountFlowError('untrusted_record_key', 'the practice offers no record key its root key vouches for');
    const floor = this.options.recordKeyFloor ?? 0;
    if (record.version < floor)
      throw new AccountFlowError('untrusted_record_key', `the server offers record key ${record.version}, older than version ${floor} this device has seen`);
    if (record.version > floor) {
      this.options.recordKeyFloor = record.version;
      this.options.onRecordKeyFloor?.(record.version);
    }
    this.recordKey = { key: record, at: Date.now() };
    return record;
  }

  /** The practice's authority from the root this device pinned and the keys the server lists (only verified links count). */
  private authorityFrom(keys: PracticeKeys): TrustAnchor {
    return practiceAuthority(keys, this.me.session.practice.odsCode, currentRoot(this.options.pinnedRoot), this.options.revocations?.revoked);
  }

  /** The caller's conversations. @throws AccountFlowError */
  async listConversations(): Promise<ConversationSummary[]> {
    const result = await this.client.request('conversation:list', {});
    if (!result.ok) throw AccountFlowError.of(result.error);
    return result.data.conversations;
  }

  /** A clinician becomes available for assignments (or away). @throws AccountFlowError */
  async setAvailability(availability: 'available' | 'away'): Promise<void> {
    const result = await this.client.request('staff:availability', { availability });
    if (!result.ok) throw AccountFlowError.of(result.error);
  }

  /** Stops every conversation model and the outbox (pending items stay in the store) and closes the socket. */
  async close(): Promise<void> {
    for (const conversation of this.conversations.values()) conversation.stop();
    this.conversations.clear();
    await this.outbox.stop();
    this.client.close();
  }
}
