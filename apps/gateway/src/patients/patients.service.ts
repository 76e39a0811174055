import { Injectable } from '@nestjs/common';
import { MAX_PATIENT_CONVERSATIONS, MAX_PATIENT_RESULTS, type PatientSearchQuery, type PatientSearchResult } from '@parley/protocol';
import { AuditService } from '../audit/audit.service.js';
import { isStaff, type Actor } from '../common/actor.js';
import { DomainError } from '../common/domain-error.js';
import { PatientsRepository } from './patients.repository.js';

/** Staff find a patient of their practice and the patient's past conversations (metadata only; reading one is `conversation:join`, audited there). */
@Injectable()
export class PatientsService {
  constructor(
    private readonly patients: PatientsRepository,
    private readonly audit: AuditService,
  ) {}

  /**
   * Patients of the caller's practice matching every criterion given. Audited `patient.searched` with
   * which criteria were used and how many matched — never the values searched for.
   * @throws DomainError `forbidden` (patients)
   */
  async search(actor: Actor, query: PatientSearchQuery): Promise<PatientSearchResult> {
    if (!isStaff(actor)) throw new DomainError('forbidden');
    const found = await this.patients.search(actor.practiceId, query, MAX_PATIENT_RESULTS + 1, MAX_PATIENT_CONVERSATIONS);
    const patients = found.slice(0, MAX_PATIENT_RESULTS);
    const criteria = (['nhsNumber', 'name', 'dateOfBirth'] as const).filter((field) => query[field] !== undefined);
    await this.audit.record(actor, 'patient.searched', {
      ...(patients.length === 1 && { subjectUserId: patients[0]!.userId }),
      data: { criteria, results: patients.length },
    });
    return { patients, isTruncated: found.length > MAX_PATIENT_RESULTS };
  }
}
