import type { FeedEntry } from '@parley/client';
import { toBase64 } from '@parley/crypto';
import type { CloseOutcome, ConversationAssigned, ConversationSummary } from '@parley/protocol';
import type { ChatEntry, Conversation, ConversationChange } from '@parley/sdk';
import { contextPair } from '@parley/ui';
import { safeImageBlob } from '@parley/web';
import type { StaffConnection } from '../connection';
import { buildFhirBundle, buildTranscript, type ExportedFile, type ExportInput } from '../export/fhir';
import { explain, topicLabel } from '../words';

/**
 * Why an entry could not be opened, as the screen tells it: the patient's keys do not chain to an
 * invitation from this practice (`untrusted_patient`), a staff sender's device is not certified by the
 * practice (`untrusted_staff`), or anything else (`unreadable`: no key on this computer, damaged, missing).
 */
export type LineProblem = 'untrusted_patient' | 'untrusted_staff' | 'unreadable';

/** A file a message carries, as its descriptor (inside the signed, encrypted message) describes it. */
export type Attachment = Extract<ChatEntry, { kind: 'message' }>['attachments'][number];

/**
 * One attachment fetched and decrypted in this browser (sdk `fetchAttachment`: hash checked, then every chunk,
 * TAG_FINAL included, so a damaged or truncated file fails whole and is never partly shown). An image is then
 * re-drawn through a canvas (`safeImageBlob`): what is shown, downloaded and exported is that re-encoded copy, never
 * the sender's bytes, and carries no EXIF. A PDF stays a Blob typed `application/octet-stream`: it is saved, never
 * rendered in this origin.
 */
export class OpenedFile {
  status = $state<'loading' | 'ready' | 'failed'>('loading');
  /** An object URL of the re-encoded image for `<img>` (images only); revoked by {@link release}. */
  imageUrl = $state<string | null>(null);
  /** What Download saves and the export embeds; null until ready, or when the file could not be opened. */
  readonly blob: Promise<Blob | null>;

  constructor(load: () => Promise<Blob>, isImage: boolean) {
    this.blob = load().then(
      (blob) => {
        if (isImage) this.imageUrl = URL.createObjectURL(blob);
        this.status = 'ready';
        return blob;
      },
      () => {
        this.status = 'failed';
        return null;
      },
    );
  }

  /** Frees the decrypted image's object URL (the tab is closing). */
  release(): void {
    if (this.imageUrl) URL.revokeObjectURL(this.imageUrl);
    this.imageUrl = null;
  }
}

/** One line of a conversation as the screen shows it: an opened entry, or why it could not be opened. */
export type ConversationLine = { seq: number; ok: true; value: ChatEntry } | { seq: number; ok: false; problem: LineProblem };

/**
 * One conversation open in a tab: the sdk's {@link Conversation} model mirrored into Svelte state (its
 * decrypted entries, in memory only, the patient's typing and receipts), and what the tab shows of it.
 */
