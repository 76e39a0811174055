import { Injectable, Logger } from '@nestjs/common';
import {
  ALREADY_APPROVED,
  RECOVERY_DAYS,
  SECOND_APPROVAL_NEEDED,
  type ApproveRecoveryRequest,
  type CompleteRecoveryRequest,
  type RecoveryDetails,
  type RecoveryHistory,
  type RecoveryLookupRequest,
  type RecoverySummary,
  type StartRecoveryRequest,
  type SubmitRecoveryRequest,
} from '@parley/protocol';
import { isAccountKeyCertificateValid, isRecoveryAccountSignatureValid } from '../account-keys/account-signature.js';
import { AccountKeysService } from '../account-keys/account-keys.service.js';
import { AuditService } from '../audit/audit.service.js';
import type { Actor } from '../common/actor.js';
import { DomainError } from '../common/domain-error.js';
import { requireRole } from '../common/require-role.js';
import { rooms } from '../common/rooms.js';
import { isUniqueViolation } from '../database/sql.js';
import { RateLimitService } from '../rate-limits/rate-limit.service.js';
import { SessionEventsGateway } from '../sessions/session-events.gateway.js';
import { AuthKeyHasher } from '../sign-in/auth-key-hasher.js';
import { RecoveryRepository, type OpenRecovery } from './recovery.repository.js';

/** Wrong dates of birth a recovery survives, in total, as an invitation does: the tenth voids it. */
export const RECOVERY_MAX_FAILED_ATTEMPTS = 10;
const DAY_MS = 24 * 3600 * 1000;
/** Room for the starting browser's clock running ahead of ours. */
const EXPIRY_SLACK_MS = 3600 * 1000;
// One message for every refusal of the patient's side, so a caller cannot tell which check failed.
const RECOVERY_REFUSED = 'That code and date of birth do not match a recovery, or the code has expired or been used.';

/**
 * Practice-assisted recovery after a forgotten passphrase (flow B, docs/crypto.md): staff start it, the patient's
 * new device sends a new account key signed with the code's key, two members of staff (two accounts) approve, and
 * a manager's client completes it with the root's certificate and the re-sealed epoch keys. The server checks the
 * signatures it can (node:crypto) so nothing unverifiable is stored; clients check everything themselves.
 */
@Injectable()
export class RecoveryService {
  private readonly logger = new Logger(RecoveryService.name);

  constructor(
    private readonly recoveries: RecoveryRepository,
    private readonly accountKeys: AccountKeysService,
    private readonly hasher: AuthKeyHasher,
    private readonly rateLimit: RateLimitService,
    private readonly audit: AuditService,
    private readonly events: SessionEventsGateway,
  ) {}

  /**
   * Starts a recovery for a patient of the caller's practice, with the code the caller's browser made (after checking
   * the patient's identity): the server keeps the lookup id, the recovery key and the signatures, never the code.
   * @throws DomainError `forbidden` (patients, or a device not admitted), `not_found` (no such patient with an account key), `invalid_payload` (expiry), `conflict` (a recovery is open for the patient already)
   */
  async start(actor: Actor, request: StartRecoveryRequest): Promise<RecoverySummary> {
    requireRole(actor, 'clinician', 'manager');
    if (!(await this.recoveries.isAdmittedStaffDevice(actor.deviceId))) {
      throw new DomainError('forbidden', 'This device must be admitted by a manager before it can start a recovery.');
    }
    const now = Date.now();
    if (request.expiresAt <= now || request.expiresAt > now + RECOVERY_DAYS * DAY_MS + EXPIRY_SLACK_MS) {
      throw new DomainError('invalid_payload', `expiresAt: a recovery expires in the future and at most ${RECOVERY_DAYS} days ahead.`);
    }
    const patientId = request.patientId.toLowerCase();
    if (!(await this.recoveries.isRecoverablePatient(actor.practiceId, patientId))) throw new DomainError('not_found');
    const recoveryId = request.recoveryId.toLowerCase();
    await this.recoveries
      .start({
        id: recoveryId,
        practiceId: actor.practiceId,
        patientId,
        lookupId: Buffer.from(request.lookupId, 'base64'),
        recoverySignPublicKey: Buffer.from(request.recoverySignPublicKey, 'base64'),
        recoverySignature: Buffer.from(request.recoverySignature, 'base64'),
        rootSignature: Buffer.from(request.rootSignature, 'base64'),
        creatorDeviceId: actor.deviceId,
        startedBy: actor.userId,
        expiresAt: new Date(request.expiresAt),
      })
      .catch((error: unknown) => {
        if (isUniqueViolation(error)) throw new DomainError('conflict', 'A recovery is already open for this patient, or that recovery exists already.');
        throw error;
      });
    this.logger.log({ userId: actor.userId, recoveryId, patientId }, 'recovery started');
    await this.audit.record(actor, 'recovery.started', { subjectUserId: patientId, data: { recoveryId } });
    return this.summary(actor, recoveryId);
  }

