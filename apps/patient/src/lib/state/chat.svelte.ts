import type { FeedEntry } from '@parley/client';
import type { ConversationSummary, ErrorBody, PresenceChanged, QueuePosition, ReceiptUpdated, TypingChanged } from '@parley/protocol';
import type { ChatEntry, ChatSession } from '@parley/sdk';
import * as connection from '../connection';
import { findRedFlags, type RedFlagMatch } from '../safety/red-flags';
import { contextPair } from './context';
import { describeError } from './notices';
import type { PatientApp } from './patient-app.svelte';

/** One line of the chat as the screen draws it. Message bodies exist only here, in memory. */
export type ChatLine =
  | { kind: 'message'; key: string; body: string; at: string; isMine: boolean; senderName: string; mark: 'sending' | 'waiting' | 'failed' | 'sent' | 'delivered' | 'read' | null }
  | { kind: 'system'; key: string; at: string; text: string; tone: 'acknowledgement' | 'assignment' | 'closing' | 'info' }
  | { kind: 'unreadable'; key: string; at: string | null };

interface Sending {
  /** The message's client message id: its record copy carries it back. */
  localId: string;
  body: string;
  at: string;
  status: 'sending' | 'failed';
  /** The seq the server gave it, once acknowledged. */
  seq: number | null;
}

const TYPING_IDLE_MS = 4_000;
const TYPING_SHOWN_MS = 8_000;

const OUTCOME_TEXT: Record<string, string> = {
  resolved: 'resolved',
  appointment_booked: 'an appointment was booked',
  follow_up: 'the practice will follow it up',
  redirected_urgent: 'you were advised to get urgent care',
};

/**
 * One conversation on screen: decrypted entries (memory only), queued sends, receipts, typing,
 * queue position and the assigned clinician. Created per conversation and live session.
 */
export class ChatState {
  declare conversation: ConversationSummary;
  entries = $state.raw<FeedEntry<ChatEntry>[]>([]);
  sending = $state<Sending[]>([]);
  /** Queued sends left from before a reload (ciphertext in the outbox; their text is not kept). */
  earlierQueued = $state(0);
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

  private readonly names = new Map<string, { name: string; role: string }>();
  private typingTimer: ReturnType<typeof setTimeout> | null = null;
  private typingShownTimer: ReturnType<typeof setTimeout> | null = null;
  private isTyping = false;
  private readSent = 0;
  private stopOutbox: () => void = () => undefined;