export class ConversationView {
  summary = $state.raw<ConversationSummary | null>(null);
  lines = $state<ConversationLine[]>([]);
  patientName = $state('Patient');
  isPatientTyping = $state(false);
  patientReadUpTo = $state(0);
  patientDeliveredUpTo = $state(0);
  notice = $state<string | null>(null);
  /** The newest request for a photo or document the patient has not answered yet (the sdk derives it from the record). */
  openAttachmentRequest = $state.raw<Conversation['openAttachmentRequest']>(null);
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
    /** The sdk's model of this conversation: every command goes through it. */
    readonly model: Conversation,
    private readonly myUserId: string,
  ) {
    this.summary = model.summary;
  }

  get id(): string {
    return this.model.id;
  }

  /** Decrypted files by upload id, fetched once per tab (in memory only, like the decrypted text). */
  private readonly files = new Map<string, OpenedFile>();

  /** The attachment, fetched, checked and decrypted here on first ask (images re-encoded for display). */
  file(attachment: Attachment): OpenedFile {
    let file = this.files.get(attachment.id);
    if (!file) {
      const isImage = attachment.type !== 'application/pdf';
      file = new OpenedFile(async () => {
        const bytes = await this.model.fetchAttachment(attachment);
        return isImage ? safeImageBlob(bytes, attachment.type) : new Blob([bytes as Uint8Array<ArrayBuffer>], { type: 'application/octet-stream' });
      }, isImage);
      this.files.set(attachment.id, file);
    }
    return file;
  }

  /** Forgets every decrypted file of this tab and revokes their object URLs. */
  releaseFiles(): void {
    for (const file of this.files.values()) file.release();
    this.files.clear();
  }

  /** Whether this clinician holds it now (and so may answer, hold, transfer or close it). */
  get isMine(): boolean {
    return this.summary?.assignedClinicianId === this.myUserId && this.summary?.status !== 'closed';
  }

  /** Copies everything the model knows so far (a tab opened again on a conversation the session already follows). */
  mirrorAll(isPatientTrusted: (account: Conversation['patientAccount']) => boolean): void {
    this.lines = this.model.entries.map(toLine);
    this.openAttachmentRequest = this.model.openAttachmentRequest;
    for (const kind of ['summary', 'members', 'receipts', 'typing'] as const)
      if (kind !== 'members' || this.model.joined) this.mirror({ kind }, isPatientTrusted);
  }

  /** Copies what the model says changed; `isPatientTrusted` is the console's own check of the patient's account key. */
  mirror(change: ConversationChange, isPatientTrusted: (account: Conversation['patientAccount']) => boolean): void {
    const { model } = this;
    if (change.kind === 'entry') {
      this.lines.push(toLine(change.entry));
      this.openAttachmentRequest = model.openAttachmentRequest;
    } else if (change.kind === 'summary') {
      this.summary = model.summary;
    } else if (change.kind === 'members') {
      this.patientName = model.joined?.devices.find((device) => device.role === 'patient')?.displayName ?? 'Patient';
      this.isPatientTrusted = isPatientTrusted(model.patientAccount);
    } else if (change.kind === 'receipts') {
      const patient = this.summary ? model.receipts.get(this.summary.patientId) : undefined;
      this.patientReadUpTo = patient?.read ?? 0;
      this.patientDeliveredUpTo = patient?.delivered ?? 0;
    } else if (change.kind === 'typing') {
      this.isPatientTyping = this.summary !== null && model.typing.has(this.summary.patientId);
    }
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
  private readonly unsubscribes = new Map<string, () => void>();
  private lastTypingSent = new Map<string, number>();

  constructor(private readonly connection: StaffConnection) {}

  private get myUserId(): string {
    return this.connection.signedIn.session.user.id;
  }

  /** Listens for assignments and opens every conversation already assigned to this clinician. */
  async start(): Promise<void> {
    this.connection.chat.client.on('conversation:assigned', this.onAssigned);
    const conversations = await this.connection.chat.listConversations().catch(() => []);
    for (const summary of conversations) {
      if (summary.assignedClinicianId === this.myUserId && summary.status !== 'closed') await this.open(summary.id, summary);
    }
  }

  stop(): void {
    this.connection.chat.client.off('conversation:assigned', this.onAssigned);
    for (const unsubscribe of this.unsubscribes.values()) unsubscribe();
    this.unsubscribes.clear();
    for (const view of this.views) view.releaseFiles();
  }

  find(id: string): ConversationView | undefined {
    return this.views.find((view) => view.id === id);
  }

  /** Opens (or shows) a conversation's tab: its model joins once, then decrypts its record. */
  async open(id: string, summary?: ConversationSummary): Promise<ConversationView> {
    const existing = this.find(id);
    if (existing) {
      this.activeId = id;
      return existing;
    }
    const model = this.connection.chat.conversation(id, summary);
    this.views.push(new ConversationView(model, this.myUserId));
    // Read back through the proxy so later writes reach the reactive view.
    const view = this.find(id)!;
    this.activeId = id;
    const isPatientTrusted = (account: Conversation['patientAccount']) => this.connection.isPatientTrusted(account);
    this.unsubscribes.get(id)?.();
    this.unsubscribes.set(
      id,
      model.subscribe((change) => {
        view.mirror(change, isPatientTrusted);
        if (change.kind === 'entry' && this.activeId === id && document.visibilityState === 'visible') void model.markRead(change.entry.seq);
      }),
    );
    view.mirrorAll(isPatientTrusted);
    try {
      await model.open();
    } catch (error) {
      view.notice = explain((error as { code?: string }).code ?? 'internal');
    }
    return view;
  }

  /** Closes the tab (the record is untouched). */
  dismiss(id: string): void {
    this.unsubscribes.get(id)?.();
    this.unsubscribes.delete(id);
    this.find(id)?.releaseFiles();
    this.views = this.views.filter((view) => view.id !== id);
    if (this.activeId === id) this.activeId = this.views[0]?.id ?? null;
  }

  show(id: string): void {
    this.activeId = id;
    this.unseenAssignments = 0;
    this.cue = null;
    const view = this.find(id);
    if (view && view.lastSeq > 0) void view.model.markRead(view.lastSeq);
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
      await view.model.send(text);
      void view.model.setTyping(false);
      this.lastTypingSent.delete(id);
      return true;
    } catch (error) {
      view.notice = explain((error as { code?: string }).code ?? 'internal');
      return false;
    }
  }

  /** Tells the patient the clinician is typing, at most every few seconds. */
  typing(id: string): void {
    const view = this.find(id);
    const last = this.lastTypingSent.get(id) ?? 0;
    if (!view || Date.now() - last < 3_000) return;
    this.lastTypingSent.set(id, Date.now());
    void view.model.setTyping(true);
  }

  async transfer(id: string, to: { clinicianId: string } | 'queue'): Promise<boolean> {
    return this.change(id, (model) => model.transfer(to));
  }

  async hold(id: string, isOnHold: boolean): Promise<boolean> {
    return this.change(id, (model) => model.hold(isOnHold));
  }

  async close(id: string, outcome: CloseOutcome, followUp?: { dueDate: string; ownerId: string }): Promise<boolean> {
    return this.change(id, (model) => model.close(outcome, followUp));
  }

  /** Asks the patient for a photo or a document: a record event the patient's app shows as a prompt (assigned clinician or manager). */
  async requestAttachment(id: string, kind: 'photo' | 'document'): Promise<boolean> {
    const view = this.find(id);
    if (!view) return false;
    const result = await view.model.requestAttachment(kind);
    view.notice = result.ok ? null : explain(result.error.code);
    return result.ok;
  }

  /**
   * The conversation, decrypted here, as a FHIR R4 Bundle of Communication resources (JSON text) and
   * a readable transcript. The export is announced to the server first, so it reaches the audit log;
   * if the server cannot record it, nothing is exported. Attachments are fetched and decrypted here (images
   * as the re-encoded copy shown on screen) and embedded in the bundle.
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
    const files = await exportedFiles(view, input.entries);
    const withFiles = { ...input, files };
    return { bundle: JSON.stringify(buildFhirBundle(withFiles), null, 2), transcript: buildTranscript(withFiles) };
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

  /** Runs a lifecycle command through the conversation's model (which takes in the answer's summary); a refusal shows in the tab. */
  private async change(id: string, command: (model: Conversation) => Promise<ConversationSummary>): Promise<boolean> {
    const view = this.find(id);
    if (!view) return false;
    try {
      await command(view.model);
      view.notice = null;
      return true;
    } catch (error) {
      view.notice = explain((error as { code?: string }).code ?? 'internal');
      return false;
    }
  }

  private async assigned(fact: ConversationAssigned): Promise<void> {
    if (fact.clinicianId !== this.myUserId) return;
    // An open tab learns of the assignment from the record's own entry, through its model.
    const view = await this.open(fact.conversationId);
    this.unseenAssignments += 1;
    // The cue names the topic only: never the patient's words, which might be read over a shoulder or in a notification.
    this.cue = `New conversation assigned to you${view.summary ? `: ${topicLabel(view.summary.topic)}` : ''}.`;
    playChime();
    // A desktop notification may be read by anyone near the screen or mirrored to a phone: it says that work arrived, nothing more.
    if (this.notificationPermission === 'granted') new Notification('Parley', { body: 'A conversation was assigned to you.', tag: 'parley-assignment' });
  }
}

