import type { AttachmentSettings, ConversationSummary, HoursStatus, PracticeTerms, TopicCategory } from '@parley/protocol';
import { contextPair } from '@parley/ui';
import * as connection from '../connection';
import { describeError, patientLimitText } from './notices';
import type { PatientApp } from './patient-app.svelte';

/**
 * What the home screen shows about the practice: opening status (live), topics, phone number,
 * terms, and the patient's conversations. Loaded over the signed-in session.
 */
export class PracticeState {
  hours = $state.raw<HoursStatus | null>(null);
  categories = $state.raw<TopicCategory[]>([]);
  phone = $state<string | null>(null);
  terms = $state.raw<PracticeTerms | null>(null);
  /** What patients may send (photos, PDFs, sizes, whether only when asked); null until loaded, and then nothing is offered. */
  attachmentSettings = $state.raw<AttachmentSettings | null>(null);
  conversations = $state.raw<ConversationSummary[]>([]);
  /** The topic the patient picked: kept while they read terms the practice asks them to accept first. */
  chosenTopic = $state('');
  isStarting = $state(false);
  error = $state<string | null>(null);
  termsError = $state<string | null>(null);
  private watched: unknown = null;

  constructor(private readonly app: PatientApp) {}

  /** Topics the practice offers now. */
  get enabledCategories(): TopicCategory[] {
    return this.categories.filter((category) => category.isEnabled);
  }

  /** The label of a topic slug (the slug itself if the practice no longer lists it). */
  topicLabel(slug: string): string {
    return this.categories.find((category) => category.slug === slug)?.label ?? slug.replace(/-/g, ' ');
  }

  /** Loads the settings and terms over HTTP (works before the socket is up). */
  async loadSettings(): Promise<void> {
    const token = this.app.keys?.signedIn.session.token;
    if (!token) return;
    try {
      void this.loadAttachmentSettings();
      const [settings, terms] = await Promise.all([connection.practiceSettings(token), connection.termsStatus(token)]);
      this.categories = settings.categories;
      this.phone = settings.practicePhone;
      this.terms = terms.terms;
    } catch {
      // Offline: the home screen shows the offline state; the next session start reloads.
    }
  }

  /** Loads what patients may send; kept as it was when offline (the gateway checks every upload against the current settings anyway). */
  async loadAttachmentSettings(): Promise<void> {
    const token = this.app.keys?.signedIn.session.token;
    if (!token) return;
    try {
      this.attachmentSettings = await connection.attachmentSettings(token);
    } catch {
      // Offline: the next load tries again.
    }
  }

  /** Loads the live parts (opening status, conversations) and follows `hours:status`. */
  async loadLive(): Promise<void> {
    const session = this.app.session;
    if (!session) return;
    if (this.watched !== session) {
      this.watched = session;
      // Opening status changes (closing soon, closed, a manager's change) arrive as facts.
      session.client.on('hours:status', (status) => (this.hours = status));
    }
    try {
      const [hours, conversations] = await Promise.all([connection.hoursStatus(session), session.listConversations()]);
      this.hours = hours;
      this.conversations = [...conversations].sort((a, b) => b.createdAt.localeCompare(a.createdAt));
    } catch {
      // Offline or closed meanwhile: the state-changed listener reloads on the next session.
    }
  }

  /** Accepts the current terms and goes home. */
  async acceptTerms(): Promise<void> {
    const token = this.app.keys?.signedIn.session.token;
    if (!token || !this.terms) return;
    this.termsError = null;
    try {
      await connection.acceptTerms(token, this.terms.version);
      this.app.termsAccepted();
    } catch (error) {
      const code = (error as { code?: string }).code ?? 'internal';
      if (code === 'conflict') {
        this.termsError = 'The practice has just updated its terms. Please read the new version below.';
        await this.loadSettings();
      } else this.termsError = describeError(code);
    }
  }

  /** Opens a conversation about a topic and shows it. */
  async start(topic: string): Promise<void> {
    const session = this.app.session;
    this.error = null;
    if (!session) {
      this.error = describeError('network');
      return;
    }
    this.isStarting = true;
    try {
      const conversation = await session.openConversation(topic);
      this.conversations = [conversation, ...this.conversations];
      this.chosenTopic = '';
      this.app.openChat(conversation.id);
    } catch (error) {
      const { code, message, details } = error as { code?: string; message?: string; details?: Record<string, unknown> };
      if (code === 'patient_limit') {
        // Which limit it was comes in details.limit; without it, the gateway's own words say what to do instead.
        const limit = details?.['limit'];
        this.error = limit === 'open' || limit === 'daily' ? patientLimitText(limit, this.phone) : describeError(code, message);
        return;
      }
      if (code === 'forbidden') {
        // Terms changed since sign-in: show them again.
        this.app.go('terms', { kind: 'info', text: 'Please read and accept the practice’s current terms first.' });
        return;
      }
      this.error = describeError(code ?? 'internal', message);
    } finally {
      this.isStarting = false;
    }
  }
}

export const [setPracticeState, getPracticeState] = contextPair<PracticeState>('practice');
