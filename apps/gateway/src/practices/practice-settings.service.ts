import { Injectable, Logger } from '@nestjs/common';
import type { AttachmentSettings, PatientLimits, PracticeSettings, TopicCategory, UpdateCategoriesRequest, UpdatePracticeTextsRequest } from '@parley/protocol';
import { AuditService } from '../audit/audit.service.js';
import type { Actor } from '../common/actor.js';
import { Clock } from '../common/clock.js';
import { DomainError } from '../common/domain-error.js';
import { requireRole } from '../common/require-role.js';
import { PracticeSettingsRepository, type StoredTexts } from './practice-settings.repository.js';
import { SharedReads } from '../common/shared-reads.js';

/** What a practice offers until a manager edits its categories (docs/clinical-safety.md, H1: the channel is kept to suitable matters). */
export const DEFAULT_CATEGORIES: readonly TopicCategory[] = [
  { slug: 'appointment', label: 'Appointment', isEnabled: true },
  { slug: 'repeat-prescription', label: 'Repeat prescription', isEnabled: true },
  { slug: 'test-results', label: 'Test results', isEnabled: true },
  { slug: 'admin', label: 'Admin', isEnabled: true },
  { slug: 'other', label: 'Other', isEnabled: true },
];

/** The acknowledgement posted on opening until a manager writes their own: received, reply time, urgent advice. */
export const DEFAULT_ACKNOWLEDGEMENT =
  'Thank you, your message has been received. Typical reply time: {replyTime}. ' +
  "This service is not for emergencies: call 999 if someone's life is at risk, or 111 for urgent advice, or phone the practice on {practicePhone}.";

/** How long the opens of one practice share a read of what they need from its settings (edits through this node show at once). */
const OPENING_SETTINGS_SHARED_FOR_MS = 1_000;

/** What `conversation:open` reads of a practice's settings: its topics, texts and per-patient limits. */
interface OpeningSettings {
  categories: TopicCategory[];
  texts: StoredTexts | null;
  patientLimits: PatientLimits;
}

/** Stands in for {practicePhone} when the practice has not given its number. */
const NO_PHONE_TEXT = 'its usual number';

/**
 * What a manager edits about the practice besides hours and caps: the topics patients may open a
 * conversation about, the practice's phone number, the acknowledgement posted when one opens, and
 * how many conversations one patient may open.
 */
@Injectable()
export class PracticeSettingsService {
  private readonly logger = new Logger(PracticeSettingsService.name);
  /** The opens of one practice share one read of its settings for up to a second (SharedReads); every edit here forgets it. */
  private readonly openingReads = new SharedReads<OpeningSettings>(OPENING_SETTINGS_SHARED_FOR_MS, async (practiceId) => {
    const [categories, texts, patientLimits] = await Promise.all([
      this.categoriesOf(practiceId),
      this.settings.texts(practiceId),
      this.settings.patientLimits(practiceId),
    ]);
    return { categories, texts, patientLimits };
  });

  constructor(
    private readonly settings: PracticeSettingsRepository,
    private readonly audit: AuditService,
    private readonly clock: Clock,
  ) {}

  /** The caller's practice's categories, texts and per-patient limits (the defaults where the practice has set none). @throws DomainError `not_found` */
  async settingsFor(actor: Actor): Promise<PracticeSettings> {
    const [categories, texts, patientLimits] = await Promise.all([
      this.categoriesOf(actor.practiceId),
      this.settings.texts(actor.practiceId),
      this.settings.patientLimits(actor.practiceId),
    ]);
    if (!texts) throw new DomainError('not_found');
    return {
      categories,
      practicePhone: texts.practicePhone,
      acknowledgementTemplate: texts.acknowledgementTemplate ?? DEFAULT_ACKNOWLEDGEMENT,
      isDefaultAcknowledgement: texts.acknowledgementTemplate === null,
      patientLimits,
    };
  }

  /**
   * Sets how many conversations one patient may have open at once and start in a day (null: no limit). Conversations
   * already open stay open; the limits apply to the next `conversation:open`.
   * @throws DomainError `forbidden` (not a manager)
   */
  async updatePatientLimits(actor: Actor, limits: PatientLimits): Promise<PracticeSettings> {
    requireRole(actor, 'manager');
    await this.settings.updatePatientLimits(actor.practiceId, limits, actor.userId, this.clock.now());
    this.openingReads.forget(actor.practiceId);
    // An intake limit like the practice's own demand cap, so it shares their audit action.
    await this.audit.record(actor, 'capacity.changed', { data: { ...limits } });
    this.logger.log({ userId: actor.userId, practiceId: actor.practiceId, ...limits }, 'patient limits changed');
    return this.settingsFor(actor);
  }

  /** The per-patient limits `conversation:open` enforces for the practice (the opens' shared read). */
  async patientLimitsOf(practiceId: string): Promise<PatientLimits> {
    return (await this.openingReads.get(practiceId)).patientLimits;
  }

