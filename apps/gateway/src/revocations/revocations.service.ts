import { Injectable, Logger } from '@nestjs/common';
import type { PutRevocationListRequest, RevocationListResponse } from '@parley/protocol';
import { AuditService } from '../audit/audit.service.js';
import type { Actor } from '../common/actor.js';
import { DomainError } from '../common/domain-error.js';
import { requireRole } from '../common/require-role.js';
import { isRevocationListSignatureValid } from './revocation-signature.js';
import { RevocationsRepository } from './revocations.repository.js';

/**
 * The practice's signed revocation list (docs/crypto.md, "Revocation lists"). The server refusing a revoked
 * device (devices.revoked_at) is its own control; this list is what lets clients refuse one without
 * believing the server, so the server stores only lists signed by the practice's root and only ever newer ones.
 */
@Injectable()
export class RevocationsService {
  private readonly logger = new Logger(RevocationsService.name);

  constructor(
    private readonly lists: RevocationsRepository,
    private readonly audit: AuditService,
  ) {}

  /** The newest list of the caller's practice (any signed-in member, patients too), or `list: null` before the first. */
  async newest(actor: Actor): Promise<RevocationListResponse> {
    const list = await this.lists.newest(actor.practiceId);
    return { list: list && { ...list, practiceOdsCode: actor.practiceOdsCode } };
  }

  /**
   * Stores a new version of the practice's list (a manager); audited `revocations.published`.
   * @throws DomainError `forbidden`, `invalid_payload` (not signed by the practice's root, a device named twice or not of this practice), `conflict` (no root key yet, or not newer than the stored version)
   */
  async publish(actor: Actor, request: PutRevocationListRequest): Promise<void> {
    requireRole(actor, 'manager');
    const root = await this.lists.rootKeyOf(actor.practiceId);
    if (!root) throw new DomainError('conflict', 'Set the practice root key first.');
    const signer = Buffer.from(request.signerSignPublicKey, 'base64');
    // TODO(#17): also accept an admin key the root certified, once the practice's admin keys are stored.
    if (!signer.equals(root)) throw new DomainError('invalid_payload', "signerSignPublicKey: the list must be signed by the practice's root key.");
    const fields = { practiceOdsCode: actor.practiceOdsCode, version: request.version, issuedAt: request.issuedAt, entries: request.entries };
    if (!isRevocationListSignatureValid(fields, Buffer.from(request.signature, 'base64'), signer)) {
      throw new DomainError('invalid_payload', 'signature: does not verify over this list (or a device is named twice).');
    }
    const refusal = await this.lists.store({
      practiceId: actor.practiceId,
      version: request.version,
      issuedAt: request.issuedAt,
      entries: request.entries,
      signerSignPublicKey: signer,
      signature: Buffer.from(request.signature, 'base64'),
      storedByUserId: actor.userId,
    });
    if (refusal === 'not_newer') throw new DomainError('conflict', 'A list of this version or a newer one is already stored.');
    if (refusal) throw new DomainError('invalid_payload', 'entries: every device must belong to this practice.');
    this.logger.log({ userId: actor.userId, practiceId: actor.practiceId, version: request.version }, 'revocation list published');
    await this.audit.record(actor, 'revocations.published', { data: { version: request.version, devices: request.entries.length } });
  }
}