  constructor(
    private readonly app: PatientApp,
    private readonly session: ChatSession,
    conversation: ConversationSummary,
    private readonly topicLabel: (slug: string) => string,
    /** The practice's time zone, for opening times (the browser's own until the hours are known). */
    readonly timeZone: () => string | undefined,
  ) {
    this.conversation = $state.raw(conversation);
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
        lines.push({ kind: 'message', key: `seq-${value.seq}`, body: value.body, at: value.serverTime, isMine: value.isMine, senderName: value.isMine ? 'You' : value.senderName, mark });
      } else {
        const system = this.describeSystem(value.event, value.data);
        if (system) lines.push({ kind: 'system', key: `seq-${value.seq}`, at: value.serverTime, ...system });
      }
    }
    const isOffline = this.app.isOffline;
    for (const item of this.sending) {
      if (item.seq !== null && seen.has(item.seq)) continue;
      // Acknowledged means stored: it stays "sent" while its copy from the record is still on the way (offline too).
      const mark = item.status === 'failed' ? 'failed' : item.seq !== null ? 'sent' : isOffline ? 'waiting' : 'sending';
      lines.push({ kind: 'message', key: item.localId, body: item.body, at: item.at, isMine: true, senderName: 'You', mark });
    }
    return lines;
  }

  /** Follows the conversation: subscribes to its facts, syncs its record and learns who is in it. */
  async start(): Promise<void> {
    const { client } = this.session;
    client.on('receipt:updated', this.onReceipt);
    client.on('conversation:typing', this.onTyping);
    client.on('presence:changed', this.onPresence);
    this.stopOutbox = this.app.onOutboxChange(() => this.countQueued());
    this.countQueued();
    try {
      await this.session.follow(this.conversation.id, (entry) => this.onEntry(entry));
      await this.refreshMembers();
      this.isReady = true;
    } catch (error) {
      const { code, message } = error as { code?: string; message?: string };
      this.error = describeError(code ?? 'internal', message);
    }
  }

  /** Unsubscribes (the session's feed keeps running until the session closes). */
  stop(): void {
    const { client } = this.session;
    client.off('receipt:updated', this.onReceipt);
    client.off('conversation:typing', this.onTyping);
    client.off('presence:changed', this.onPresence);
    this.stopOutbox();
    if (this.typingTimer !== null) clearTimeout(this.typingTimer);
    if (this.typingShownTimer !== null) clearTimeout(this.typingShownTimer);
  }

  /** The draft changed: tells the clinician the patient is typing (at most once per pause). */
  typed(): void {
    if (!this.isReady || this.isClosed) return;
    if (!this.isTyping) {
      this.isTyping = true;
      void this.session.typing(this.conversation.id, true);
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
    if (body === '' || this.isClosed) return;
    const flags = findRedFlags(body);
    if (!afterWarning && flags.length > 0) {
      this.redFlags = flags;
      return;
    }
    const redFlags = afterWarning ? flags.map((flag) => flag.id) : [];
    this.redFlags = null;
    this.error = null;
    const item: Sending = { localId: crypto.randomUUID(), body, at: new Date().toISOString(), status: 'sending', seq: null };
    this.sending = [...this.sending, item];
    this.draft = '';
    this.stopTyping();
    try {
      const result = await this.session.send(this.conversation.id, body, item.localId, redFlags.length > 0 ? { redFlags } : {});
      if (!result.ok) return this.refused(item, result.error);
      this.update(item.localId, { seq: result.data.seq });
      if (redFlags.length > 0) await this.markUrgent();
    } catch (error) {
      const { code, message } = error as { code?: string; message?: string };
      this.refused(item, { code: code ?? 'internal', message: message ?? '' });
    }
  }

  /** Tells the practice this conversation may be urgent (after the red-flag advice); the summary's `urgentAt` then shows the confirmation. */
  private async markUrgent(): Promise<void> {
    try {
      this.conversation = await this.session.markUrgent(this.conversation.id);
    } catch {
      this.error = 'Your message was sent, but we could not tell the practice it may be urgent. If it is urgent, call 111 now, or 999 if someone’s life is at risk.';
    }
  }

  /** The patient sees the conversation now: everything in it counts as shown, and the practice gets a read receipt. */
  markShown(): void {
    if (!this.isReady || !this.isOnScreen) return;
    const newest = this.entries.at(-1)?.seq ?? 0;
    this.shownUpTo = Math.max(this.shownUpTo, newest);
    if (newest <= this.readSent) return;
    this.readSent = newest;
    void this.session.markRead(this.conversation.id, newest);
  }

  /** Closes the red-flag panel without sending; the draft stays. */
  editAfterWarning(): void {
    this.redFlags = null;
  }

  private refused(item: Sending, error: Pick<ErrorBody, 'message' | 'details'> & { code: string }): void {
    // Nothing typed is lost: the text goes back into the box (unless the patient already typed something else).
    this.sending = this.sending.filter((candidate) => candidate.localId !== item.localId);
    if (this.draft.trim() === '') this.draft = item.body;
    const nextOpening = error.details?.['nextOpening'];
    this.error =
      error.code === 'outside_hours' && typeof nextOpening === 'string'
        ? `Your message was not sent: the practice is closed for online messages. It opens again ${formatOpening(nextOpening, this.timeZone())}. Your message is still in the box, so you can send it then, and a clinician should reply after that. If it is urgent, call 111, or 999 in an emergency.`
        : `Your message was not sent. ${describeError(error.code === 'not_following' ? 'network' : error.code, error.message)}`;
    // A refused item stays in the outbox as failed; its text is back in the box, so drop the ciphertext.
    for (const failed of this.session.outbox.itemsOf(this.conversation.id).filter((candidate) => candidate.status === 'failed')) {
      void this.session.outbox.discard(failed.send.clientMessageId);
    }
  }

  private update(localId: string, change: Partial<Sending>): void {
    this.sending = this.sending.map((item) => (item.localId === localId ? { ...item, ...change } : item));
  }

  private stopTyping(): void {
    if (this.typingTimer !== null) clearTimeout(this.typingTimer);
    this.typingTimer = null;
    if (!this.isTyping) return;
    this.isTyping = false;
    void this.session.typing(this.conversation.id, false);
  }

  private onEntry(entry: FeedEntry<ChatEntry>): void {
    this.entries = [...this.entries, entry];
    if (!entry.ok) return;
    const value = entry.value;
    if (value.kind === 'message') {
      if (value.isMine) {
        // Our own message came back through the record: its "sending" copy goes.
        this.sending = this.sending.filter((item) => item.localId !== value.clientMessageId);
      } else {
        const isNew = !this.names.has(value.senderUserId);
        this.names.set(value.senderUserId, { name: value.senderName, role: value.senderRole });
        this.typingName = null;
        if (isNew) {
          this.updateClinician();
          this.entries = [...this.entries];
        }
        // A reply the patient does not see now (another screen, a hidden tab): counted unread, with the chime if it is live.
        if (this.isOnScreen) this.markShown();
        else if (this.isReady) this.app.announceNewMessage();
      }
      return;
    }
    this.applySystem(value.event, value.data);
    if (this.isOnScreen) this.markShown();
  }


  private applySystem(event: string, data: Record<string, string | number | boolean | null>): void {
    const clinicianId = typeof data['clinicianId'] === 'string' ? data['clinicianId'] : null;
    if ((event === 'assigned' || event === 'transferred') && clinicianId) {
      this.conversation = { ...this.conversation, status: 'assigned', assignedClinicianId: clinicianId };
      void this.refreshMembers();
    } else if (event === 'requeued') {
      this.conversation = { ...this.conversation, status: 'waiting', assignedClinicianId: null };
    } else if (event === 'closed') {
      this.conversation = { ...this.conversation, status: 'closed' };
    }
    this.updateClinician();
  }

  private describeSystem(event: string, data: Record<string, string | number | boolean | null>): { text: string; tone: 'acknowledgement' | 'assignment' | 'closing' | 'info' } | null {
    const who = (id: unknown) => (typeof id === 'string' ? this.names.get(id)?.name : undefined) ?? 'A clinician';
    switch (event) {
      case 'opened':
        return { text: `You started a conversation about ${this.topicLabel(String(data['topic'] ?? this.conversation.topic))}.`, tone: 'info' };
      case 'acknowledged':
        return { text: String(data['text'] ?? 'Your practice has received your conversation.'), tone: 'acknowledgement' };
      case 'assigned':
        return { text: `${who(data['clinicianId'])} is now looking after your conversation.`, tone: 'assignment' };
      case 'transferred':
        return { text: `Your conversation was passed to ${who(data['clinicianId'])}.`, tone: 'assignment' };
      case 'requeued':
        return { text: 'Your conversation is back in the queue. The next available clinician will pick it up.', tone: 'assignment' };
      case 'practice.closed': {
        const next = typeof data['nextOpening'] === 'string' ? ` It opens again ${formatOpening(data['nextOpening'])}.` : '';
        return { text: `The practice has now closed for online messages.${next} If it is urgent, call 111, or 999 in an emergency.`, tone: 'closing' };
      }
      case 'closed':
        return { text: `This conversation was closed${OUTCOME_TEXT[String(data['outcome'])] ? `: ${OUTCOME_TEXT[String(data['outcome'])]}` : ''}.`, tone: 'closing' };
      default:
        return null;
    }
  }

  /** Learns the members' names (staff: as their certificates name them) and the receipts so far from a fresh join answer. */
  private async refreshMembers(): Promise<void> {
    const joined = await connection.conversationMembers(this.session, this.conversation.id);
    if (!joined) return;
    for (const member of joined.members) this.names.set(member.userId, { name: member.name, role: member.role });
    this.conversation = joined.conversation;
    for (const receipt of joined.receipts) this.onReceipt(receipt);
    this.updateClinician();
    // Re-render system lines that name people now known.
    this.entries = [...this.entries];
  }

  /**
   * Names the assigned clinician once known: the gateway lists the assignee among the members (with
   * their name and role) from the assignment on; until the join answers, the patient sees "a clinician".
   */
  private updateClinician(): void {
    const assignee = this.conversation.status === 'closed' ? null : this.conversation.assignedClinicianId;
    const member = assignee ? this.names.get(assignee) : undefined;
    this.clinician = member ? { name: member.name, role: member.role === 'manager' ? 'practice clinician' : member.role } : null;
  }

  private readonly onReceipt = (fact: ReceiptUpdated): void => {
    if (fact.conversationId !== this.conversation.id) return;
    if (fact.userId === this.myUserId) {
      // Read on one of the patient's devices: shown, so not unread on this one either.
      if (fact.kind === 'read') this.shownUpTo = Math.max(this.shownUpTo, fact.upToSeq);
      return;
    }
    if (fact.kind === 'read') this.othersRead = Math.max(this.othersRead, fact.upToSeq);
    // A read message was delivered too.
    this.othersDelivered = Math.max(this.othersDelivered, fact.upToSeq);
  };

  private readonly onPresence = (fact: PresenceChanged): void => {
    // Someone new came into the conversation (the assigned clinician): learn their name.
    if (fact.conversationId === this.conversation.id && fact.isOnline && !this.names.has(fact.userId)) void this.refreshMembers();
  };

  private readonly onTyping = (fact: TypingChanged): void => {
    if (fact.conversationId !== this.conversation.id || fact.userId === this.myUserId) return;
    if (this.typingShownTimer !== null) clearTimeout(this.typingShownTimer);
    this.typingName = fact.isTyping ? (this.names.get(fact.userId)?.name ?? 'The clinician') : null;
    // A lost "stopped typing" must not leave the indicator on for ever.
    if (fact.isTyping) this.typingShownTimer = setTimeout(() => (this.typingName = null), TYPING_SHOWN_MS);
  };

  private countQueued(): void {
    const stored = this.session.outbox.itemsOf(this.conversation.id).filter((item) => item.status === 'pending').length;
    const mine = this.sending.filter((item) => item.status === 'sending' && item.seq === null).length;
    this.earlierQueued = Math.max(0, stored - mine);
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
  ) {}

  /** The chat of a conversation on the current session, started on first use. */
  chatFor(session: ChatSession, conversation: ConversationSummary): ChatState {
    if (this.session !== session) this.clear();
    this.session = session;
    let chat = this.chats.get(conversation.id);
    if (!chat) {
      chat = new ChatState(this.app, session, conversation, this.topicLabel, this.timeZone);
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
