import { Injectable } from '@nestjs/common';
import type { ConversationStatus, PatientConversation, PatientMatch, PatientSearchQuery } from '@parley/protocol';
import { DataSource } from 'typeorm';

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
    if (query.name) where(`display_name ILIKE '%' || ? || '%' ESCAPE '\\'`, query.name.replace(/[\\%_]/g, (character) => `\\${character}`));
    if (query.dateOfBirth) where('date_of_birth = ?::date', query.dateOfBirth);
    parameters.push(limit);
    const patients: Record<string, unknown>[] = await this.dataSource.query(
      `SELECT id, display_name, nhs_number, to_char(date_of_birth, 'YYYY-MM-DD') AS date_of_birth, activated_at, deactivated_at
         FROM users WHERE ${conditions.join(' AND ')} ORDER BY lower(display_name), id LIMIT $${parameters.length}`,
      parameters,
    );
    if (patients.length === 0) return [];
    const conversations: Record<string, unknown>[] = await this.dataSource.query(
      `SELECT * FROM (
         SELECT id, patient_id, topic, status, assigned_clinician_id, outcome, last_seq, created_at,
                row_number() OVER (PARTITION BY patient_id ORDER BY created_at DESC, id) AS n
           FROM conversations WHERE practice_id = $1 AND patient_id = ANY($2::uuid[])) ranked
        WHERE n <= $3 ORDER BY created_at DESC, id`,
      [practiceId, patients.map((row) => row['id']), perPatient],
    );
    const byPatient = new Map<string, PatientConversation[]>();
    for (const row of conversations) {
      const list = byPatient.get(row['patient_id'] as string) ?? [];
      list.push({
        id: row['id'] as string,
        topic: row['topic'] as string,
        status: row['status'] as ConversationStatus,
        assignedClinicianId: (row['assigned_clinician_id'] as string | null) ?? null,
        outcome: (row['outcome'] as string | null) ?? null,
        lastSeq: Number(row['last_seq']),
        createdAt: (row['created_at'] as Date).toISOString(),
      });
      byPatient.set(row['patient_id'] as string, list);
    }
    return patients.map((row) => ({
      userId: row['id'] as string,
      displayName: row['display_name'] as string,
      nhsNumber: row['nhs_number'] as string,
      dateOfBirth: row['date_of_birth'] as string,
      isActivated: row['activated_at'] !== null,
      deactivatedAt: row['deactivated_at'] ? (row['deactivated_at'] as Date).toISOString() : null,
      conversations: byPatient.get(row['id'] as string) ?? [],
    }));
  }
}
