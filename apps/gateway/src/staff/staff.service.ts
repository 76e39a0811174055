import { Injectable, Logger } from '@nestjs/common';
import type { OffboardingProgress, OffboardResult, StaffMember } from '@parley/protocol';
import { AuditService } from '../audit/audit.service.js';
import { DevicesService } from '../devices/devices.service.js';
import type { Actor } from '../common/actor.js';
import { DomainError } from '../common/domain-error.js';
import { requireRole } from '../common/require-role.js';
import { CapacityService } from '../capacity/capacity.service.js';
import { StaffRepository } from './staff.repository.js';

/** Staff management for managers: the listing, a colleague's device revoked, and offboarding. */
@Injectable()
export class StaffService {
  private readonly logger = new Logger(StaffService.name);

  constructor(
    private readonly staff: StaffRepository,
    private readonly devices: DevicesService,
    private readonly queue: CapacityService,
    private readonly audit: AuditService,
  ) {}

  /** The practice's staff with roles, availability, caps, and devices (keys, certificate, granted record key versions). @throws DomainError `forbidden` */
  async list(actor: Actor): Promise<StaffMember[]> {
    requireRole(actor, 'manager');
    return this.staff.list(actor.practiceId);
  }

  /** Revokes a colleague's device and closes its sockets at once. @throws DomainError `forbidden`, `not_found` */
  revokeDevice(actor: Actor, userId: string, deviceId: string): Promise<void> {
    return this.devices.revokeStaffDevice(actor, userId, deviceId);
  }

  /**
   * Offboards a member of staff: the account is deactivated (no sign-in, no socket), every session and
   * device ends, their record key grants are revoked, and their conversations go back to the head of
   * the queue. The practice should then rotate its record key (`rotateRecordKey` in @parley/sdk, run
   * in a manager's browser). Audited `staff.offboarded`.
   * @throws DomainError `forbidden` (not a manager), `not_found` (no such member of staff here), `conflict` (oneself, or already offboarded)
   */
  async offboard(actor: Actor, userId: string): Promise<OffboardResult> {
    requireRole(actor, 'manager');
    if (userId === actor.userId) throw new DomainError('conflict', 'You cannot offboard yourself: ask another manager.');
    const member = await this.devices.staffMember(actor.practiceId, userId);
    if (!member) throw new DomainError('not_found');
    const ended = member.isActive ? await this.devices.offboard(actor.practiceId, userId) : null;
    if (!ended) throw new DomainError('conflict', 'That account is already offboarded.');
    const conversationsHandedBack = member.roles.includes('clinician') ? await this.queue.releaseClinician(actor.practiceId, userId) : 0;
    const result: OffboardResult = { userId, ...ended, conversationsHandedBack };
    this.logger.log({ userId: actor.userId, staffUserId: userId, ...ended, conversationsHandedBack }, 'member of staff offboarded');
    await this.audit.record(actor, 'staff.offboarded', {
      data: {
        staffUserId: userId,
        devicesRevoked: ended.devicesRevoked,
        grantsRevoked: ended.grantsRevoked,
        sessionsEnded: ended.sessionsEnded,
        conversationsHandedBack,
      },
    });
    return result;
  }

  /**
   * What is left of an offboarding for the manager's client to do: rotate the record key, then start a new
   * epoch in each listed conversation (docs/crypto.md, "Leavers"). @throws DomainError `forbidden`, `not_found`
   */
  async offboardingProgress(actor: Actor, userId: string): Promise<OffboardingProgress> {
    requireRole(actor, 'manager');
    const progress = await this.staff.offboardingProgress(actor.practiceId, userId, MAX_LISTED_CONVERSATIONS);
    if (!progress) throw new DomainError('not_found');
    return progress;
  }
}

/** Conversations listed per progress answer: the manager's client renews them and asks again. */
const MAX_LISTED_CONVERSATIONS = 500;
