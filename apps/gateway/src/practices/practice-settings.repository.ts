import { Injectable } from '@nestjs/common';
import { DEFAULT_ATTACHMENT_SETTINGS, type AttachmentSettings, type PatientLimits, type TopicCategory } from '@parley/protocol';
import { DataSource } from 'typeorm';
import { one, rows, run, transaction, type Db } from '../database/sql.js';

/** The texts of a practice as stored: null where the manager has set nothing. */
export interface StoredTexts {
  practiceName: string;
  practicePhone: string | null;
  acknowledgementTemplate: string | null;
}

/** A change to the texts: an absent field is left as it is, null clears it. */
export interface TextsChange {
  practicePhone?: string | null;
  acknowledgementTemplate?: string | null;
}

/** What a practice that has never saved its settings gets (the column defaults of the migration; docs/clinical-safety.md says why). */
export const DEFAULT_PATIENT_LIMITS: Readonly<PatientLimits> = { maxOpenPerPatient: 1, maxNewPerPatientPerDay: 3 };

/** Every query of the settings managers edit: topic categories, texts, per-patient limits and attachments. */
@Injectable()
export class PracticeSettingsRepository {
  constructor(private readonly dataSource: DataSource) {}

  /** The practice's categories in display order; empty when it has never set any. */
  async categories(practiceId: string): Promise<TopicCategory[]> {
    const categories = await rows<{ slug: string; label: string; is_enabled: boolean }>(
      this.dataSource,
      `SELECT slug, label, is_enabled FROM practice_categories WHERE practice_id = $1 ORDER BY position`,
      [practiceId],
    );
    return categories.map((row) => ({ slug: row.slug, label: row.label, isEnabled: row.is_enabled }));
  }

  /** Replaces the practice's categories with `categories`, in that order, in one transaction. */
  async replaceCategories(practiceId: string, categories: readonly TopicCategory[]): Promise<void> {
    await transaction(this.dataSource, async (db) => {
      await run(db, `DELETE FROM practice_categories WHERE practice_id = $1`, [practiceId]);
      await run(
        db,
        `INSERT INTO practice_categories (practice_id, slug, label, is_enabled, position)
         SELECT $1, c.slug, c.label, c.is_enabled, c.position - 1
           FROM unnest($2::text[], $3::text[], $4::boolean[]) WITH ORDINALITY AS c(slug, label, is_enabled, position)`,
        [practiceId, categories.map((c) => c.slug), categories.map((c) => c.label), categories.map((c) => c.isEnabled)],
      );
    });
  }

  /** The practice's name and stored texts; null for an unknown practice. */
  async texts(practiceId: string): Promise<StoredTexts | null> {
    const row = await one<{ name: string; practice_phone: string | null; acknowledgement_template: string | null }>(
      this.dataSource,
      `SELECT p.name, s.practice_phone, s.acknowledgement_template
         FROM practices p LEFT JOIN practice_settings s ON s.practice_id = p.id WHERE p.id = $1`,
      [practiceId],
    );
    return row ? { practiceName: row.name, practicePhone: row.practice_phone, acknowledgementTemplate: row.acknowledgement_template } : null;
  }

  /** The practice's per-patient limits (the defaults when it has never saved settings). */
  async patientLimits(practiceId: string): Promise<PatientLimits> {
    const row = await one<{ max_open_per_patient: number | null; max_new_per_patient_per_day: number | null }>(
      this.dataSource,
      `SELECT max_open_per_patient, max_new_per_patient_per_day FROM practice_settings WHERE practice_id = $1`,
      [practiceId],
    );
    return row ? { maxOpenPerPatient: row.max_open_per_patient, maxNewPerPatientPerDay: row.max_new_per_patient_per_day } : { ...DEFAULT_PATIENT_LIMITS };
  }

  /** Sets the practice's per-patient limits (creating its row on first use; its texts keep their defaults). */
  async updatePatientLimits(practiceId: string, limits: PatientLimits, updatedBy: string, updatedAt: Date): Promise<void> {
    await run(
      this.dataSource,
      `INSERT INTO practice_settings (practice_id, max_open_per_patient, max_new_per_patient_per_day, updated_at, updated_by)
       VALUES ($1, $2, $3, $4, $5)
       ON CONFLICT (practice_id) DO UPDATE SET
         max_open_per_patient = EXCLUDED.max_open_per_patient,
         max_new_per_patient_per_day = EXCLUDED.max_new_per_patient_per_day,
         updated_at = EXCLUDED.updated_at,
         updated_by = EXCLUDED.updated_by`,
      [practiceId, limits.maxOpenPerPatient, limits.maxNewPerPatientPerDay, updatedAt, updatedBy],
    );
  }

