import { Injectable } from '@nestjs/common';
import type { PracticeTerms, TermsConsent } from '@parley/protocol';
import { DataSource } from 'typeorm';
import { one, run, transaction } from '../database/sql.js';

/** Where a patient stands against their practice's current terms. */
export interface ConsentState {
  /** Null when the practice has published no terms. */
  currentVersion: number | null;
  hasConsented: boolean;
}

/** How an acceptance went: stored now, already stored before, or not the current version. */
export type AcceptOutcome = { status: 'accepted' | 'already_given'; consent: TermsConsent } | { status: 'not_current' };

/** Every query of terms versions and consents. Both tables are append-only (the database refuses UPDATE, DELETE, TRUNCATE). */
@Injectable()
export class ConsentRepository {
  constructor(private readonly dataSource: DataSource) {}

  /** The practice's newest terms, or null when it has none. */
  async currentTerms(practiceId: string): Promise<PracticeTerms | null> {
    const row = await one<TermsRow>(
      this.dataSource,
      `SELECT version, text, published_at, published_by FROM practice_terms WHERE practice_id = $1 ORDER BY version DESC LIMIT 1`,
      [practiceId],
    );
    return row ? toTerms(row) : null;
  }

  /** The practice's newest terms version, or null when it has none. */
  async currentVersion(practiceId: string): Promise<number | null> {
    const row = await one<{ version: number | null }>(this.dataSource, `SELECT max(version) AS version FROM practice_terms WHERE practice_id = $1`, [
      practiceId,
    ]);
    return row?.version ?? null;
  }

  /**
   * Stores the text as the practice's next version (1, 2, …). The practice row is locked so two
   * managers publishing at once get consecutive versions.
   */
  async publish(terms: { practiceId: string; text: string; publishedBy: string; publishedAt: Date }): Promise<PracticeTerms> {
    return transaction(this.dataSource, async (db) => {
      await run(db, `SELECT id FROM practices WHERE id = $1 FOR UPDATE`, [terms.practiceId]);
      const row = await one<TermsRow>(
        db,
        `INSERT INTO practice_terms (practice_id, version, text, published_at, published_by)
         SELECT $1, coalesce(max(version), 0) + 1, $2, $3, $4 FROM practice_terms WHERE practice_id = $1
         RETURNING version, text, published_at, published_by`,
        [terms.practiceId, terms.text, terms.publishedAt, terms.publishedBy],
      );
      return toTerms(row!);
    });
  }

  /** The patient's most recent consent at the practice, or null. */
  async latestConsent(patientId: string, practiceId: string): Promise<TermsConsent | null> {
    const row = await one<ConsentRow>(
      this.dataSource,
      `SELECT version, given_at FROM consents WHERE patient_id = $1 AND practice_id = $2 ORDER BY version DESC LIMIT 1`,
      [patientId, practiceId],
    );
    return row ? toConsent(row) : null;
  }

  /**
   * Records the patient's consent to `version` if it is the practice's current one. Accepting the same
   * version again keeps the first record.
   */
  async accept(consent: { patientId: string; practiceId: string; version: number; givenAt: Date }): Promise<AcceptOutcome> {
    const inserted = await one<ConsentRow>(
      this.dataSource,
      `INSERT INTO consents (patient_id, practice_id, version, given_at)
       SELECT $1, $2, $3, $4 WHERE $3 = (SELECT max(version) FROM practice_terms WHERE practice_id = $2)
       ON CONFLICT (patient_id, practice_id, version) DO NOTHING
       RETURNING version, given_at`,
      [consent.patientId, consent.practiceId, consent.version, consent.givenAt],
    );
    if (inserted) return { status: 'accepted', consent: toConsent(inserted) };
    const existing = await one<ConsentRow>(
      this.dataSource,
      `SELECT c.version, c.given_at FROM consents c
        WHERE c.patient_id = $1 AND c.practice_id = $2 AND c.version = $3
          AND c.version = (SELECT max(version) FROM practice_terms WHERE practice_id = $2)`,
      [consent.patientId, consent.practiceId, consent.version],
    );
    return existing ? { status: 'already_given', consent: toConsent(existing) } : { status: 'not_current' };
  }

  /** The practice's current version and whether the patient has consented to it, in one query. */
  async state(patientId: string, practiceId: string): Promise<ConsentState> {
    const row = await one<{ version: number; has_consented: boolean }>(
      this.dataSource,
      `SELECT t.version, EXISTS (SELECT 1 FROM consents c WHERE c.patient_id = $1 AND c.practice_id = t.practice_id AND c.version = t.version) AS has_consented
         FROM practice_terms t WHERE t.practice_id = $2 ORDER BY t.version DESC LIMIT 1`,
      [patientId, practiceId],
    );
    return row ? { currentVersion: row.version, hasConsented: row.has_consented } : { currentVersion: null, hasConsented: false };
  }
}

interface TermsRow {
  version: number;
  text: string;
  published_at: Date;
  published_by: string;
}

interface ConsentRow {
  version: number;
  given_at: Date;
}

const toTerms = (row: TermsRow): PracticeTerms => ({
  version: row.version,
  text: row.text,
  publishedAt: row.published_at.toISOString(),
  publishedBy: row.published_by,
});

const toConsent = (row: ConsentRow): TermsConsent => ({ version: row.version, givenAt: row.given_at.toISOString() });
