import { Injectable, Logger } from '@nestjs/common';
import type {
  AddAdminKeyRequest,
  AddRecordKeyGrantRequest,
  AddRecordKeyRequest,
  AddRootSuccessorRequest,
  PracticeKeys,
  RecertifyRecordKeyRequest,
} from '@parley/protocol';
import { randomUUID } from 'node:crypto';
import { AuditService } from '../audit/audit.service.js';
import { DevicesService } from '../devices/devices.service.js';
import type { Actor } from '../common/actor.js';
import { DomainError } from '../common/domain-error.js';
import { requireRole } from '../common/require-role.js';
import { adminKeySignedBytes, isSignedBy, recordKeyCurrentSignedBytes, recordKeySignedBytes, rootSuccessorSignedBytes } from './authority-signatures.js';
import { PracticeKeysRepository, type AuthorityWriteRefusal } from './practice-keys.repository.js';

/**
 * The practice's public keys: the root key clients pin and its successors, the admin keys a root certified, the
 * record key versions they certify, and the grants that seal each version's seed to a staff device. The server
 * stores what managers' clients signed. It checks the authority's own statements (successors, admin keys, record
 * keys certified again) with node:crypto so nothing unverifiable is stored; clients check everything themselves.
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

  /**
   * Appends the current root's statement naming its successor (a manager); audited `root-key.succeeded`. From
   * then on the successor is the practice's current root, and admin keys certified by the old one are no longer served.
   * @throws DomainError `forbidden`, `conflict` (no root yet, not signed by the current root, or a root the practice already had)
   */
  async addRootSuccessor(actor: Actor, request: AddRootSuccessorRequest): Promise<void> {
    requireRole(actor, 'manager');
    const authority = await this.authorityOf(actor);
    const link = {
      previousSignPublicKey: Buffer.from(request.previousSignPublicKey, 'base64'),
      signPublicKey: Buffer.from(request.signPublicKey, 'base64'),
      issuedAt: request.issuedAt,
      signature: Buffer.from(request.signature, 'base64'),
    };
    if (!authority.currentRoot.equals(link.previousSignPublicKey)) throw new DomainError('conflict', 'That is not the practice root key.');
    if (!isSignedBy(rootSuccessorSignedBytes({ practiceOdsCode: authority.odsCode, ...link }), link.signature, authority.currentRoot)) {
      throw new DomainError('conflict', 'The successor statement is not signed by the practice root key.');
    }
    refuseOn(await this.keys.addRootSuccessor({ practiceId: actor.practiceId, ...link, storedByUserId: actor.userId }));
    this.logger.log({ userId: actor.userId, practiceId: actor.practiceId }, 'practice root key succeeded');
    await this.audit.record(actor, 'root-key.succeeded', {});
  }

  /**
   * Stores a practice admin key certified by the current root (a manager); audited `admin-key.added`.
   * @throws DomainError `forbidden`, `conflict` (no root yet, a certificate the current root did not sign, or already stored)
   */
  async addAdminKey(actor: Actor, request: AddAdminKeyRequest): Promise<void> {
    requireRole(actor, 'manager');
    const authority = await this.authorityOf(actor);
    const signPublicKey = Buffer.from(request.signPublicKey, 'base64');
    const certificate = Buffer.from(request.certificate, 'base64');
    const signed = adminKeySignedBytes({ practiceOdsCode: authority.odsCode, adminKeyId: request.adminKeyId, signPublicKey, issuedAt: request.issuedAt });
    if (!isSignedBy(signed, certificate, authority.currentRoot)) throw new DomainError('conflict', 'The admin key is not certified by the practice root key.');
    refuseOn(
      await this.keys.addAdminKey({
        practiceId: actor.practiceId,
        adminKeyId: request.adminKeyId,
        signPublicKey,
        issuedAt: request.issuedAt,
        rootSignPublicKey: authority.currentRoot,
        certificate,
        storedByUserId: actor.userId,
      }),
    );
    this.logger.log({ userId: actor.userId, practiceId: actor.practiceId, adminKeyId: request.adminKeyId }, 'admin key added');
    await this.audit.record(actor, 'admin-key.added', { data: { adminKeyId: request.adminKeyId } });
  }

  /**
   * Stores a record key version certified again (after a root rotation) by the current root or one of its admin
   * keys, with its "current" statement when given (a manager); audited `record-key.recertified`.
   * @throws DomainError `forbidden`, `not_found` (no such version), `conflict` (no root yet, or a signature the current authority did not make)
   */
  async recertifyRecordKey(actor: Actor, request: RecertifyRecordKeyRequest): Promise<void> {
    requireRole(actor, 'manager');
    const { version } = request;
    const authority = await this.authorityOf(actor);
    const boxPublicKey = await this.keys.recordKeyPublicKey(actor.practiceId, version);
    if (!boxPublicKey) throw new DomainError('not_found');
    const certificate = Buffer.from(request.certificate, 'base64');
    const current = request.current ? { issuedAt: request.current.issuedAt, signature: Buffer.from(request.current.signature, 'base64') } : null;
    const fields = { practiceOdsCode: authority.odsCode, version, boxPublicKey };
    const signer = this.signers(authority).find(
      (key) =>
        isSignedBy(recordKeySignedBytes({ ...fields, validFrom: request.validFrom }), certificate, key) &&
        (!current || isSignedBy(recordKeyCurrentSignedBytes({ ...fields, issuedAt: current.issuedAt }), current.signature, key)),
    );
    if (!signer) throw new DomainError('conflict', 'The record key is not certified by the practice root key or one of its admin keys.');
    refuseOn(
      await this.keys.addRecordKeyCertification({
        practiceId: actor.practiceId,
        version,
        validFrom: request.validFrom,
        certificate,
        current,
        signerSignPublicKey: signer,
        rootSignPublicKey: authority.currentRoot,
        storedByUserId: actor.userId,
      }),
    );
    this.logger.log({ userId: actor.userId, practiceId: actor.practiceId, version }, 'record key certified again');
    await this.audit.record(actor, 'record-key.recertified', { data: { version } });
  }

  /**
   * The keys that may sign for a practice now, for other modules' server-side checks (a revocation list): its
   * current root and the admin keys that root certified. Empty before the practice has a root. Which admin keys a
   * signed revocation list names is the caller's to apply; clients check all of it themselves.
   */
  async authoritySignKeys(practiceId: string): Promise<Buffer[]> {
    const authority = await this.keys.authority(practiceId);
    return authority?.currentRoot ? [authority.currentRoot, ...authority.adminKeys.map((key) => key.signPublicKey)] : [];
  }

  /** The caller's practice's keys, with only the grants sealed to the caller's own device. @throws DomainError `not_found` */
  async keysFor(actor: Actor): Promise<PracticeKeys> {
    const keys = await this.keys.keysFor(actor.practiceId, actor.deviceId);
    if (!keys) throw new DomainError('not_found');
    return keys;
  }

  private async authorityOf(actor: Actor): Promise<{ odsCode: string; currentRoot: Buffer; adminKeys: { signPublicKey: Buffer }[] }> {
    const authority = await this.keys.authority(actor.practiceId);
    if (!authority?.currentRoot) throw new DomainError('conflict', 'Set the practice root key first.');
    return { odsCode: authority.odsCode, currentRoot: authority.currentRoot, adminKeys: authority.adminKeys };
  }

  private signers(authority: { currentRoot: Buffer; adminKeys: { signPublicKey: Buffer }[] }): Buffer[] {
    return [authority.currentRoot, ...authority.adminKeys.map((key) => key.signPublicKey)];
  }
}

function refuseOn(refusal: AuthorityWriteRefusal | null): void {
  if (refusal === null) return;
  if (refusal === 'no_such_version') throw new DomainError('not_found');
  const messages: Record<Exclude<AuthorityWriteRefusal, 'no_such_version'>, string> = {
    no_root_key: 'Set the practice root key first.',
    not_current_root: 'The practice root key changed meanwhile: sign again with the current one.',
    root_reused: 'The practice has had that root key before.',
    already_stored: 'That admin key is already stored.',
  };
  throw new DomainError('conflict', messages[refusal]);
}