  /**
   * Replaces the practice's categories (the whole list, in display order). Conversations already open
   * keep their topic; a disabled category only stops new ones.
   * @throws DomainError `forbidden` (not a manager)
   */
  async updateCategories(actor: Actor, request: UpdateCategoriesRequest): Promise<PracticeSettings> {
    requireRole(actor, 'manager');
    await this.settings.replaceCategories(actor.practiceId, request.categories);
    this.openingReads.forget(actor.practiceId);
    const slugsWhere = (isEnabled: boolean) => request.categories.filter((category) => category.isEnabled === isEnabled).map((category) => category.slug);
    // Slugs are codes; labels are free text and stay out of the trail.
    await this.audit.record(actor, 'categories.changed', { data: { enabled: slugsWhere(true), disabled: slugsWhere(false) } });
    this.logger.log({ userId: actor.userId, practiceId: actor.practiceId }, 'categories changed');
    return this.settingsFor(actor);
  }

  /**
   * Changes the practice's phone number and/or acknowledgement template (null: remove the number, or
   * go back to the default text).
   * @throws DomainError `forbidden` (not a manager)
   */
  async updateTexts(actor: Actor, request: UpdatePracticeTextsRequest): Promise<PracticeSettings> {
    requireRole(actor, 'manager');
    await this.settings.updateTexts(actor.practiceId, request, actor.userId, this.clock.now());
    this.openingReads.forget(actor.practiceId);
    const fields = (['practicePhone', 'acknowledgementTemplate'] as const).filter((field) => request[field] !== undefined);
    // Which fields changed and which were cleared; the texts themselves stay out of the trail.
    const changed = { changed: fields, cleared: fields.filter((field) => request[field] === null) };
    await this.audit.record(actor, 'texts.changed', { data: changed });
    this.logger.log({ userId: actor.userId, practiceId: actor.practiceId, ...changed }, 'texts changed');
    return this.settingsFor(actor);
  }

  /** The caller's practice's attachment settings: anyone signed in there reads them (the patient app shows the limits). */
  attachmentSettingsFor(actor: Actor): Promise<AttachmentSettings> {
    return this.settings.attachmentSettings(actor.practiceId);
  }

  /** The practice's attachment settings, for the upload routes' checks. */
  attachmentSettingsOf(practiceId: string): Promise<AttachmentSettings> {
    return this.settings.attachmentSettings(practiceId);
  }

  /**
   * Sets whether patients may send attachments (always, only when asked, never), which types and how large. Uploads
   * already made stay; the settings apply to the next upload.
   * @throws DomainError `forbidden` (not a manager)
   */
  async updateAttachmentSettings(actor: Actor, settings: AttachmentSettings): Promise<AttachmentSettings> {
    requireRole(actor, 'manager');
    await this.settings.updateAttachmentSettings(actor.practiceId, settings, actor.userId, this.clock.now());
    // The settings are codes and numbers: the trail keeps them whole.
    await this.audit.record(actor, 'practice.attachment_settings_changed', { data: { ...settings } });
    this.logger.log({ userId: actor.userId, practiceId: actor.practiceId }, 'attachment settings changed');
    return this.attachmentSettingsFor(actor);
  }

  /** Refuses a topic the practice does not offer now (unknown or disabled). @throws DomainError `invalid_payload` */
  async assertTopicEnabled(practiceId: string, topic: string): Promise<void> {
    const { categories } = await this.openingReads.get(practiceId);
    if (!categories.some((category) => category.slug === topic && category.isEnabled)) {
      throw new DomainError('invalid_payload', 'The practice does not take conversations about that topic; choose one of its categories.');
    }
  }

  /**
   * The acknowledgement to post when a conversation opens: the practice's template (or the default)
   * with `{replyTime}` as given, `{practicePhone}` and `{practiceName}` filled in.
   * @throws DomainError `not_found` (no such practice)
   */
  async acknowledgementFor(practiceId: string, values: { replyTimeText: string }): Promise<string> {
    return (await this.acknowledgementWriter(practiceId))(values);
  }

  /** `acknowledgementFor` in two steps: the settings read first (shared), the text written later without a query. @throws DomainError `not_found` */
  async acknowledgementWriter(practiceId: string): Promise<(values: { replyTimeText: string }) => string> {
    const { texts } = await this.openingReads.get(practiceId);
    if (!texts) throw new DomainError('not_found');
    return (values) => {
      const filled: Record<string, string> = {
        replyTime: values.replyTimeText,
        practicePhone: texts.practicePhone ?? NO_PHONE_TEXT,
        practiceName: texts.practiceName,
      };
      // One pass, so a value that happens to contain "{…}" is never filled in again.
      return (texts.acknowledgementTemplate ?? DEFAULT_ACKNOWLEDGEMENT).replace(/\{([a-zA-Z]+)\}/g, (placeholder, name: string) => filled[name] ?? placeholder);
    };
  }

  /** The practice's categories, or the defaults when it has never set any. */
  private async categoriesOf(practiceId: string): Promise<TopicCategory[]> {
    const stored = await this.settings.categories(practiceId);
    return stored.length > 0 ? stored : DEFAULT_CATEGORIES.map((category) => ({ ...category }));
  }
}
