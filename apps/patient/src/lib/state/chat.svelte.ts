import type { FeedEntry } from '@parley/client';
import type { AttachmentDescriptor } from '@parley/crypto';
import type { AttachmentRequestKind, AttachmentSettings, ConversationSummary, ErrorBody, QueuePosition } from '@parley/protocol';
import type {
  ChatEntry,
  ChatSession,
  Conversation,
  ConversationChange,
  ConversationMember,
  PendingAttachment,
  PendingSend,
  SystemEventWording,
} from '@parley/sdk';
import { safeImageBlob } from '@parley/web';
import { attachOffer, type AttachOffer } from '../attachments';
import * as connection from '../connection';
import { findRedFlags, type RedFlagMatch } from '../safety/red-flags';
import { contextPair } from '@parley/ui';
import { AttachmentDraft } from './attachment-draft.svelte';
import { describeError } from './notices';
import type { PatientApp } from './patient-app.svelte';

/** One line of the chat as the screen draws it. Message bodies exist only here, in memory. */
export type ChatLine =
  | {
      kind: 'message';
      key: string;
      body: string;
      at: string;
      isMine: boolean;
      senderName: string;
      mark: 'sending' | 'waiting' | 'failed' | 'sent' | 'delivered' | 'read' | null;
      /** The files the message carries ([] for text): opened on demand, images only through a canvas. */
      attachments: readonly AttachmentDescriptor[];
      /** A send of this device still on its way: its files' names, types and sizes ([] otherwise). */
      sendingFiles: readonly PendingAttachment[];
    }
  | { kind: 'system'; key: string; at: string; text: string; tone: 'acknowledgement' | 'assignment' | 'closing' | 'request' | 'info' }
  | { kind: 'unreadable'; key: string; at: string | null };

/** A received image as the screen shows it: `ready` with an object URL of its canvas re-encode, in memory only. */
export type OpenedImage = { status: 'loading' } | { status: 'ready'; url: string } | { status: 'failed' };

const TYPING_IDLE_MS = 4_000;
const TYPING_SHOWN_MS = 8_000;

/**
 * One conversation on screen: the sdk's {@link Conversation} model mirrored into Svelte state (decrypted
 * entries in memory only, pending sends, receipts, typing, the assigned clinician), plus what only this
 * screen knows: the draft, the red-flag panel, what the patient has been shown and the queue position.
 * Created per conversation and live session.
 */
export class ChatState {
  declare conversation: ConversationSummary;
  entries = $state.raw<readonly FeedEntry<ChatEntry>[]>([]);
  sending = $state.raw<readonly PendingSend[]>([]);
  /** Queued sends left from before a reload (ciphertext in the outbox; their text is not kept). */
  earlierQueued = $state(0);
  /** Sends of an earlier run the server refused (their text was not kept), each with the reason to show until dismissed. */
  earlierFailed = $state.raw<readonly { clientMessageId: string; reason: string }[]>([]);
  othersDelivered = $state(0);
  othersRead = $state(0);
  typingName = $state<string | null>(null);
  clinician = $state.raw<{ name: string; role: string } | null>(null);
  draft = $state('');
  redFlags = $state.raw<RedFlagMatch[] | null>(null);
  isReady = $state(false);
  error = $state<string | null>(null);
  /** The newest entry the patient has been shown, on this device or another of theirs (their read receipts). */
  shownUpTo = $state(0);
  /** The clinician's open request for a photo or document (the newest `attachment.requested` the patient has not answered yet). */
  openRequest = $state.raw<{ kind: AttachmentRequestKind; seq: number } | null>(null);
  /** The file in the composer and its upload. */
  readonly attachment: AttachmentDraft;
  /** Received images by upload id, decrypted and redrawn through a canvas; their object URLs are revoked with the chat. */
  images = $state.raw<ReadonlyMap<string, OpenedImage>>(new Map());

  private members: ReadonlyMap<string, ConversationMember> = new Map();
  /** What the sdk's wording table needs: the members' certified names, the practice's topic labels, opening times in words. */
  private readonly wording: SystemEventWording = {
    nameOf: (userId) => this.members.get(userId)?.name,
    topicLabel: (topic) => this.topicLabel(topic),
    formatTime: (iso) => formatOpening(iso),
  };
  private typingTimer: ReturnType<typeof setTimeout> | null = null;
  private typingShownTimer: ReturnType<typeof setTimeout> | null = null;
  private isTyping = false;
  private readSent = 0;
  private unsubscribe: () => void = () => undefined;
  private isStopped = false;

