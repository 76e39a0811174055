import { Injectable, Logger } from '@nestjs/common';
import type { AddRecordKeyGrantRequest, AddRecordKeyRequest, PracticeKeys } from '@parley/protocol';
import { randomUUID } from 'node:crypto';
import { AuditService } from '../audit/audit.service.js';
import { DevicesService } from '../devices/devices.service.js';
import type { Actor } from '../common/actor.js';
import { DomainError } from '../common/domain-error.js';
import { requireRole } from '../common/require-role.js';
import { PracticeKeysRepository } from './practice-keys.repository.js';

/**
 * The practice's public keys: the root key clients pin, the record key versions it certifies, and
 * the grants that seal each version's seed to a staff device. The server stores what managers' clients
 * signed; it cannot check the signatures (clients do), only who may store what.
 */
@Injectable()
export class PracticeKeysService {
  private readonly logger = new Logger(PracticeKeysService.name);

  constructor(
    private readonly keys: PracticeKeysRepository,
    private readonly devices: DevicesService,
    private readonly audit: AuditService,
  ) {}

  /**
   * Pins the practice root key (a manager, once).
   * @throws DomainError `forbidden`, `conflict` (already set)
   */
  async setRootKey(actor: Actor, rootSignPublicKey: Buffer): Promise<void> {
    requireRole(actor, 'manager');
    if (!(await this.keys.setRootKey(actor.practiceId, rootSignPublicKey))) throw new DomainError('conflict', 'The practice root key is already set.');
    this.logger.log({ userId: actor.userId, practiceId: actor.practiceId }, 'practice root key set');
    await this.audit.record(actor, 'root-key.set', {});
  }

  /**
   * Adds the next record key version with its root-key certificate and the root's statement that it is current (a manager); audited `record-key.added`.
   * @throws DomainError `forbidden`, `conflict` (no root key yet, or not the next version)
   */
  async addRecordKey(actor: Actor, request: AddRecordKeyRequest): Promise<void> {
    requireRole(actor, 'manager');
    const refusal = await this.keys.addRecordKey({
      practiceId: actor.practiceId,
      version: request.version,
      boxPublicKey: Buffer.from(request.boxPublicKey, 'base64'),
      validFrom: request.validFrom,
      certificate: Buffer.from(request.certificate, 'base64'),
      current: { issuedAt: request.current.issuedAt, signature: Buffer.from(request.current.signature, 'base64') },
    });
    if (refusal === 'no_root_key') throw new DomainError('conflict', 'Set the practice root key first.');
    if (refusal) throw new DomainError('conflict', 'That is not the next record key version.');
    this.logger.log({ userId: actor.userId, practiceId: actor.practiceId, version: request.version }, 'record key added');
    await this.audit.record(actor, 'record-key.added', { data: { version: request.version } });
  }

  /**
   * Stores a record key version sealed to an active staff device of the practice (a manager).
   * @throws DomainError `forbidden`, `not_found` (no such staff device or version here), `conflict` (already granted)
   */
  async addGrant(actor: Actor, request: AddRecordKeyGrantRequest): Promise<void> {
    requireRole(actor, 'manager');
    if (!(await this.devices.isActiveStaffDevice(actor.practiceId, request.deviceId))) throw new DomainError('not_found');
    const refusal = await this.keys.addGrant({
      id: randomUUID(),
      practiceId: actor.practiceId,
      version: request.version,
      deviceId: request.deviceId,
      sealedSeed: Buffer.from(request.sealedSeed, 'base64'),
      signature: Buffer.from(request.signature, 'base64'),
      grantedByDeviceId: actor.deviceId,
    });
    if (refusal === 'no_such_version') throw new DomainError('not_found');
    if (refusal) throw new DomainError('conflict', 'That device already holds this record key version.');
    this.logger.log({ userId: actor.userId, deviceId: request.deviceId, version: request.version }, 'record key granted');
    await this.audit.record(actor, 'record-key.granted', { data: { deviceId: request.deviceId, version: request.version } });
  }

  /** The caller's practice's keys, with only the grants sealed to the caller's own device. @throws DomainError `not_found` */
  async keysFor(actor: Actor): Promise<PracticeKeys> {
    const keys = await this.keys.keysFor(actor.practiceId, actor.deviceId);
    if (!keys) throw new DomainError('not_found');
    return keys;
  }
}
