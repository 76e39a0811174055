import { Injectable, Logger } from '@nestjs/common';
import type { CodeIssued, CreateInvitationRequest, CreateStaffRequest, InvitationCreated } from '@parley/protocol';
import { randomUUID } from 'node:crypto';
import { AuditService } from '../audit/audit.service.js';
import type { Actor } from '../common/actor.js';
import { DomainError } from '../common/domain-error.js';
import { requireRole } from '../common/require-role.js';
import { isUniqueViolation } from '../database/sql.js';
import { InvitationsRepository, type NewAccount } from './invitations.repository.js';
import { hashInvitationCode, newInvitationCode } from './invitation-code.js';

/** How long a patient's invitation can be used: long enough for a letter to arrive. */
export const INVITATION_DAYS = 30;
/** How long a staff set-up code can be used: it is handed over in person. */
export const STAFF_CODE_DAYS = 7;
/** Room for the inviting browser's clock running ahead of ours when it signs an expiry INVITATION_DAYS ahead. */
const EXPIRY_SLACK_MS = 3600 * 1000;
const DAY_MS = 24 * 3600 * 1000;

/** New accounts: patients invited by staff (with an invitation their client made), staff created by a manager with a set-up code. */
@Injectable()
export class InvitationsService {
  private readonly logger = new Logger(InvitationsService.name);

  constructor(
    private readonly accounts: InvitationsRepository,
    private readonly audit: AuditService,
  ) {}

  /**
   * Creates a patient account in the caller's practice with the invitation the caller's staff client made
   * and signed: the server stores the lookup id, the invitation key and both signatures, never the code.
   * The caller's device must be admitted (its staff certificate is the start of the patient's chain).
   * @throws DomainError `forbidden` (patients, or a device not admitted by a manager), `invalid_payload` (expiry in the past or too far ahead), `conflict` (that user id, NHS number or invitation exists already)
   */
  async invitePatient(actor: Actor, request: CreateInvitationRequest): Promise<InvitationCreated> {
    requireRole(actor, 'clinician', 'manager');
    if (!(await this.accounts.isAdmittedStaffDevice(actor.deviceId))) {
      throw new DomainError('forbidden', 'This device must be admitted by a manager before it can invite patients.');
    }
    const now = Date.now();
    if (request.expiresAt <= now || request.expiresAt > now + INVITATION_DAYS * DAY_MS + EXPIRY_SLACK_MS) {
      throw new DomainError('invalid_payload', `expiresAt: an invitation expires in the future and at most ${INVITATION_DAYS} days ahead.`);
    }
    const userId = request.userId.toLowerCase();
    await this.create(actor, {
      userId,
      roles: ['patient'],
      displayName: request.displayName,
      email: null,
      nhsNumber: request.nhsNumber,
      dateOfBirth: request.dateOfBirth,
      credential: {
        lookupId: Buffer.from(request.lookupId, 'base64'),
        invitationSignPublicKey: Buffer.from(request.invitationSignPublicKey, 'base64'),
        invitationSignature: Buffer.from(request.invitationSignature, 'base64'),
        rootSignature: Buffer.from(request.rootSignature, 'base64'),
        creatorDeviceId: actor.deviceId,
      },
      expiresAt: new Date(request.expiresAt),
    });
    this.logger.log({ userId: actor.userId, deviceId: actor.deviceId, newUserId: userId }, 'patient invited');
    await this.audit.record(actor, 'invitation.created', { subjectUserId: userId });
    return { userId, expiresAt: new Date(request.expiresAt).toISOString() };
  }

  /**
   * Creates a staff account in the caller's practice and its set-up code (shown once).
   * @throws DomainError `forbidden` (not a manager), `conflict` (that e-mail is already registered here)
   */
  async createStaff(actor: Actor, request: CreateStaffRequest): Promise<CodeIssued> {
    requireRole(actor, 'manager');
    const code = newInvitationCode();
    const userId = randomUUID();
    const roles = [...new Set(request.roles)];
    const expiresAt = new Date(Date.now() + STAFF_CODE_DAYS * DAY_MS);
    await this.create(actor, {
      userId,
      roles,
      displayName: request.displayName,
      email: request.email.toLowerCase(),
      nhsNumber: null,
      dateOfBirth: null,
      credential: { codeHash: hashInvitationCode(code) },
      expiresAt,
    });
    this.logger.log({ userId: actor.userId, newUserId: userId, roles }, 'staff account created with a set-up code');
    await this.audit.record(actor, 'staff.created', { data: { staffUserId: userId, roles } });
    return { userId, code, expiresAt: expiresAt.toISOString() };
  }

  private async create(actor: Actor, account: Omit<NewAccount, 'practiceId' | 'invitationId' | 'createdBy'>): Promise<void> {
    await this.accounts
      .createAccount({ ...account, practiceId: actor.practiceId, invitationId: randomUUID(), createdBy: actor.userId })
      .catch((error: unknown) => {
        if (isUniqueViolation(error))
          throw new DomainError(
            'conflict',
            'Someone with that NHS number or e-mail is already registered at this practice, or that invitation exists already.',
          );
        throw error;
      });
  }
}
