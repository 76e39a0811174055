import type { AuditEvent, AuditPage, PatientMatch, PatientSearchQuery } from '@parley/protocol';
import { contextPair } from '@parley/ui';
import type { StaffConnection } from '../connection';
import { explain } from '../words';

/** The filters the audit log viewer offers (empty strings are "any"). */
export interface AuditFilters {
  action: string;
  /** Part of a name: who acted, the patient concerned. */
  actorName: string;
  subjectName: string;
  conversationId: string;
  from: string;
  to: string;
}

/** Patient search with past conversations (reading one is audited by the server), and the audit log (managers). */
export class RecordsState {
  patients = $state.raw<PatientMatch[]>([]);
  isTruncated = $state(false);
  hasSearched = $state(false);
  audit = $state.raw<AuditEvent[]>([]);
  /** Names of the people the events read so far name, by user id (the server resolves them). */
  auditPeople = $state.raw<Record<string, string>>({});
  auditNextBefore = $state<string | null>(null);
  notice = $state<string | null>(null);
  private lastFilters: AuditFilters | null = null;

  constructor(private readonly connection: StaffConnection) {}

  async search(input: { name: string; nhsNumber: string; dateOfBirth: string }): Promise<void> {
    const query: PatientSearchQuery = {
      ...(input.name.trim() ? { name: input.name.trim() } : {}),
      ...(input.nhsNumber.replace(/\s/g, '') ? { nhsNumber: input.nhsNumber.replace(/\s/g, '') } : {}),
      ...(input.dateOfBirth ? { dateOfBirth: input.dateOfBirth } : {}),
    };
    const result = await this.connection.api.searchPatients(query);
    this.hasSearched = true;
    if (result.ok) {
      this.patients = result.data.patients;
      this.isTruncated = result.data.isTruncated;
      this.notice = null;
    } else {
      this.patients = [];
      this.notice =
        result.error.code === 'invalid_payload'
          ? 'Give an NHS number (10 digits), at least two letters of a name, or a date of birth.'
          : explain(result.error.code);
    }
  }

  /** Reads the audit log with the filters, newest first; `more` pages back from the last page read. */
  async readAudit(filters: AuditFilters, more = false): Promise<void> {
    const params = new URLSearchParams();
    for (const [name, value] of Object.entries(filters)) {
      if (!value) continue;
      // The date inputs give local dates; the API takes instants with an offset.
      params.set(name, name === 'from' || name === 'to' ? new Date(`${value}T00:00:00`).toISOString() : value.trim());
    }
    if (more && this.auditNextBefore) params.set('before', this.auditNextBefore);
    params.set('limit', '50');
    const result = await this.connection.request<AuditPage>('GET', `/api/audit?${params}`);
    if (!result.ok) {
      this.notice =
        result.error.code === 'invalid_payload'
          ? 'Those filters are not valid: give at least two letters of a name, a whole conversation reference, and "from" before "until".'
          : explain(result.error.code);
      return;
    }
    this.notice = null;
    const isMore = more && this.lastFilters !== null;
    this.audit = isMore ? [...this.audit, ...result.data.events] : result.data.events;
    this.auditPeople = isMore ? { ...this.auditPeople, ...result.data.people } : result.data.people;
    this.auditNextBefore = result.data.nextBefore;
    this.lastFilters = filters;
  }
}

export const [setRecordsState, getRecordsState] = contextPair<RecordsState>('records');