  constructor(
    private readonly app: PatientApp,
    private readonly model: Conversation,
    conversation: ConversationSummary,
    private readonly topicLabel: (slug: string) => string,
    /** The practice's time zone, for opening times (the browser's own until the hours are known). */
    readonly timeZone: () => string | undefined,
    /** The practice's attachment settings (null until known): what the patient may send. */
    private readonly attachmentSettings: () => AttachmentSettings | null,
  ) {
    this.conversation = $state.raw(model.summary ?? conversation);
    this.attachment = new AttachmentDraft(attachmentSettings);
  }

  /** The attach buttons the practice allows now (null: none), in a conversation that is ready and not closed. */
  get attachOffer(): AttachOffer | null {
    if (!this.isReady || this.isClosed) return null;
    return attachOffer(this.attachmentSettings(), this.openRequest !== null);
  }

  get isClosed(): boolean {
    return this.conversation.status === 'closed';
  }

  get isWaiting(): boolean {
    return this.conversation.status === 'waiting';
  }

  /** The patient's place in the queue while waiting (the app keeps the latest `queue:position` of every conversation). */
  get queue(): QueuePosition | null {
    return this.isWaiting ? (this.app.queuePositions[this.conversation.id] ?? null) : null;
  }

  /** Whether the live connection is down (an upload waits for it, then resumes). */
  get isOffline(): boolean {
    return this.app.isOffline;
  }

  /** Whether the patient sees this conversation now: its chat screen shows, in a tab that is in front. */
  get isOnScreen(): boolean {
    return this.app.screen === 'chat' && this.app.openConversationId === this.conversation.id && this.app.isPageVisible;
  }

  /** Messages from the practice the patient has not been shown yet (0 until the first sync is done). */
  get unread(): number {
    if (!this.isReady) return 0;
    return this.entries.filter((entry) => entry.ok && entry.value.kind === 'message' && !entry.value.isMine && entry.value.seq > this.shownUpTo).length;
  }

  /** Everything to draw, in order: the record, then sends not in it yet. */
  get lines(): ChatLine[] {
    const lines: ChatLine[] = [];
    const seen = new Set<number>();
    for (const entry of this.entries) {
      if (!entry.ok) {
        lines.push({ kind: 'unreadable', key: `seq-${entry.seq}`, at: entry.entry?.serverTime ?? null });
        continue;
      }
      const value = entry.value;
      seen.add(value.seq);
      if (value.kind === 'message') {
        // `isMine`: the patient's own, from any of their devices (also from before they signed in again).
        const mark = !value.isMine ? null : value.seq <= this.othersRead ? 'read' : value.seq <= this.othersDelivered ? 'delivered' : 'sent';
        lines.push({
          kind: 'message',
          key: `seq-${value.seq}`,
          body: value.body,
          at: value.serverTime,
          isMine: value.isMine,
          senderName: value.isMine ? 'You' : value.senderName,
          mark,
          attachments: value.attachments,
          sendingFiles: [],
        });
      } else {
        const system = connection.describeForPatient(value, this.wording);
        // The patient's lines take no urgent tone: the sdk shows them no urgent event.
        if (system && system.tone !== 'urgent')
          lines.push({ kind: 'system', key: `seq-${value.seq}`, at: value.serverTime, text: system.text, tone: system.tone });
      }
    }
    const isOffline = this.app.isOffline;
    for (const item of this.sending) {
      if (item.seq !== null && seen.has(item.seq)) continue;
      // Acknowledged means stored: it stays "sent" while its copy from the record is still on the way (offline too).
      const mark = item.status === 'failed' ? 'failed' : item.seq !== null ? 'sent' : isOffline ? 'waiting' : 'sending';
      lines.push({
        kind: 'message',
        key: item.clientMessageId,
        body: item.body,
        at: item.at,
        isMine: true,
        senderName: 'You',
        mark,
        attachments: [],
        sendingFiles: item.attachments ?? [],
      });
    }
    return lines;
  }

  /** Follows the conversation through its model: one join, then its record, members and receipts as they change. */
  async start(): Promise<void> {
    this.unsubscribe = this.model.subscribe((change) => this.mirror(change));
    this.entries = this.model.entries;
    this.mirrorAttachments();
    this.mirrorPending();
    this.mirrorMembers();
    this.mirrorReceipts();
    try {
      await this.model.open();
      this.isReady = true;
    } catch (error) {
      const { code, message } = error as { code?: string; message?: string };
      this.error = describeError(code ?? 'internal', message);
    }
  }

