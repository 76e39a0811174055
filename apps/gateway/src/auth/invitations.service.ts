import { Injectable, Logger } from '@nestjs/common';
import type { CodeIssued, CreateInvitationRequest, CreateStaffRequest } from '@parley/protocol';
import { randomUUID } from 'node:crypto';
import { AuditService } from '../audit/audit.service.js';
import type { Actor } from '../common/actor.js';
import { DomainError } from '../common/domain-error.js';
import { requireRole } from '../common/require-role.js';
import { isUniqueViolation } from '../common/sql.js';
import { AuthRepository, type NewAccount } from './auth.repository.js';
import { hashInvitationCode, newInvitationCode } from './invitation-code.js';

/** How long a patient's invitation can be used: long enough for a letter to arrive. */
export const INVITATION_DAYS = 30;
/** How long a staff set-up code can be used: it is handed over in person. */
export const STAFF_CODE_DAYS = 7;

/** New accounts: patients invited by staff, staff created by a manager, each with a one-time code. */
@Injectable()
export class InvitationsService {
  private readonly logger = new Logger(InvitationsService.name);

  constructor(
    private readonly accounts: AuthRepository,
    private readonly audit: AuditService,
  ) {}

  /**
   * Creates a patient account in the caller's practice and its activation code (shown once).
   * @throws DomainError `forbidden` (patients), `conflict` (that NHS number is already registered here)
   */
  async invitePatient(actor: Actor, request: CreateInvitationRequest): Promise<CodeIssued> {
    requireRole(actor, 'clinician', 'manager');
    return this.issue(actor, INVITATION_DAYS, {
      roles: ['patient'],
      displayName: request.displayName,
      email: null,
      nhsNumber: request.nhsNumber,
      dateOfBirth: request.dateOfBirth,
    });
  }

  /**
   * Creates a staff account in the caller's practice and its set-up code (shown once).
   * @throws DomainError `forbidden` (not a manager), `conflict` (that e-mail is already registered here)
   */
  async createStaff(actor: Actor, request: CreateStaffRequest): Promise<CodeIssued> {
    requireRole(actor, 'manager');
    return this.issue(actor, STAFF_CODE_DAYS, {
      roles: [...new Set(request.roles)],
      displayName: request.displayName,
      email: request.email.toLowerCase(),
      nhsNumber: null,
      dateOfBirth: null,
    });
  }

  private async issue(
    actor: Actor,
    days: number,
    account: Pick<NewAccount, 'roles' | 'displayName' | 'email' | 'nhsNumber' | 'dateOfBirth'>,
  ): Promise<CodeIssued> {
    const code = newInvitationCode();
    const userId = randomUUID();
    const expiresAt = new Date(Date.now() + days * 24 * 3600 * 1000);
    const { rootSignPublicKey } = await this.accounts
      .createAccount({
        ...account,
        userId,
        practiceId: actor.practiceId,
        invitationId: randomUUID(),
        codeHash: hashInvitationCode(code),
        createdBy: actor.userId,
        expiresAt,
      })
      .catch((error: unknown) => {
        if (isUniqueViolation(error)) throw new DomainError('conflict', 'Someone with that NHS number or e-mail is already registered at this practice.');
        throw error;
      });
    this.logger.log({ userId: actor.userId, newUserId: userId, roles: account.roles }, 'account created with a one-time code');
    if (account.roles.includes('patient')) await this.audit.record(actor, 'invitation.created', { subjectUserId: userId });
    else await this.audit.record(actor, 'staff.created', { data: { staffUserId: userId, roles: account.roles } });
    return { userId, code, expiresAt: expiresAt.toISOString(), practiceRootSignPublicKey: rootSignPublicKey ? rootSignPublicKey.toString('base64') : null };
  }
}
