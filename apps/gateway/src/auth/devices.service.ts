import { Injectable, Logger } from '@nestjs/common';
import type { DeviceInfo, Role } from '@parley/protocol';
import { AuditService } from '../audit/audit.service.js';
import { isStaff, type Actor } from '../common/actor.js';
import { DomainError } from '../common/domain-error.js';
import { requireRole } from '../common/require-role.js';
import { rooms } from '../common/rooms.js';
import { DevicesRepository } from './devices.repository.js';
import { SessionEventsGateway } from './session-events.gateway.js';

/** A user's devices: listing, revoking, and recording their certificates. */
@Injectable()
export class DevicesService {
  private readonly logger = new Logger(DevicesService.name);

  constructor(
    private readonly devices: DevicesRepository,
    private readonly events: SessionEventsGateway,
    private readonly audit: AuditService,
  ) {}

  /** The caller's own devices, revoked ones included, oldest first. */
  list(actor: Actor): Promise<DeviceInfo[]> {
    return this.devices.listOfUser(actor.userId);
  }

  /**
   * Revokes one of the caller's devices (the current one too): its sessions end, its sockets close at
   * once, and the record key grants sealed to it are revoked. Revoking a revoked device changes nothing.
   * @throws DomainError `not_found`
   */
  async revoke(actor: Actor, deviceId: string): Promise<void> {
    const isOwn = await this.devices.revokeOfUser(actor.userId, deviceId);
    if (!isOwn) throw new DomainError('not_found');
    this.events.ended(rooms.device(deviceId), 'device_revoked');
    this.logger.log({ userId: actor.userId, deviceId }, 'device revoked');
    await this.audit.record(actor, 'device.revoked', { data: { deviceId } });
  }

  /**
   * Records a device's certificate, once. A patient certifies their own devices (signed with their
   * account key); a manager certifies the devices of their practice's staff (signed with a root-certified key).
   * @throws DomainError `not_found` (no such device in the caller's practice), `forbidden`, `conflict` (already certified or revoked)
   */
  async certify(actor: Actor, deviceId: string, certificate: Buffer): Promise<void> {
    const device = await this.devices.findInPractice(actor.practiceId, deviceId);
    const isOwn = device?.userId === actor.userId;
    const isManager = actor.roles.includes('manager');
    // Other users' devices are invisible except to a manager, so their ids reveal nothing.
    if (!device || (!isOwn && !isManager)) throw new DomainError('not_found');
    const isOwnerStaff = isStaff({ roles: device.ownerRoles });
    const mayCertify = isOwnerStaff ? isManager : isOwn;
    if (!mayCertify) throw new DomainError('forbidden');
    if (device.isRevoked || device.hasCertificate) throw new DomainError('conflict', 'That device is revoked or already certified.');
    if (!(await this.devices.certify(deviceId, certificate))) throw new DomainError('conflict', 'That device is revoked or already certified.');
    this.logger.log({ userId: actor.userId, deviceId }, 'device certified');
  }

  /**
   * A manager revokes a device of a colleague (or their own) at their practice: as `revoke`, its
   * sessions end, its sockets close at once and its record key grants are revoked. Idempotent.
   * @throws DomainError `forbidden` (not a manager), `not_found` (not a staff device of that user at the practice)
   */
  async revokeStaffDevice(actor: Actor, userId: string, deviceId: string): Promise<void> {
    requireRole(actor, 'manager');
    if (!(await this.devices.staffMember(actor.practiceId, userId))) throw new DomainError('not_found');
    if (!(await this.devices.revokeOfUser(userId, deviceId))) throw new DomainError('not_found');
    this.events.ended(rooms.device(deviceId), 'device_revoked');
    this.logger.log({ userId: actor.userId, ownerUserId: userId, deviceId }, 'staff device revoked by a manager');
    await this.audit.record(actor, 'device.revoked', { data: { deviceId, ownerUserId: userId } });
  }

  /**
   * Ends a member of staff's access at once: deactivates the account, ends every session and closes
   * every socket, revokes every device and its record key grants. The caller (the staff feature)
   * hands their conversations back and audits. Null when they are not an active member of staff here.
   */
  async offboard(practiceId: string, userId: string): Promise<{ devicesRevoked: number; grantsRevoked: number; sessionsEnded: number } | null> {
    const ended = await this.devices.offboard(practiceId, userId);
    if (ended) this.events.ended(rooms.user(userId), 'revoked');
    return ended;
  }

  /** A member of staff of this practice (active or not), or null for any other id. */
  staffMember(practiceId: string, userId: string): Promise<{ isActive: boolean; roles: Role[] } | null> {
    return this.devices.staffMember(practiceId, userId);
  }

  /** Whether a device is active and belongs to an active member of staff of this practice (record key grants go only to those). */
  isActiveStaffDevice(practiceId: string, deviceId: string): Promise<boolean> {
    return this.devices.isActiveStaffDevice(practiceId, deviceId);
  }
}
