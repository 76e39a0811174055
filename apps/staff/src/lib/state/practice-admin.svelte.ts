import type {
  AttachmentSettings,
  HoursView,
  PatientLimits,
  PracticeSettings,
  PracticeTerms,
  ReplyWindow,
  TermsStatus,
  TopicCategory,
  WeeklyInterval,
} from '@parley/protocol';
import { contextPair } from '@parley/ui';
import type { StaffConnection } from '../connection';
import { explain } from '../words';

/**
 * Managers: opening hours, exceptions and the reply window, categories, the acknowledgement text and phone, limits per patient,
 * attachments (who may send them, which types, size limits) and the terms.
 */
export class PracticeAdminState {
  hours = $state.raw<HoursView | null>(null);
  settings = $state.raw<PracticeSettings | null>(null);
  terms = $state.raw<PracticeTerms | null>(null);
  attachments = $state.raw<AttachmentSettings | null>(null);
  notice = $state<string | null>(null);

  constructor(private readonly connection: StaffConnection) {}

  async refresh(): Promise<void> {
    const [hours, settings, terms, attachments] = await Promise.all([
      this.connection.request<HoursView>('GET', '/api/hours'),
      this.connection.api.getPracticeSettings(),
      this.connection.api.getTerms(),
      this.connection.request<AttachmentSettings>('GET', '/api/practice/attachment-settings'),
    ]);
    if (hours.ok) this.hours = hours.data;
    if (settings.ok) this.settings = settings.data;
    if (terms.ok) this.terms = (terms.data as TermsStatus).terms;
    if (attachments.ok) this.attachments = attachments.data;
    const failed = [hours, settings, terms, attachments].find((result) => !result.ok) as { error: { code: string } } | undefined;
    this.notice = failed ? explain(failed.error.code) : null;
  }

  /** Replaces the whole weekly schedule (an empty one means always open). */
  async replaceWeekly(intervals: WeeklyInterval[]): Promise<boolean> {
    return this.save(() => this.connection.request('PUT', '/api/hours/weekly', { intervals }), 'Opening hours saved.');
  }

  /** Sets the exception of one date: closed all day when `intervals` is empty. */
  async setException(date: string, label: string, intervals: { start: string; end: string }[]): Promise<boolean> {
    return this.save(
      () => this.connection.request('PUT', `/api/hours/exceptions/${encodeURIComponent(date)}`, { label, intervals }),
      `Exception for ${date} saved.`,
    );
  }

  async deleteException(date: string): Promise<boolean> {
    return this.save(() => this.connection.request('DELETE', `/api/hours/exceptions/${encodeURIComponent(date)}`), `Exception for ${date} removed.`);
  }

  async saveCategories(categories: TopicCategory[]): Promise<boolean> {
    return this.save(() => this.connection.request('PUT', '/api/practice/categories', { categories }), 'Categories saved.');
  }

  /** `null` removes the phone number or restores the default acknowledgement. */
  async saveTexts(texts: { practicePhone?: string | null; acknowledgementTemplate?: string | null }): Promise<boolean> {
    return this.save(() => this.connection.request('PUT', '/api/practice/texts', texts), 'Texts saved.');
  }

  /** How long conversations a clinician has taken stay two-way after closing. */
  async saveReplyWindow(replyWindow: ReplyWindow): Promise<boolean> {
    return this.save(() => this.connection.request('PUT', '/api/hours/settings', { replyWindow }), 'Reply window saved.');
  }

  /** Conversations one patient may have open at once and start in a day; `null` is no limit. */
  async savePatientLimits(limits: PatientLimits): Promise<boolean> {
    return this.save(() => this.connection.request('PUT', '/api/practice/patient-limits', limits), 'Limits per patient saved.');
  }

  /** Whether patients may send attachments unprompted, only when asked, or never; accepted types; size caps (plaintext bytes). */
  async saveAttachmentSettings(settings: AttachmentSettings): Promise<boolean> {
    return this.save(() => this.connection.request('PUT', '/api/practice/attachment-settings', settings), 'Attachment settings saved.');
  }

  /** Publishes the next version of the terms; every patient accepts it before their next conversation. */
  async publishTerms(text: string): Promise<boolean> {
    return this.save(() => this.connection.request('POST', '/api/practice/terms', { text }), 'New terms published.');
  }

  private async save(call: () => Promise<{ ok: boolean; error?: { code: string; message: string } }>, done: string): Promise<boolean> {
    const result = await call();
    if (!result.ok) {
      this.notice = result.error?.code === 'invalid_payload' ? `Not saved: ${result.error.message}` : explain(result.error?.code ?? 'internal');
      return false;
    }
    await this.refresh();
    this.notice = done;
    return true;
  }
}

export const [setPracticeAdminState, getPracticeAdminState] = contextPair<PracticeAdminState>('practice-admin');