  /**
   * The recovery a code's lookup id finds, with the date of birth: whose account it recovers and the chain the
   * patient's client checks against its code. Rate-limited like invitation lookups; a wrong date of birth counts.
   * @throws DomainError `unauthorized` (no such open recovery, wrong date of birth), `forbidden` (voided), `rate_limited`
   */
  async lookUp(request: RecoveryLookupRequest, ip: string | undefined): Promise<RecoveryDetails> {
    const recovery = await this.findForPatient(request, ip);
    if (recovery.state !== 'started') throw new DomainError('unauthorized', RECOVERY_REFUSED);
    const summary = await this.recoveries.find(recovery.practiceId, recovery.id);
    if (!summary) throw new DomainError('unauthorized', RECOVERY_REFUSED);
    const { practice } = recovery;
    return {
      recoveryId: recovery.id,
      userId: recovery.patientId,
      displayName: summary.patientName,
      practice: { id: practice.id, odsCode: practice.odsCode, name: practice.name, rootSignPublicKey: practice.rootSignPublicKey?.toString('base64') ?? null },
      chain: summary.chain,
    };
  }

  /**
   * Stores the patient's new account key (signed by the recovery key, checked here), the new passphrase's auth key
   * hash and salt and the new backup. Nothing changes for the account until the recovery is approved and completed.
   * @throws DomainError `unauthorized` (no such recovery, wrong date of birth, a signature the recovery key did not make, submitted already), `forbidden` (voided), `rate_limited`
   */
  async submit(request: SubmitRecoveryRequest, ip: string | undefined): Promise<{ recoveryId: string }> {
    const recovery = await this.findForPatient(request, ip);
    const signPublicKey = Buffer.from(request.account.keys.signPublicKey, 'base64');
    const boxPublicKey = Buffer.from(request.account.keys.boxPublicKey, 'base64');
    const accountSignature = Buffer.from(request.account.accountSignature, 'base64');
    const isSigned = isRecoveryAccountSignatureValid(
      { practiceOdsCode: recovery.practice.odsCode, patientId: recovery.patientId, signPublicKey, boxPublicKey },
      accountSignature,
      recovery.recoverySignPublicKey,
    );
    if (!isSigned || recovery.state !== 'started') throw new DomainError('unauthorized', RECOVERY_REFUSED);
    const authKeyHash = await this.hasher.hash(Buffer.from(request.authKey, 'base64'));
    const isSubmitted = await this.recoveries.submit(recovery.id, {
      signPublicKey,
      boxPublicKey,
      accountSignature,
      authKeyHash,
      kdf: { salt: Buffer.from(request.kdf.salt, 'base64'), opsLimit: request.kdf.opsLimit, memLimitBytes: request.kdf.memLimitBytes },
      backup: Buffer.from(request.account.backup, 'base64'),
    });
    if (!isSubmitted) throw new DomainError('unauthorized', RECOVERY_REFUSED);
    this.logger.log({ recoveryId: recovery.id, patientId: recovery.patientId }, 'recovery submitted');
    await this.audit.record({ practiceId: recovery.practiceId, userId: recovery.patientId, deviceId: null }, 'recovery.submitted', {
      subjectUserId: recovery.patientId,
      data: { recoveryId: recovery.id },
    });
    return { recoveryId: recovery.id };
  }

