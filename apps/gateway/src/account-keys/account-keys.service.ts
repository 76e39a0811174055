import { Injectable, Logger } from '@nestjs/common';
import type { AccountEnrolment, KeyBackup, PatientAccountKey } from '@parley/protocol';
import { AuditService } from '../audit/audit.service.js';
import type { Actor } from '../common/actor.js';
import { DomainError } from '../common/domain-error.js';
import { requireRole } from '../common/require-role.js';
import { AccountKeysRepository } from './account-keys.repository.js';
import { DevicesService } from '../devices/devices.service.js';
import { RateLimitService } from '../rate-limits/rate-limit.service.js';

/** A patient's account key: its chain to the practice root, the practice's certificate over it, and its passphrase-encrypted backup. */
@Injectable()
export class AccountKeysService {
  private readonly logger = new Logger(AccountKeysService.name);

  constructor(
    private readonly accounts: AccountKeysRepository,
    private readonly rateLimit: RateLimitService,
    private readonly audit: AuditService,
    private readonly devices: DevicesService,
  ) {}

  /** A patient's active account key with its chain to the practice root (for the members of their conversations); null when they have none. */
  patientAccountKey(patientId: string): Promise<PatientAccountKey | null> {
    return this.accounts.findPatientAccountKey(patientId);
  }

  /** The practice's pinned root signing key (raw 32 bytes); null before the key ceremony. */
  practiceRootKey(practiceId: string): Promise<Buffer | null> {
    return this.accounts.practiceRootKey(practiceId);
  }

  /**
   * What the caller's new device needs besides the backup: their account key's chain, all their devices
   * (revoked ones too) and every envelope sealed to their account keys, whose key ids the client matches.
   * @throws DomainError `forbidden` (staff), `not_found` (no account key)
   */
  async accountEnrolment(actor: Actor): Promise<AccountEnrolment> {
    requireRole(actor, 'patient');
    const [account, devices, envelopes, resealers] = await Promise.all([
      this.accounts.findPatientAccountKey(actor.userId),
      this.devices.list(actor),
      this.accounts.envelopesSealedToAccount(actor.userId),
      this.accounts.resealersOf(actor.userId),
    ]);
    if (!account) throw new DomainError('not_found');
    this.logger.log({ userId: actor.userId, deviceId: actor.deviceId, envelopes: envelopes.length }, 'account enrolment read');
    return { account, devices, envelopes, resealers };
  }

  /**
   * Records the practice's signature over a patient's current account key, once (a manager, after verifying who the patient is).
   * @throws DomainError `forbidden` (not a manager), `not_found` (no such patient key in the practice), `conflict` (already certified)
   */
  async certify(actor: Actor, patientId: string, certificate: Buffer): Promise<void> {
    requireRole(actor, 'manager');
    const accountKey = await this.accounts.findActiveAccountKey(actor.practiceId, patientId);
    if (!accountKey) throw new DomainError('not_found');
    if (accountKey.certificate || !(await this.accounts.certifyAccountKey(accountKey.id, certificate, actor.userId))) {
      throw new DomainError('conflict', 'That account key is already certified.');
    }
    this.logger.log({ userId: actor.userId, patientId, accountKeyId: accountKey.id }, 'account key certified');
    await this.audit.record(actor, 'account-key.certified', { subjectUserId: patientId, data: { accountKeyId: accountKey.id } });
  }

  /**
   * The caller's backup blob and its KDF parameters. Downloads are limited per hour and logged, since
   * the blob lets its holder guess the passphrase offline.
   * @throws DomainError `forbidden` (staff have no backup), `not_found`, `rate_limited`
   */
  async backup(actor: Actor): Promise<KeyBackup> {
    requireRole(actor, 'patient');
    await this.rateLimit.countBackupDownload(actor.userId);
    const backup = await this.accounts.findBackup(actor.userId);
    if (!backup) throw new DomainError('not_found');
    this.logger.log({ userId: actor.userId, deviceId: actor.deviceId, sessionId: actor.sessionId }, 'key backup downloaded');
    // The blob lets its holder guess the passphrase offline, so who fetched it is kept for good.
    await this.audit.record(actor, 'key-backup.downloaded', { subjectUserId: actor.userId });
    return {
      backup: backup.blob.toString('base64'),
      kdf: { salt: backup.kdf.salt.toString('base64'), opsLimit: backup.kdf.opsLimit, memLimitBytes: backup.kdf.memLimitBytes },
    };
  }

  /**
   * Replaces the caller's backup blob (a re-sealed account key, e.g. after a passphrase change).
   * @throws DomainError `forbidden` (staff), `not_found`
   */
  async replaceBackup(actor: Actor, backup: KeyBackup): Promise<void> {
    requireRole(actor, 'patient');
    const kdf = { salt: Buffer.from(backup.kdf.salt, 'base64'), opsLimit: backup.kdf.opsLimit, memLimitBytes: backup.kdf.memLimitBytes };
    if (!(await this.accounts.replaceBackup(actor.userId, Buffer.from(backup.backup, 'base64'), kdf))) throw new DomainError('not_found');
    this.logger.log({ userId: actor.userId, deviceId: actor.deviceId }, 'key backup replaced');
    // A new backup is a new offline-guessable copy of the account key: who replaced it is kept for good, as downloads are.
    await this.audit.record(actor, 'key-backup.replaced', { subjectUserId: actor.userId });
  }
}