  /** Applies a change to the texts (creating the practice's row on first use); `db` runs it inside a caller's transaction (the demo seed). */
  async updateTexts(practiceId: string, change: TextsChange, updatedBy: string | null, updatedAt: Date, db: Db = this.dataSource): Promise<void> {
    await run(
      db,
      `INSERT INTO practice_settings (practice_id, practice_phone, acknowledgement_template, updated_at, updated_by)
       VALUES ($1, $3, $5, $6, $7)
       ON CONFLICT (practice_id) DO UPDATE SET
         practice_phone = CASE WHEN $2 THEN EXCLUDED.practice_phone ELSE practice_settings.practice_phone END,
         acknowledgement_template = CASE WHEN $4 THEN EXCLUDED.acknowledgement_template ELSE practice_settings.acknowledgement_template END,
         updated_at = EXCLUDED.updated_at,
         updated_by = EXCLUDED.updated_by`,
      [
        practiceId,
        change.practicePhone !== undefined,
        change.practicePhone ?? null,
        change.acknowledgementTemplate !== undefined,
        change.acknowledgementTemplate ?? null,
        updatedAt,
        updatedBy,
      ],
    );
  }

  /** The practice's attachment settings (the defaults when it has never saved settings). */
  async attachmentSettings(practiceId: string): Promise<AttachmentSettings> {
    const row = await one<AttachmentSettingsRow>(
      this.dataSource,
      `SELECT attachment_patient_uploads, attachment_types, attachment_max_file_bytes, attachment_max_conversation_bytes, attachment_max_patient_daily_bytes
         FROM practice_settings WHERE practice_id = $1`,
      [practiceId],
    );
    if (!row) return { ...DEFAULT_ATTACHMENT_SETTINGS, acceptedTypes: [...DEFAULT_ATTACHMENT_SETTINGS.acceptedTypes] };
    return {
      patientUploads: row.attachment_patient_uploads,
      acceptedTypes: row.attachment_types,
      maxFileBytes: row.attachment_max_file_bytes,
      maxConversationBytes: row.attachment_max_conversation_bytes,
      maxPatientDailyBytes: row.attachment_max_patient_daily_bytes,
    };
  }

  /** Sets the practice's attachment settings (creating its row on first use; its other settings keep their defaults). */
  async updateAttachmentSettings(practiceId: string, settings: AttachmentSettings, updatedBy: string, updatedAt: Date): Promise<void> {
    await run(
      this.dataSource,
      `INSERT INTO practice_settings (practice_id, attachment_patient_uploads, attachment_types, attachment_max_file_bytes,
                                      attachment_max_conversation_bytes, attachment_max_patient_daily_bytes, updated_at, updated_by)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
       ON CONFLICT (practice_id) DO UPDATE SET
         attachment_patient_uploads = EXCLUDED.attachment_patient_uploads,
         attachment_types = EXCLUDED.attachment_types,
         attachment_max_file_bytes = EXCLUDED.attachment_max_file_bytes,
         attachment_max_conversation_bytes = EXCLUDED.attachment_max_conversation_bytes,
         attachment_max_patient_daily_bytes = EXCLUDED.attachment_max_patient_daily_bytes,
         updated_at = EXCLUDED.updated_at,
         updated_by = EXCLUDED.updated_by`,
      [
        practiceId,
        settings.patientUploads,
        settings.acceptedTypes,
        settings.maxFileBytes,
        settings.maxConversationBytes,
        settings.maxPatientDailyBytes,
        updatedAt,
        updatedBy,
      ],
    );
  }
}

interface AttachmentSettingsRow {
  attachment_patient_uploads: AttachmentSettings['patientUploads'];
  attachment_types: AttachmentSettings['acceptedTypes'];
  attachment_max_file_bytes: number;
  attachment_max_conversation_bytes: number;
  attachment_max_patient_daily_bytes: number;
}
