import type { FeedEntry } from '@parley/client';
import type { CloseOutcome, ConversationAssigned, ConversationSummary, ReceiptUpdated, TypingChanged } from '@parley/protocol';
import type { ChatEntry } from '@parley/sdk';
import { getContext, setContext } from 'svelte';
import type { StaffConnection } from '../connection';
import { buildFhirBundle, buildTranscript, type ExportInput } from '../export/fhir';
import { explain, topicLabel } from '../words';

/**
 * Why an entry could not be opened, as the screen tells it: the patient's keys do not chain to an
 * invitation from this practice (`untrusted_patient`), a staff sender's device is not certified by the
 * practice (`untrusted_staff`), or anything else (`unreadable`: no key on this computer, damaged, missing).
 */
export type LineProblem = 'untrusted_patient' | 'untrusted_staff' | 'unreadable';

/** One line of a conversation as the screen shows it: an opened entry, or why it could not be opened. */
export type ConversationLine = { seq: number; ok: true; value: ChatEntry } | { seq: number; ok: false; problem: LineProblem };

/** One conversation open in a tab: its decrypted entries (memory only), the patient's typing and receipts. */
export class ConversationView {
  summary = $state.raw<ConversationSummary | null>(null);
  lines = $state<ConversationLine[]>([]);
  patientName = $state('Patient');
  isPatientTyping = $state(false);
  patientReadUpTo = $state(0);
  patientDeliveredUpTo = $state(0);
  notice = $state<string | null>(null);
  /** Whether the patient's account key chains to an invitation from this practice, checked here against the pinned root (null until joined). */
  isPatientTrusted = $state<boolean | null>(null);
  readonly lastSeq = $derived(this.lines.at(-1)?.seq ?? 0);
  /** The alarm: the patient's keys do not chain to the practice, or one of their entries was refused for it. */
  readonly isPatientUntrusted = $derived(this.isPatientTrusted === false || this.lines.some((line) => !line.ok && line.problem === 'untrusted_patient'));
  /** Entries this computer could not open (or the server did not hand over): an alarm, since the patient may think they were read. */
  readonly unreadableCount = $derived(this.lines.filter((line) => !line.ok && line.problem === 'unreadable').length);
  /** The patient's device marked the conversation urgent after the red-flag advice. */
  readonly isUrgent = $derived(Boolean(this.summary?.urgentAt));


  constructor(
    readonly id: string,
    private readonly myUserId: string,
  ) {}

  /** Whether this clinician holds it now (and so may answer, hold, transfer or close it). */
  get isMine(): boolean {
    return this.summary?.assignedClinicianId === this.myUserId && this.summary?.status !== 'closed';
  }
}

/** The conversations a clinician has open (as tabs), the assignment cue, and what they do with them. */
export class ConversationsState {
  views = $state<ConversationView[]>([]);
  activeId = $state<string | null>(null);
  /** Assignments not looked at yet: drives the visual cue and the page title's count (never any text of the patient's). */
  unseenAssignments = $state(0);
  cue = $state<string | null>(null);
  /** Desktop notifications: 'default' until the person chooses (the browser asks once, after a click). */
  notificationPermission = $state<NotificationPermission | 'unsupported'>(typeof Notification === 'undefined' ? 'unsupported' : Notification.permission);

  readonly active = $derived(this.views.find((view) => view.id === this.activeId) ?? null);

  private readonly onAssigned = (fact: ConversationAssigned) => void this.assigned(fact);
  private readonly onTyping = (fact: TypingChanged) => {
    const view = this.find(fact.conversationId);
    if (view && fact.role === 'patient') view.isPatientTyping = fact.isTyping;
  };
  private readonly onReceipt = (fact: ReceiptUpdated) => this.applyReceipt(fact);
  private lastTypingSent = new Map<string, number>();

  constructor(private readonly connection: StaffConnection) {}

  private get client() {
    return this.connection.chat.client;
  }

  private get myUserId(): string {
    return this.connection.signedIn.session.user.id;
  }

  /** Listens for assignments and opens every conversation already assigned to this clinician. */
  async start(): Promise<void> {
    this.client.on('conversation:assigned', this.onAssigned);
    this.client.on('conversation:typing', this.onTyping);
    this.client.on('receipt:updated', this.onReceipt);
    const list = await this.client.request('conversation:list', {});
    if (!list.ok) return;
    for (const summary of list.data.conversations) {
      if (summary.assignedClinicianId === this.myUserId && summary.status !== 'closed') await this.open(summary.id, summary);
    }
  }

  stop(): void {
    this.client.off('conversation:assigned', this.onAssigned);
    this.client.off('conversation:typing', this.onTyping);
    this.client.off('receipt:updated', this.onReceipt);
  }

  find(id: string): ConversationView | undefined {
    return this.views.find((view) => view.id === id);
  }