  /** Unsubscribes (the model keeps following until the session closes) and lets go of the decrypted images. */
  stop(): void {
    this.unsubscribe();
    this.isStopped = true;
    this.attachment.dispose();
    for (const image of this.images.values()) if (image.status === 'ready') URL.revokeObjectURL(image.url);
    this.images = new Map();
    if (this.typingTimer !== null) clearTimeout(this.typingTimer);
    if (this.typingShownTimer !== null) clearTimeout(this.typingShownTimer);
  }

  /** The draft changed: tells the clinician the patient is typing (at most once per pause). */
  typed(): void {
    if (!this.isReady || this.isClosed) return;
    if (!this.isTyping) {
      this.isTyping = true;
      void this.model.setTyping(true);
    }
    if (this.typingTimer !== null) clearTimeout(this.typingTimer);
    this.typingTimer = setTimeout(() => this.stopTyping(), TYPING_IDLE_MS);
  }

  /**
   * Sends the draft. Red-flag phrases first open the urgent-care panel; `afterWarning` sends anyway
   * once the patient has read it: the message carries the groups they were warned about (encrypted with
   * the text) and, once stored, the conversation is marked urgent for the practice (docs/clinical-safety.md).
   * Offline, the message waits in the outbox and goes on reconnection.
   */
  async send(afterWarning = false): Promise<void> {
    const body = this.draft.trim();
    const hasFile = this.attachment.prepared !== null;
    if ((body === '' && !hasFile) || this.isClosed) return;
    const flags = findRedFlags(body);
    if (!afterWarning && flags.length > 0) {
      this.redFlags = flags;
      return;
    }
    const redFlags = afterWarning ? flags.map((flag) => flag.id) : [];
    this.redFlags = null;
    this.error = null;
    this.stopTyping();
    if (hasFile) return this.sendAttachment(body, redFlags);
    this.draft = '';
    try {
      const result = await this.model.send(body, redFlags.length > 0 ? { redFlags } : {});
      if (!result.ok) return this.refused(body, result.error);
      if (redFlags.length > 0) await this.markUrgent();
    } catch (error) {
      const { code, message } = error as { code?: string; message?: string };
      this.refused(body, { code: code ?? 'internal', message: message ?? '' });
    }
  }

  /**
   * Sends the file in the composer with the draft as its caption (the sdk encrypts, uploads and sends them as one
   * message). The caption stays in the box until the file is sent: a refusal or a cancel loses nothing typed.
   */
  private async sendAttachment(caption: string, redFlags: string[]): Promise<void> {
    const isSent = await this.attachment.send(this.model, caption, redFlags);
    if (!isSent) return;
    if (this.draft.trim() === caption) this.draft = '';
    if (redFlags.length > 0) await this.markUrgent();
  }

  /** Opens a received PDF for saving: decrypted here, handed over as an octet-stream Blob so the browser saves it and never renders it in the app. */
  async openDocument(attachment: AttachmentDescriptor): Promise<Blob | null> {
    try {
      const bytes = await this.model.fetchAttachment(attachment);
      return new Blob([bytes as Uint8Array<ArrayBuffer>], { type: 'application/octet-stream' });
    } catch {
      return null;
    }
  }

  /** Tries again to open a received image that failed (offline, say). */
  retryImage(attachment: AttachmentDescriptor): void {
    if (this.images.get(attachment.id)?.status === 'failed') void this.openImage(attachment);
  }

  /** Tells the practice this conversation may be urgent (after the red-flag advice); the summary's `urgentAt` then shows the confirmation. */
  private async markUrgent(): Promise<void> {
    try {
      await this.model.markUrgent();
    } catch {
      this.error =
        'Your message was sent, but we could not tell the practice it may be urgent. If it is urgent, call 111 now, or 999 if someone’s life is at risk.';
    }
  }

  /** The patient sees the conversation now: everything in it counts as shown, and the practice gets a read receipt. */
  markShown(): void {
    if (!this.isReady || !this.isOnScreen) return;
    const newest = this.entries.at(-1)?.seq ?? 0;
    this.shownUpTo = Math.max(this.shownUpTo, newest);
    if (newest <= this.readSent) return;
    this.readSent = newest;
    void this.model.markRead(newest);
  }