  /**
   * The caller's practice's recoveries, newest first (open ones and those of the last 30 days).
   * @throws DomainError `forbidden` (patients)
   */
  list(actor: Actor): Promise<RecoverySummary[]> {
    requireRole(actor, 'clinician', 'manager');
    return this.recoveries.list(actor.practiceId);
  }

  /**
   * One member of staff's approval of a submitted recovery, for the new account key their client verified. The same
   * account approving twice is refused: two approvals must be two people.
   * @throws DomainError `forbidden` (patients, or a device not admitted), `not_found`, `conflict` (approved already: `details.reason` `already_approved`; not waiting for approvals; another account key)
   */
  async approve(actor: Actor, recoveryId: string, request: ApproveRecoveryRequest): Promise<RecoverySummary> {
    requireRole(actor, 'clinician', 'manager');
    if (!(await this.recoveries.isAdmittedStaffDevice(actor.deviceId))) {
      throw new DomainError('forbidden', 'This device must be admitted by a manager before it can approve a recovery.');
    }
    const before = await this.recoveries.find(actor.practiceId, recoveryId);
    if (!before) throw new DomainError('not_found');
    // The approver's client verified one key; an approval must never count for another.
    if (before.newAccount?.signPublicKey !== request.accountSignPublicKey) {
      throw new DomainError('conflict', 'The recovery is not waiting for approvals, or for another account key.');
    }
    const outcome = await this.recoveries.approve(actor.practiceId, recoveryId, actor.userId, actor.deviceId);
    if (outcome === 'not_found') throw new DomainError('not_found');
    if (outcome === 'not_open') throw new DomainError('conflict', 'The recovery is not waiting for approvals (expired, completed or void).');
    if (outcome === 'duplicate') {
      throw new DomainError('conflict', 'You approved this recovery already: a second member of staff must approve it.', { reason: ALREADY_APPROVED });
    }
    const summary = await this.summary(actor, recoveryId);
    const first = summary.approvals[0];
    const approval = summary.approvals.findIndex((candidate) => candidate.userId === actor.userId) + 1;
    this.logger.log({ userId: actor.userId, recoveryId, approval }, 'recovery approved');
    await this.audit.record(actor, 'recovery.approved', {
      subjectUserId: summary.patientId,
      data: { recoveryId, approval, ...(approval === 2 && first ? { firstApproverUserId: first.userId } : {}) },
    });
    return summary;
  }

  /**
   * What a manager's client re-seals from: the record-key envelopes of the patient's conversations, their creators,
   * and every account key of the patient with its chain.
   * @throws DomainError `forbidden` (not a manager), `not_found`
   */
  async history(actor: Actor, recoveryId: string): Promise<RecoveryHistory> {
    requireRole(actor, 'manager');
    const recovery = await this.recoveries.find(actor.practiceId, recoveryId);
    if (!recovery) throw new DomainError('not_found');
    const [history, account] = await Promise.all([this.recoveries.history(recovery.patientId), this.accountKeys.patientAccountKey(recovery.patientId)]);
    const accountKeys = account ? [...(account.retired ?? []), { ...account, retired: [] }] : [];
    return { ...history, accountKeys };
  }