  /** Opens (or shows) a conversation's tab: joins, then decrypts its record through the chat session. */
  async open(id: string, summary?: ConversationSummary): Promise<ConversationView> {
    const existing = this.find(id);
    if (existing) {
      this.activeId = id;
      return existing;
    }
    this.views.push(new ConversationView(id, this.myUserId));
    // Read back through the proxy so later writes reach the reactive view.
    const view = this.find(id)!;
    this.activeId = id;
    if (summary) view.summary = summary;
    const joined = await this.client.request('conversation:join', { conversationId: id });
    if (joined.ok) {
      view.summary = joined.data.conversation;
      view.patientName = joined.data.devices.find((device) => device.role === 'patient')?.displayName ?? 'Patient';
      view.isPatientTrusted = this.connection.isPatientTrusted(joined.data.patientAccount);
      for (const receipt of joined.data.receipts) this.applyReceipt(receipt);
    } else {
      view.notice = explain(joined.error.code);
    }
    try {
      await this.connection.chat.follow(id, (entry) => this.receive(view, entry));
    } catch (error) {
      view.notice = explain((error as { code?: string }).code ?? 'internal');
    }
    return view;
  }

  /** Closes the tab (the record is untouched). */
  dismiss(id: string): void {
    this.views = this.views.filter((view) => view.id !== id);
    if (this.activeId === id) this.activeId = this.views[0]?.id ?? null;
  }

  show(id: string): void {
    this.activeId = id;
    this.unseenAssignments = 0;
    this.cue = null;
    const view = this.find(id);
    if (view && view.lastSeq > 0) void this.connection.chat.markRead(id, view.lastSeq);
  }

  /** Asks the browser for desktop notifications of new assignments (must follow a click). */
  async enableNotifications(): Promise<void> {
    if (typeof Notification === 'undefined') return;
    this.notificationPermission = await Notification.requestPermission();
  }

  acknowledgeCue(): void {
    this.unseenAssignments = 0;
    this.cue = null;
  }

  async send(id: string, body: string): Promise<boolean> {
    const view = this.find(id);
    const text = body.trim();
    if (!view || !text) return false;
    try {
      await this.connection.chat.send(id, text);
      void this.connection.chat.typing(id, false);
      this.lastTypingSent.delete(id);
      return true;
    } catch (error) {
      view.notice = explain((error as { code?: string }).code ?? 'internal');
      return false;
    }
  }

  /** Tells the patient the clinician is typing, at most every few seconds. */
  typing(id: string): void {
    const last = this.lastTypingSent.get(id) ?? 0;
    if (Date.now() - last < 3_000) return;
    this.lastTypingSent.set(id, Date.now());
    void this.connection.chat.typing(id, true);
  }

  async transfer(id: string, to: { clinicianId: string } | 'queue'): Promise<boolean> {
    return this.change(id, () => this.client.request('conversation:transfer', { conversationId: id, to }));
  }

  async hold(id: string, isOnHold: boolean): Promise<boolean> {
    return this.change(id, () => this.client.request('conversation:hold', { conversationId: id, isOnHold }));
  }

  async close(id: string, outcome: CloseOutcome, followUp?: { dueDate: string; ownerId: string }): Promise<boolean> {
    return this.change(id, () => this.client.request('conversation:close', { conversationId: id, outcome, ...(followUp ? { followUp } : {}) }));
  }

  /**
   * The conversation, decrypted here, as a FHIR R4 Bundle of Communication resources (JSON text) and
   * a readable transcript. The export is announced to the server first, so it reaches the audit log;
   * if the server cannot record it, nothing is exported.
   */
  async prepareExport(id: string): Promise<{ bundle: string; transcript: string } | null> {
    const view = this.find(id);
    const input = this.exportInput(id);
    if (!view || !input) return null;
    const recorded = await this.connection.api.recordExport(id, { formats: ['fhir-r4-bundle', 'transcript'] });
    if (!recorded.ok) {
      view.notice = explain(recorded.error.code);
      return null;
    }
    return { bundle: JSON.stringify(buildFhirBundle(input), null, 2), transcript: buildTranscript(input) };
  }

  private exportInput(id: string): ExportInput | null {
    const view = this.find(id);
    if (!view?.summary) return null;
    return {
      conversation: view.summary,
      patient: { id: view.summary.patientId, name: view.patientName },
      practiceName: this.connection.signedIn.session.practice.name,
      entries: view.lines.flatMap((line) => (line.ok ? [line.value] : [])),
      unopenedSeqs: view.lines.flatMap((line) => (line.ok ? [] : [line.seq])),
      exportedAt: new Date().toISOString(),
    };
  }

  private async change(
    id: string,
    command: () => Promise<{ ok: true; data: { conversation: ConversationSummary } } | { ok: false; error: { code: string } }>,
  ): Promise<boolean> {
    const view = this.find(id);
    const result = await command();
    if (view) {
      view.notice = result.ok ? null : explain(result.error.code);
      if (result.ok) view.summary = result.data.conversation;
    }
    return result.ok;
  }