  /** Closes the red-flag panel without sending; the draft stays. */
  editAfterWarning(): void {
    this.redFlags = null;
  }

  private refused(body: string, error: Pick<ErrorBody, 'message' | 'details'> & { code: string }): void {
    // Nothing typed is lost: the text goes back into the box (unless the patient already typed something else).
    if (this.draft.trim() === '') this.draft = body;
    const nextOpening = error.details?.['nextOpening'];
    this.error =
      error.code === 'outside_hours' && typeof nextOpening === 'string'
        ? `Your message was not sent: the practice is closed for online messages. It opens again ${formatOpening(nextOpening, this.timeZone())}. Your message is still in the box, so you can send it then, and a clinician should reply after that. If it is urgent, call 111, or 999 in an emergency.`
        : `Your message was not sent. ${describeError(error.code === 'not_following' ? 'network' : error.code, error.message)}`;
  }

  private stopTyping(): void {
    if (this.typingTimer !== null) clearTimeout(this.typingTimer);
    this.typingTimer = null;
    if (!this.isTyping) return;
    this.isTyping = false;
    void this.model.setTyping(false);
  }

  /** Copies what the model says changed into this screen's state. */
  private mirror(change: ConversationChange): void {
    switch (change.kind) {
      case 'entry':
        return this.onEntry(change.entry);
      case 'summary':
        if (this.model.summary) this.conversation = this.model.summary;
        return this.updateClinician();
      case 'members':
        return this.mirrorMembers();
      case 'receipts':
        return this.mirrorReceipts();
      case 'typing':
        return this.mirrorTyping();
      case 'pending':
        return this.mirrorPending();
    }
  }

  private onEntry(entry: FeedEntry<ChatEntry>): void {
    this.entries = this.model.entries;
    if (!entry.ok) return;
    const value = entry.value;
    this.mirrorAttachments();
    if (value.kind === 'message' && value.isMine) return;
    if (value.kind === 'message') {
      // A reply the patient does not see now (another screen, a hidden tab): counted unread, with the chime if it is live.
      if (this.isOnScreen) this.markShown();
      else if (this.isReady) this.app.announceNewMessage();
      return;
    }
    if (this.isOnScreen) this.markShown();
  }

  /** The open request, and the received images not opened yet: each is fetched, checked and decrypted by the sdk, then redrawn. */
  private mirrorAttachments(): void {
    this.openRequest = this.model.openAttachmentRequest;
    for (const entry of this.entries) {
      if (!entry.ok || entry.value.kind !== 'message') continue;
      for (const attachment of entry.value.attachments)
        if (attachment.type !== 'application/pdf' && !this.images.has(attachment.id)) void this.openImage(attachment);
    }
  }

  private async openImage(attachment: AttachmentDescriptor): Promise<void> {
    this.setImage(attachment.id, { status: 'loading' });
    let opened: OpenedImage;
    try {
      // The sdk checks the file's hash from the signed message before decrypting; the canvas redraw drops anything but pixels.
      const blob = await safeImageBlob(await this.model.fetchAttachment(attachment), attachment.type);
      opened = { status: 'ready', url: URL.createObjectURL(blob) };
    } catch {
      opened = { status: 'failed' };
    }
    if (this.isStopped) {
      if (opened.status === 'ready') URL.revokeObjectURL(opened.url);
      return;
    }
    this.setImage(attachment.id, opened);
  }

  private setImage(id: string, image: OpenedImage): void {
    this.images = new Map([...this.images, [id, image]]);
  }

  private mirrorMembers(): void {
    this.members = this.model.members;
    this.updateClinician();
    // Re-render system lines that name people now known.
    this.entries = [...this.entries];
  }

  private mirrorReceipts(): void {
    for (const [userId, receipts] of this.model.receipts) {
      // Read on one of the patient's devices: shown, so not unread on this one either.
      if (userId === this.myUserId) this.shownUpTo = Math.max(this.shownUpTo, receipts.read);
      else {
        this.othersRead = Math.max(this.othersRead, receipts.read);
        this.othersDelivered = Math.max(this.othersDelivered, receipts.delivered);
      }
    }
  }

