import { Injectable, Logger } from '@nestjs/common';
import type { PutRevocationListRequest, RevocationListResponse } from '@parley/protocol';
import { AuditService } from '../audit/audit.service.js';
import type { Actor } from '../common/actor.js';
import { DomainError } from '../common/domain-error.js';
import { requireRole } from '../common/require-role.js';
import { PracticeKeysService } from '../practices/practice-keys.service.js';
import { isRevocationListSignatureValid } from './revocation-signature.js';
import { RevocationsRepository } from './revocations.repository.js';

/**
 * The practice's signed revocation list (docs/crypto.md, "Revocation lists"). The server refusing a revoked
 * device (devices.revoked_at) is its own control; this list is what lets clients refuse one without
 * believing the server, so the server stores only lists signed by the practice's root (or an admin key it certified) and only ever newer ones.
 */
@Injectable()
export class RevocationsService {
  private readonly logger = new Logger(RevocationsService.name);

  constructor(
    private readonly lists: RevocationsRepository,
    private readonly practiceKeys: PracticeKeysService,
    private readonly audit: AuditService,
  ) {}

  /** The newest list of the caller's practice (any signed-in member, patients too), or `list: null` before the first; for managers, the devices revoked on the server it does not name yet. */
  async newest(actor: Actor): Promise<RevocationListResponse> {
    const isManager = actor.roles.includes('manager');
    const [list, unlisted] = await Promise.all([
      this.lists.newest(actor.practiceId),
      isManager ? this.lists.unlisted(actor.practiceId, MAX_UNLISTED) : Promise.resolve(null),
    ]);
    return { list: list && { ...list, practiceOdsCode: actor.practiceOdsCode }, ...(unlisted ? { unlisted } : {}) };
  }

  /**
   * Stores a new version of the practice's list (a manager); audited `revocations.published`.
   * @throws DomainError `forbidden`, `invalid_payload` (not signed by the practice's root or an unrevoked admin key it certified, an id named twice or neither a device nor an admin key of this practice), `conflict` (no root key yet, or not newer than the stored version)
   */
  async publish(actor: Actor, request: PutRevocationListRequest): Promise<void> {
    requireRole(actor, 'manager');
    // The practice's current root, or an admin key it certified (docs/crypto.md, "Practice authority").
    const authority = await this.practiceKeys.authoritySignKeys(actor.practiceId);
    if (authority.length === 0) throw new DomainError('conflict', 'Set the practice root key first.');
    const signer = Buffer.from(request.signerSignPublicKey, 'base64');
    if (!authority.some((key) => key.equals(signer))) {
      throw new DomainError('invalid_payload', "signerSignPublicKey: the list must be signed by the practice's root or an admin key it certified.");
    }
    if (await this.lists.isRevokedAdminKey(actor.practiceId, signer)) {
      throw new DomainError('invalid_payload', 'signerSignPublicKey: that admin key is revoked.');
    }
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
    if (refusal) throw new DomainError('invalid_payload', 'entries: every id must be a device or an admin key of this practice.');
    this.logger.log({ userId: actor.userId, practiceId: actor.practiceId, version: request.version }, 'revocation list published');
    await this.audit.record(actor, 'revocations.published', { data: { version: request.version, devices: request.entries.length } });
  }
}

/** Server-revoked devices listed to a manager per answer: their client signs them in and asks again. */
const MAX_UNLISTED = 1_000;