  private async assigned(fact: ConversationAssigned): Promise<void> {
    if (fact.clinicianId !== this.myUserId) return;
    const isNew = !this.find(fact.conversationId);
    const view = await this.open(fact.conversationId);
    if (!isNew) {
      const list = await this.client.request('conversation:list', {});
      const summary = list.ok ? list.data.conversations.find((c) => c.id === fact.conversationId) : undefined;
      if (summary) view.summary = summary;
    }
    this.unseenAssignments += 1;
    // The cue names the topic only: never the patient's words, which might be read over a shoulder or in a notification.
    this.cue = `New conversation assigned to you${view.summary ? `: ${topicLabel(view.summary.topic)}` : ''}.`;
    playChime();
    // A desktop notification may be read by anyone near the screen or mirrored to a phone: it says that work arrived, nothing more.
    if (this.notificationPermission === 'granted') new Notification('Parley', { body: 'A conversation was assigned to you.', tag: 'parley-assignment' });
  }

  private receive(view: ConversationView, entry: FeedEntry<ChatEntry>): void {
    const line: ConversationLine = entry.ok ? { seq: entry.seq, ok: true, value: entry.value } : { seq: entry.seq, ok: false, problem: problemOf(entry) };
    view.lines.push(line);
    if (entry.ok && entry.value.kind === 'system') this.applySystem(view, entry.value);
    if (entry.ok && entry.value.kind === 'message' && !entry.value.isMine) view.isPatientTyping = false;
    if (this.activeId === view.id && document.visibilityState === 'visible') void this.connection.chat.markRead(view.id, entry.seq);
  }

  /** Keeps the summary in step with the record's lifecycle entries (the server writes them for every change). */
  private applySystem(view: ConversationView, { event, data, serverTime }: Extract<ChatEntry, { kind: 'system' }>): void {
    const summary = view.summary;
    if (!summary) return;
    // The first mark counts (the server keeps it too): a repeated entry never moves urgentAt.
    if (event === 'marked_urgent') view.summary = { ...summary, urgentAt: summary.urgentAt ?? serverTime };
    const clinicianId = typeof data['clinicianId'] === 'string' ? data['clinicianId'] : null;
    if (event === 'closed') view.summary = { ...summary, status: 'closed' };
    else if (event === 'held') view.summary = { ...summary, status: 'on_hold' };
    else if (event === 'resumed') view.summary = { ...summary, status: 'assigned' };
    else if (event === 'assigned' || event === 'transferred') view.summary = { ...summary, status: 'assigned', assignedClinicianId: clinicianId };
    else if (event === 'requeued') view.summary = { ...summary, status: 'waiting', assignedClinicianId: null };
  }

  private applyReceipt(fact: ReceiptUpdated): void {
    const view = this.find(fact.conversationId);
    if (!view || fact.userId !== view.summary?.patientId) return;
    if (fact.kind === 'read') view.patientReadUpTo = Math.max(view.patientReadUpTo, fact.upToSeq);
    view.patientDeliveredUpTo = Math.max(view.patientDeliveredUpTo, fact.upToSeq);
  }
}

/** Why the chat session refused an entry, from its error code (never its text, which is for logs). */
function problemOf(entry: Extract<FeedEntry<ChatEntry>, { ok: false }>): LineProblem {
  const code = 'cause' in entry.error ? (entry.error.cause as { code?: string } | null)?.code : undefined;
  // Only the patient's device opens a first epoch (the only epoch yet), so an untrusted envelope creator is the patient's.
  if (code === 'untrusted_creator') return 'untrusted_patient';
  if (code === 'untrusted_sender') return entry.entry?.message?.senderRole === 'patient' ? 'untrusted_patient' : 'untrusted_staff';
  return 'unreadable';
}

/** A short two-note chime made in the page (no audio file to fetch, nothing the CSP has to allow). */
function playChime(): void {
  try {
    const audio = new AudioContext();
    const gain = audio.createGain();
    gain.gain.value = 0.08;
    gain.connect(audio.destination);
    [880, 660].forEach((frequency, index) => {
      const tone = audio.createOscillator();
      tone.frequency.value = frequency;
      tone.connect(gain);
      tone.start(audio.currentTime + index * 0.18);
      tone.stop(audio.currentTime + index * 0.18 + 0.15);
    });
    setTimeout(() => void audio.close(), 1_000);
  } catch {
    // No audio device (or autoplay refused): the visual cue and the title count still show.
  }
}

const KEY = Symbol('conversations');
export const setConversationsState = (state: ConversationsState): ConversationsState => setContext(KEY, state);
export const getConversationsState = (): ConversationsState => getContext<ConversationsState>(KEY);
