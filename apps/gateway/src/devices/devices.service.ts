import { Injectable, Logger } from '@nestjs/common';
import type { CertifiedStaff, DeviceInfo, Role } from '@parley/protocol';
import { AuditService } from '../audit/audit.service.js';
import { isStaff, type Actor } from '../common/actor.js';
import { DomainError } from '../common/domain-error.js';
import { requireRole } from '../common/require-role.js';
import { rooms } from '../common/rooms.js';
import { DevicesRepository } from './devices.repository.js';
import { SessionEventsGateway } from '../sessions/session-events.gateway.js';

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
   * Records a device's certificate. A patient certifies their own devices with their account key, once.
   * A manager admits a device of their practice's staff with a root key certificate that names the
   * person as registered (`certifiedAs`); it may be replaced, e.g. after a rename.
   * @throws DomainError `not_found` (no such device in the caller's practice), `forbidden`, `invalid_payload` (`certifiedAs` missing for staff, present for patients, or not the person as registered), `conflict` (revoked, or a patient device already certified)
   */
  async certify(actor: Actor, deviceId: string, certificate: Buffer, certifiedAs: CertifiedStaff | undefined): Promise<void> {
    const device = await this.devices.findInPractice(actor.practiceId, deviceId);
    const isOwn = device?.userId === actor.userId;
    const isManager = actor.roles.includes('manager');
    // Other users' devices are invisible except to a manager, so their ids reveal nothing.
    if (!device || (!isOwn && !isManager)) throw new DomainError('not_found');
    const isOwnerStaff = isStaff({ roles: device.ownerRoles });
    const mayCertify = isOwnerStaff ? isManager : isOwn;
    if (!mayCertify) throw new DomainError('forbidden');
    if (isOwnerStaff) {
      if (!certifiedAs) throw new DomainError('invalid_payload', 'certifiedAs: a staff device certificate names the person and their roles.');
      // Clients show a staff sender by what the root signed, so it must be what the practice registered.
      if (certifiedAs.displayName !== device.ownerDisplayName || !isSameSet(certifiedAs.roles, device.ownerRoles)) {
        throw new DomainError('invalid_payload', 'certifiedAs: the certificate must name the person as registered.');
      }
      if (device.isRevoked || !(await this.devices.certifyStaffDevice(deviceId, certificate, certifiedAs))) {
        throw new DomainError('conflict', 'That device is revoked.');
      }
    } else {
      if (certifiedAs) throw new DomainError('invalid_payload', 'certifiedAs: only staff device certificates name a person.');
      if (device.isRevoked || device.hasCertificate || !(await this.devices.certifyPatientDevice(deviceId, certificate))) {
        throw new DomainError('conflict', 'That device is revoked or already certified.');
      }
    }
    this.logger.log({ userId: actor.userId, deviceId }, 'device certified');
    // A staff device admitted by a manager (root-signed, naming the person), or a patient's new device certified by their account key.
    await this.audit.record(actor, 'device.certified', {
      ...(isOwnerStaff ? {} : { subjectUserId: device.userId }),
      data: { deviceId, ownerUserId: device.userId, ...(certifiedAs ? { roles: certifiedAs.roles } : {}) },
    });
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

function isSameSet(a: readonly string[], b: readonly string[]): boolean {
  const left = new Set(a);
  const right = new Set(b);
  return left.size === right.size && [...left].every((item) => right.has(item));
}