  private mirrorTyping(): void {
    const typist = [...this.model.typing][0];
    if (this.typingShownTimer !== null) clearTimeout(this.typingShownTimer);
    this.typingName = typist === undefined ? null : (this.members.get(typist)?.name ?? 'The clinician');
    // A lost "stopped typing" must not leave the indicator on for ever.
    if (typist !== undefined) this.typingShownTimer = setTimeout(() => (this.typingName = null), TYPING_SHOWN_MS);
  }

  private mirrorPending(): void {
    this.sending = this.model.pending;
    this.earlierQueued = this.model.earlierQueued;
    this.earlierFailed = this.model.earlierFailed;
  }

  /** The patient has read why an earlier send failed: it leaves the outbox (the sdk's `discardFailed`). */
  async dismissFailed(clientMessageId: string): Promise<void> {
    await this.model.discardFailed(clientMessageId);
    this.mirrorPending();
  }

  /**
   * Names the assigned clinician once known: the gateway lists the assignee among the members (with
   * their name and role) from the assignment on; until the model has learnt it, the patient sees "a clinician".
   */
  private updateClinician(): void {
    const assignee = this.conversation.status === 'closed' ? null : this.conversation.assignedClinicianId;
    const member = assignee ? this.members.get(assignee) : undefined;
    this.clinician = member ? { name: member.name, role: member.role === 'manager' ? 'practice clinician' : member.role } : null;
  }

  private get myUserId(): string {
    return this.app.keys?.signedIn.session.user.id ?? '';
  }
}

/** An opening instant in words: "today at 08:00", "on Monday 6 January at 08:00". */
export function formatOpening(iso: string, timeZone?: string): string {
  const date = new Date(iso);
  const time = new Intl.DateTimeFormat('en-GB', { hour: '2-digit', minute: '2-digit', timeZone }).format(date);
  const day = (d: Date) => new Intl.DateTimeFormat('en-GB', { year: 'numeric', month: '2-digit', day: '2-digit', timeZone }).format(d);
  if (day(date) === day(new Date())) return `today at ${time}`;
  if (day(date) === day(new Date(Date.now() + 86_400_000))) return `tomorrow at ${time}`;
  return `on ${new Intl.DateTimeFormat('en-GB', { weekday: 'long', day: 'numeric', month: 'long', timeZone }).format(date)} at ${time}`;
}

/** The chats of the current live session, by conversation id: dropped (with their decrypted text) when the session ends. */
export class ChatRegistry {
  private chats = $state.raw<ReadonlyMap<string, ChatState>>(new Map());
  private session: ChatSession | null = null;

  constructor(
    private readonly app: PatientApp,
    private readonly topicLabel: (slug: string) => string,
    private readonly timeZone: () => string | undefined,
    private readonly attachmentSettings: () => AttachmentSettings | null,
  ) {}

  /** The chat of a conversation on the current session, started on first use. */
  chatFor(session: ChatSession, conversation: ConversationSummary): ChatState {
    if (this.session !== session) this.clear();
    this.session = session;
    let chat = this.chats.get(conversation.id);
    if (!chat) {
      chat = new ChatState(
        this.app,
        session.conversation(conversation.id, conversation),
        conversation,
        this.topicLabel,
        this.timeZone,
        this.attachmentSettings,
      );
      this.chats = new Map([...this.chats, [conversation.id, chat]]);
      void chat.start();
    }
    return chat;
  }

  /** Follows every conversation that is not closed, so replies count as unread (and chime) wherever the patient is in the app. */
  followOpen(session: ChatSession, conversations: readonly ConversationSummary[]): void {
    for (const conversation of conversations) if (conversation.status !== 'closed') this.chatFor(session, conversation);
  }

  /** A conversation as its chat knows it now (assigned, closed …), or as listed when it is not followed. */
  current(conversation: ConversationSummary): ConversationSummary {
    return this.chats.get(conversation.id)?.conversation ?? conversation;
  }

  /** Messages from the practice not yet shown in a conversation. */
  unreadOf(conversationId: string): number {
    return this.chats.get(conversationId)?.unread ?? 0;
  }

  /** Messages from the practice not yet shown, in every followed conversation (the tab title counts them, never says what they are). */
  get unreadTotal(): number {
    let total = 0;
    for (const chat of this.chats.values()) total += chat.unread;
    return total;
  }

  /** Forgets every chat and its decrypted text. */
  clear(): void {
    for (const chat of this.chats.values()) chat.stop();
    this.chats = new Map();
    this.session = null;
  }
}

export const [setChatRegistry, getChatRegistry] = contextPair<ChatRegistry>('chats');
