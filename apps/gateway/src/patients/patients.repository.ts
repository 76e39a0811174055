import { Injectable } from '@nestjs/common';
import type { ConversationStatus, PatientConversation, PatientMatch, PatientSearchQuery } from '@parley/protocol';
import { DataSource } from 'typeorm';
import { rows } from '../database/sql.js';

/** A patient's `users` row as `search` selects it (the date of birth as YYYY-MM-DD text; a patient is invited with both). */
interface PatientRow {
  id: string;
  display_name: string;
  nhs_number: string;
  date_of_birth: string;
  activated_at: Date | null;
  deactivated_at: Date | null;
}

/** A `conversations` row as `search` selects it, among its patient's newest. */
interface PatientConversationRow {
  id: string;
  patient_id: string;
  topic: string;
  status: ConversationStatus;
  assigned_clinician_id: string | null;
  outcome: string | null;
  last_seq: string;
  created_at: Date;
}

const toPatientConversation = (row: PatientConversationRow): PatientConversation => ({
  id: row.id,
  topic: row.topic,
  status: row.status,
  assignedClinicianId: row.assigned_clinician_id,
  outcome: row.outcome,
  lastSeq: Number(row.last_seq),
  createdAt: row.created_at.toISOString(),
});

const toPatientMatch = (row: PatientRow, conversations: PatientConversation[]): PatientMatch => ({
  userId: row.id,
  displayName: row.display_name,
  nhsNumber: row.nhs_number,
  dateOfBirth: row.date_of_birth,
  isActivated: row.activated_at !== null,
  deactivatedAt: row.deactivated_at ? row.deactivated_at.toISOString() : null,
  conversations,
});

/** Patient search's reads: identity columns of the practice's patients and their conversations' metadata. Read-only. */
@Injectable()
export class PatientsRepository {
  constructor(private readonly dataSource: DataSource) {}

  /** Up to `limit` patients of the practice matching every given criterion, by name, each with their newest `perPatient` conversations. */
  async search(practiceId: string, query: PatientSearchQuery, limit: number, perPatient: number): Promise<PatientMatch[]> {
    const conditions = [`practice_id = $1`, `'patient' = ANY(roles)`];
    const parameters: unknown[] = [practiceId];
    const where = (sql: string, value: unknown) => {
      parameters.push(value);
      conditions.push(sql.replace('?', `$${parameters.length}`));
    };
    if (query.nhsNumber) where('nhs_number = ?', query.nhsNumber);
    // A literal substring: LIKE's wildcards typed by the user match only themselves.
    if (query.name)
      where(
        `display_name ILIKE '%' || ? || '%' ESCAPE '\\'`,
        query.name.replace(/[\\%_]/g, (character) => `\\${character}`),
      );
    if (query.dateOfBirth) where('date_of_birth = ?::date', query.dateOfBirth);
    parameters.push(limit);
    const patients = await rows<PatientRow>(
      this.dataSource,
      `SELECT id, display_name, nhs_number, to_char(date_of_birth, 'YYYY-MM-DD') AS date_of_birth, activated_at, deactivated_at
         FROM users WHERE ${conditions.join(' AND ')} ORDER BY lower(display_name), id LIMIT $${parameters.length}`,
      parameters,
    );
    if (patients.length === 0) return [];
    const conversations = await rows<PatientConversationRow>(
      this.dataSource,
      `SELECT * FROM (
         SELECT id, patient_id, topic, status, assigned_clinician_id, outcome, last_seq, created_at,
                row_number() OVER (PARTITION BY patient_id ORDER BY created_at DESC, id) AS n
           FROM conversations WHERE practice_id = $1 AND patient_id = ANY($2::uuid[])) ranked
        WHERE n <= $3 ORDER BY created_at DESC, id`,
      [practiceId, patients.map((row) => row.id), perPatient],
    );
    const byPatient = new Map<string, PatientConversation[]>();
    for (const row of conversations) {
      const list = byPatient.get(row.patient_id) ?? [];
      list.push(toPatientConversation(row));
      byPatient.set(row.patient_id, list);
    }
    return patients.map((row) => toPatientMatch(row, byPatient.get(row.id) ?? []));
  }
}