/** Every attachment of the entries, opened here, with its FHIR Attachment hash (SHA-1, base64); the ones that fail are left out. */
async function exportedFiles(view: ConversationView, entries: ChatEntry[]): Promise<Map<string, ExportedFile>> {
  const files = new Map<string, ExportedFile>();
  for (const entry of entries) {
    if (entry.kind !== 'message') continue;
    for (const attachment of entry.attachments) {
      const blob = await view.file(attachment).blob;
      if (!blob) continue;
      const bytes = new Uint8Array(await blob.arrayBuffer());
      const hash = toBase64(new Uint8Array(await crypto.subtle.digest('SHA-1', bytes)));
      // A PDF's Blob is typed octet-stream so that it is never rendered here; the record wants its real type.
      const contentType = attachment.type === 'application/pdf' ? 'application/pdf' : blob.type;
      files.set(attachment.id, { contentType, data: toBase64(bytes), size: bytes.length, hash });
    }
  }
  return files;
}

/** One step of the record as a line of the tab. */
function toLine(entry: FeedEntry<ChatEntry>): ConversationLine {
  return entry.ok ? { seq: entry.seq, ok: true, value: entry.value } : { seq: entry.seq, ok: false, problem: problemOf(entry) };
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

export const [setConversationsState, getConversationsState] = contextPair<ConversationsState>('conversations');
