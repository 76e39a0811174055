import { Injectable, Logger } from '@nestjs/common';
import type { AcceptTermsRequest, PracticeTerms, PublishTermsRequest, TermsConsent, TermsStatus } from '@parley/protocol';
import { AuditService } from '../audit/audit.service.js';
import type { Actor } from '../common/actor.js';
import { Clock } from '../common/clock.js';
import { DomainError } from '../common/domain-error.js';
import { requireRole } from '../common/require-role.js';
import { SharedReads } from '../common/shared-reads.js';
import { ConsentRepository } from './consent.repository.js';

/** How long the opens of one practice share a read of its current terms version (a publish through this node shows at once). */
const TERMS_SHARED_FOR_MS = 1_000;
/** The consents remembered on this node; beyond this many the memory starts afresh (each costs one query to learn again). */
const CONSENTS_REMEMBERED = 100_000;

/**
 * The practice's versioned terms and patients' consent to them. A patient must have accepted the
 * current version before opening a conversation. A practice that has published no terms asks for no
 * consent: the practice is responsible for publishing its terms before inviting patients (issue #4).
 */
@Injectable()
export class ConsentService {
  private readonly logger = new Logger(ConsentService.name);
  /** Each practice's current terms version (null: none), one read shared by the opens of up to a second. */
  private readonly currentVersions = new SharedReads<number | null>(TERMS_SHARED_FOR_MS, (practiceId) => this.consents.currentVersion(practiceId));
  /**
   * Per patient and practice, the newest version this node has seen them consent to. Consents are append-only (the
   * database refuses UPDATE and DELETE) and none is ever withdrawn: a consent stops counting only when the practice
   * publishes a newer version, which the version check below sees. So a remembered consent is never wrong, only old.
   */
  private readonly consented = new Map<string, number>();

  constructor(
    private readonly consents: ConsentRepository,
    private readonly audit: AuditService,
    private readonly clock: Clock,
  ) {}

  /** The caller's practice's current terms, and for a patient their latest consent and whether they must accept. */
  async status(actor: Actor): Promise<TermsStatus> {
    const isPatient = actor.roles.includes('patient');
    const [terms, consent] = await Promise.all([
      this.consents.currentTerms(actor.practiceId),
      isPatient ? this.consents.latestConsent(actor.userId, actor.practiceId) : Promise.resolve(null),
    ]);
    return { terms, consent, needsConsent: isPatient && terms !== null && consent?.version !== terms.version };
  }

  /**
   * Publishes new terms as the practice's next version; patients must accept it before their next conversation.
   * @throws DomainError `forbidden` (not a manager)
   */
  async publish(actor: Actor, request: PublishTermsRequest): Promise<PracticeTerms> {
    requireRole(actor, 'manager');
    const terms = await this.consents.publish({ practiceId: actor.practiceId, text: request.text, publishedBy: actor.userId, publishedAt: this.clock.now() });
    this.currentVersions.forget(actor.practiceId);
    await this.audit.record(actor, 'terms.published', { data: { version: terms.version } });
    this.logger.log({ userId: actor.userId, practiceId: actor.practiceId, version: terms.version }, 'terms published');
    return terms;
  }

  /**
   * Records the calling patient's consent to the version they read, which must be the current one.
   * Accepting it again answers the first consent.
   * @throws DomainError `forbidden` (not a patient), `not_found` (the practice has no terms), `conflict` (not the current version)
   */
  async accept(actor: Actor, request: AcceptTermsRequest): Promise<TermsConsent> {
    requireRole(actor, 'patient');
    const outcome = await this.consents.accept({ patientId: actor.userId, practiceId: actor.practiceId, version: request.version, givenAt: this.clock.now() });
    if (outcome.status === 'not_current') {
      const current = await this.consents.currentTerms(actor.practiceId);
      if (!current) throw new DomainError('not_found', 'The practice has no terms to accept.');
      throw new DomainError('conflict', 'The practice has changed its terms since you read them. Read the current terms and accept those.');
    }
    if (outcome.status === 'accepted') await this.audit.record(actor, 'consent.given', { subjectUserId: actor.userId, data: { version: request.version } });
    return outcome.consent;
  }

  /**
   * Refuses a patient who has not accepted the practice's current terms; staff, and patients of a
   * practice without terms, pass. Call it before opening a conversation.
   * @throws DomainError `forbidden`
   */
  async assertConsented(actor: Pick<Actor, 'userId' | 'practiceId' | 'roles'>): Promise<void> {
    if (!actor.roles.includes('patient')) return;
    const current = await this.currentVersions.get(actor.practiceId);
    if (current === null) return;
    const key = `${actor.practiceId}:${actor.userId}`;
    if (this.consented.get(key) === current) return;
    // Not known here to have consented to the current version: ask the database, which also has the version now.
    const state = await this.consents.state(actor.userId, actor.practiceId);
    if (state.currentVersion !== null && !state.hasConsented) throw new DomainError('forbidden', "Accept the practice's current terms first.");
    if (state.currentVersion !== null) {
      if (this.consented.size >= CONSENTS_REMEMBERED) this.consented.clear();
      this.consented.set(key, state.currentVersion);
    }
  }
}