  /**
   * Completes a recovery two accounts approved: stores the root's certificate over the new account key (checked here
   * against the practice root) and the re-sealed envelopes, swaps in the new credential and backup, revokes the
   * patient's devices and ends their sessions, in one transaction. Audited with both approvers.
   * @throws DomainError `forbidden` (not a manager; fewer than two approvals: `details.reason` `second_approval_needed`), `not_found`, `conflict` (not submitted, expired), `invalid_payload` (a certificate the root did not make, an envelope for an epoch that is not the patient's)
   */
  async complete(actor: Actor, recoveryId: string, request: CompleteRecoveryRequest): Promise<RecoverySummary> {
    requireRole(actor, 'manager');
    const recovery = await this.recoveries.find(actor.practiceId, recoveryId);
    if (!recovery) throw new DomainError('not_found');
    if (recovery.state === 'submitted' && recovery.approvals.length < 2) {
      throw new DomainError('forbidden', 'A second member of staff, signed in as someone else, must approve this recovery first.', {
        reason: SECOND_APPROVAL_NEEDED,
      });
    }
    const root = await this.accountKeys.practiceRootKey(actor.practiceId);
    const certificate = Buffer.from(request.certificate, 'base64');
    const newAccount = recovery.newAccount;
    const isCertified =
      root !== null &&
      newAccount !== null &&
      isAccountKeyCertificateValid(
        {
          patientId: recovery.patientId,
          signPublicKey: Buffer.from(newAccount.signPublicKey, 'base64'),
          boxPublicKey: Buffer.from(newAccount.boxPublicKey, 'base64'),
        },
        certificate,
        root,
      );
    if (newAccount && !isCertified) throw new DomainError('invalid_payload', 'certificate: not the practice root key signature over the new account key.');
    const outcome = await this.recoveries.complete({
      practiceId: actor.practiceId,
      recoveryId,
      completedBy: actor.userId,
      completedByDevice: actor.deviceId,
      certificate,
      envelopes: request.envelopes,
    });
    if (outcome === 'not_found') throw new DomainError('not_found');
    if (outcome === 'second_approval_needed') {
      throw new DomainError('forbidden', 'A second member of staff, signed in as someone else, must approve this recovery first.', {
        reason: SECOND_APPROVAL_NEEDED,
      });
    }
    if (outcome === 'bad_envelope')
      throw new DomainError('invalid_payload', "envelopes: each must be for an epoch of one of this patient's conversations, once.");
    if (outcome === 'not_submitted' || outcome === 'expired')
      throw new DomainError('conflict', 'The recovery is not waiting to be completed (expired, completed or void).');
    // The database's NOTIFY closes the sockets on every node too; this tells this node's at once, with the reason.
    this.events.ended(rooms.user(recovery.patientId), 'keys_changed');
    const [first, second] = outcome.approvals;
    this.logger.log({ userId: actor.userId, recoveryId, patientId: recovery.patientId, devicesRevoked: outcome.devicesRevoked }, 'recovery completed');
    await this.audit.record(actor, 'recovery.completed', {
      subjectUserId: recovery.patientId,
      data: {
        recoveryId,
        firstApproverUserId: first?.userId ?? null,
        secondApproverUserId: second?.userId ?? null,
        accountKeyId: outcome.newAccountKeyId,
        envelopes: outcome.envelopes,
        devicesRevoked: outcome.devicesRevoked,
        sessionsEnded: outcome.sessionsEnded,
      },
    });
    return this.summary(actor, recoveryId);
  }

  /** The unexpired recovery a patient's lookup id and date of birth find, counting the attempt and a wrong date of birth. */
  private async findForPatient(request: { practice: string; lookupId: string; dateOfBirth: string }, ip: string | undefined): Promise<OpenRecovery> {
    const lookupId = Buffer.from(request.lookupId, 'base64');
    const attempt = await this.rateLimit.startCredentialAttempt('code', `${request.practice}:recovery:${lookupId.toString('hex')}`, ip);
    const found = await this.recoveries.tryDateOfBirth(request.practice, lookupId, request.dateOfBirth, RECOVERY_MAX_FAILED_ATTEMPTS);
    if (found?.tried.outcome === 'voided') {
      if (found.tried.isNow) {
        this.logger.warn({ recoveryId: found.recovery.id, failedAttempts: found.tried.failedAttempts }, 'recovery voided: too many wrong dates of birth');
      }
      throw new DomainError('forbidden', 'This recovery code can no longer be used. Ask your practice to start again.', { reason: 'recovery_voided' });
    }
    if (found?.tried.outcome !== 'matched') throw new DomainError('unauthorized', RECOVERY_REFUSED);
    await this.rateLimit.succeeded(attempt);
    return found.recovery;
  }

  private async summary(actor: Actor, recoveryId: string): Promise<RecoverySummary> {
    const summary = await this.recoveries.find(actor.practiceId, recoveryId);
    if (!summary) throw new DomainError('not_found');
    return summary;
  }
}
