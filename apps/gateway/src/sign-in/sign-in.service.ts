import { Inject, Injectable, Logger } from '@nestjs/common';
import {
  INVITATION_VOIDED,
  type ActivateRequest,
  type InvitationDetails,
  type InvitationLookupRequest,
  type KdfParams,
  type PreloginRequest,
  type SessionInfo,
  type SignInRequest,
} from '@parley/protocol';
import { createHmac, randomUUID } from 'node:crypto';
import { AuditService, serverActor } from '../audit/audit.service.js';
import { DomainError } from '../common/domain-error.js';
import { isUniqueViolation } from '../database/sql.js';
import { APP_CONFIG, type AppConfig } from '../config.js';
import { AuthKeyHasher } from './auth-key-hasher.js';
import { isAccountSignatureValid } from '../account-keys/account-signature.js';
import {
  SignInRepository,
  type LoginAccount,
  type NewSession,
  type PendingInvitation,
  type PendingPatientInvitation,
  type PracticeSummary,
} from './sign-in.repository.js';
import { hashInvitationCode } from '../invitations/invitation-code.js';
import { accountSubject, normaliseLogin } from './login.js';
import { RateLimitService } from '../rate-limits/rate-limit.service.js';
import { newSessionToken } from '../sessions/session-token.js';

/** The cost handed out with a decoy salt: the clients' default, so a decoy looks like a real answer. */
export const DECOY_KDF = { opsLimit: 3, memLimitBytes: 64 * 1024 * 1024 } as const;
const DECOY_SECRET_NAME = 'decoy_salt_key';
const SALT_BYTES = 16;
/**
 * Wrong dates of birth a patient invitation survives, in total: the tenth voids it. A stolen letter then
 * buys ten guesses out of some 33,000 dates (a 0.03 % chance), and the patient a few typing mistakes.
 */
export const INVITATION_MAX_FAILED_ATTEMPTS = 10;

// One message for every refusal, so a caller cannot tell which check failed.
const ACTIVATION_REFUSED = 'That code and date of birth do not match an invitation, or the code has expired or been used.';
const SIGN_IN_REFUSED = 'Those sign-in details are not right.';
const INVITATION_VOIDED_MESSAGE =
  'This invitation can no longer be used: too many wrong dates of birth were tried with it. Ask your practice for a new invitation.';

/** Accounts: the salt to derive with, activation with a one-time code, and sign-in. */
@Injectable()
export class SignInService {
  private readonly logger = new Logger(SignInService.name);
  private decoyKey: Promise<Buffer> | undefined;

  constructor(
    private readonly accounts: SignInRepository,
    private readonly hasher: AuthKeyHasher,
    private readonly rateLimit: RateLimitService,
    private readonly audit: AuditService,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  /**
   * The salt and cost to derive the auth key with. An unknown login (or practice, or an account not
   * yet activated) gets a decoy: a salt that is stable per practice and login, and the default cost.
   */
  async prelogin(request: PreloginRequest): Promise<KdfParams> {
    const login = normaliseLogin(request.login);
    const account = await this.accounts.findLoginAccount(request.practice, login);
    if (account) return toKdfParams(account.kdf.salt, account.kdf.opsLimit, account.kdf.memLimitBytes);
    // HMAC under a per-deployment secret: stable, so asking twice cannot tell a decoy from a real salt, and unpredictable without the secret.
    this.decoyKey ??= this.accounts.serverSecret(DECOY_SECRET_NAME).catch((error: unknown) => {
      this.decoyKey = undefined; // a database hiccup must not be cached: the next prelogin tries again
      throw error;
    });
    const salt = createHmac('sha256', await this.decoyKey)
      .update(`${request.practice}\n${login}`)
      .digest()
      .subarray(0, SALT_BYTES);
    return toKdfParams(salt, DECOY_KDF.opsLimit, DECOY_KDF.memLimitBytes);
  }

  /**
   * Names the account a set-up code (staff) or an invitation's lookup id (patients, who confirm their
   * date of birth) opens, so the client can bind the account id into its certificate and backup before
   * activating. A patient also gets the invitation's chain, which their client checks against the code.
   * Counts against the same rate limit as activation, and a wrong date of birth against the invitation's total.
   * @throws DomainError `unauthorized` (wrong, used or expired code or lookup id; wrong date of birth), `forbidden` (invitation voided: `details.reason` `invitation_voided`), `rate_limited`
   */
  async lookUpInvitation(request: InvitationLookupRequest, ip: string | undefined): Promise<InvitationDetails> {
    const attempt = await this.rateLimit.startCredentialAttempt('code', attemptSubject(request), ip);
    let invitation: PendingInvitation | null;
    let chain: PendingPatientInvitation['chain'] | null = null;
    if ('code' in request) {
      invitation = await this.accounts.findPendingStaffCode(request.practice, hashInvitationCode(request.code));
    } else {
      const patientInvitation = await this.findPatientInvitation(request);
      invitation = patientInvitation;
      chain = patientInvitation?.chain ?? null;
    }
    if (!invitation) throw new DomainError('unauthorized', ACTIVATION_REFUSED);
    await this.rateLimit.succeeded(attempt);
    const { practice } = invitation;
    return {
      userId: invitation.userId,
      kind: chain ? 'patient' : 'staff',
      displayName: invitation.displayName,
      practice: { id: practice.id, odsCode: practice.odsCode, name: practice.name, rootSignPublicKey: practice.rootSignPublicKey?.toString('base64') ?? null },
      invitation: chain,
    };
  }

  /**
   * Turns a set-up code (staff) or an invitation (patients: lookup id, date of birth, and an account key
   * signed with the invitation key) into an active account with its first device and session. Nothing is
   * stored unless everything is.
   * @throws DomainError `unauthorized` (wrong, expired or used code or lookup id, wrong date of birth, account key not signed by the invitation key), `forbidden` (invitation voided), `invalid_payload`, `conflict`, `rate_limited`
   */
  async activate(request: ActivateRequest, ip: string | undefined): Promise<SessionInfo> {
    const attempt = await this.rateLimit.startCredentialAttempt('code', attemptSubject(request), ip);
    let invitation: PendingInvitation | null;
    let account: PatientActivation | null = null;
    if (request.code !== undefined) {
      if (request.dateOfBirth !== undefined || request.account !== undefined) {
        throw new DomainError('invalid_payload', 'Staff accounts take no date of birth and no account keys.');
      }
      invitation = await this.accounts.findPendingStaffCode(request.practice, hashInvitationCode(request.code));
    } else {
      const patientInvitation = await this.findPatientInvitation(request);
      invitation = patientInvitation;
      if (patientInvitation) account = checkPatientActivation(patientInvitation, request);
    }
    if (!invitation) throw new DomainError('unauthorized', ACTIVATION_REFUSED);

    const authKeyHash = await this.hasher.hash(Buffer.from(request.authKey, 'base64'));
    const { token, session } = this.newSession(ip);
    const deviceId = account?.deviceId.toLowerCase() ?? randomUUID();
    const isActivated = await this.accounts
      .activate({
        invitationId: invitation.id,
        userId: invitation.userId,
        authKeyHash,
        kdf: { salt: Buffer.from(request.kdf.salt, 'base64'), opsLimit: request.kdf.opsLimit, memLimitBytes: request.kdf.memLimitBytes },
        device: {
          id: deviceId,
          label: request.device.label,
          signPublicKey: Buffer.from(request.device.keys.signPublicKey, 'base64'),
          boxPublicKey: Buffer.from(request.device.keys.boxPublicKey, 'base64'),
          certificate: account?.deviceCertificate ?? null,
        },
        account: account
          ? {
              id: randomUUID(),
              signPublicKey: account.signPublicKey,
              boxPublicKey: account.boxPublicKey,
              accountSignature: account.accountSignature,
              backup: account.backup,
            }
          : null,
        session,
      })
      .catch((error: unknown) => {
        // The only unique value the client chooses is the device id.
        if (isUniqueViolation(error)) throw new DomainError('conflict', 'That device id is already taken; pick another.');
        throw error;
      });
    if (!isActivated) throw new DomainError('unauthorized', ACTIVATION_REFUSED);
    await this.rateLimit.succeeded(attempt);
    this.logger.log({ userId: invitation.userId, deviceId, sessionId: session.id }, 'account activated');
    // A key event: the account's first device (and, for a patient, the account key bound to the invitation) exists from now on.
    await this.audit.record({ practiceId: invitation.practice.id, userId: invitation.userId, deviceId }, 'account.activated', {
      subjectUserId: invitation.userId,
      data: { deviceId, hasAccountKey: account !== null },
    });
    return toSessionInfo(token, session, deviceId, invitation, invitation.practice);
  }

  /**
   * Signs in with the auth key, on a device of the user or on a new one registered on the spot. A wrong
   * key and an unknown login are refused alike, after the same work.
   * @throws DomainError `unauthorized`, `rate_limited`
   */
  async signIn(request: SignInRequest, ip: string | undefined): Promise<SessionInfo> {
    const login = normaliseLogin(request.login);
    const attempt = await this.rateLimit.startCredentialAttempt('account', accountSubject(request.practice, login), ip);
    const account = await this.accounts.findLoginAccount(request.practice, login);
    const isKeyRight = await this.hasher.verify(account?.authKeyHash ?? null, Buffer.from(request.authKey, 'base64'));
    if (!account || !isKeyRight) throw new DomainError('unauthorized', SIGN_IN_REFUSED);
    await this.rateLimit.succeeded(attempt);

    const { token, session } = this.newSession(ip);
    let deviceId: string;
    if ('deviceId' in request.device) {
      deviceId = request.device.deviceId.toLowerCase();
      const isStarted = await this.accounts.startSession(account.id, deviceId, session);
      if (!isStarted) throw new DomainError('unauthorized', 'This device is signed out for good. Sign in as a new device.');
    } else {
      deviceId = randomUUID();
      await this.accounts.startSessionOnNewDevice(
        account.id,
        {
          id: deviceId,
          label: request.device.label,
          signPublicKey: Buffer.from(request.device.keys.signPublicKey, 'base64'),
          boxPublicKey: Buffer.from(request.device.keys.boxPublicKey, 'base64'),
          certificate: null,
        },
        session,
      );
    }
    this.logger.log({ userId: account.id, deviceId, sessionId: session.id }, 'signed in');
    return toSessionInfo(token, session, deviceId, { userId: account.id, ...account }, account.practice);
  }

  /**
   * The pending patient invitation with this lookup id, if the date of birth matches; null otherwise. A wrong
   * date of birth counts against the invitation; the one that reaches the limit voids it and tells the practice.
   * @throws DomainError `forbidden` (the invitation is void)
   */
  private async findPatientInvitation(request: {
    practice: string;
    lookupId?: string | undefined;
    dateOfBirth?: string | undefined;
  }): Promise<PendingPatientInvitation | null> {
    if (request.lookupId === undefined || request.dateOfBirth === undefined) return null;
    const lookupId = Buffer.from(request.lookupId, 'base64');
    const tried = await this.accounts.tryPatientDateOfBirth(request.practice, lookupId, request.dateOfBirth, INVITATION_MAX_FAILED_ATTEMPTS);
    if (tried?.outcome === 'voided') {
      if (tried.voidedNow) {
        const { invitationId, userId, practiceId, failedAttempts } = tried.voidedNow;
        this.logger.warn({ invitationId, userId, failedAttempts }, 'invitation voided: too many wrong dates of birth');
        await this.audit.record(serverActor(practiceId), 'invitation.voided', {
          subjectUserId: userId,
          data: { invitationId, reason: 'too_many_attempts', failedAttempts },
        });
      }
      throw new DomainError('forbidden', INVITATION_VOIDED_MESSAGE, { reason: INVITATION_VOIDED });
    }
    if (tried?.outcome !== 'matched') return null;
    return this.accounts.findPendingPatientInvitation(request.practice, lookupId);
  }

  private newSession(ip: string | undefined): { token: string; session: NewSession } {
    const { token, tokenHash } = newSessionToken();
    const expiresAt = new Date(Date.now() + this.config.sessionTtlHours * 3600 * 1000);
    return { token, session: { id: randomUUID(), tokenHash, expiresAt, ip: ip ?? null } };
  }
}

/** A patient's account part of an activation, checked and decoded. */
interface PatientActivation {
  deviceId: string;
  signPublicKey: Buffer;
  boxPublicKey: Buffer;
  deviceCertificate: Buffer;
  accountSignature: Buffer;
  backup: Buffer;
}

/**
 * The rules a patient's invitation adds (its date of birth was checked by the lookup): account keys bound
 * to the invited user's id and signed by the invitation key.
 * @throws DomainError `unauthorized`, `invalid_payload`
 */
function checkPatientActivation(invitation: PendingPatientInvitation, request: ActivateRequest): PatientActivation {
  if (!request.account)
    throw new DomainError('invalid_payload', 'account: patients send their account keys, device certificate, account signature and backup.');
  const { account } = request;
  if (account.userId.toLowerCase() !== invitation.userId) throw new DomainError('unauthorized', ACTIVATION_REFUSED);
  const checked: PatientActivation = {
    deviceId: account.deviceId,
    signPublicKey: Buffer.from(account.keys.signPublicKey, 'base64'),
    boxPublicKey: Buffer.from(account.keys.boxPublicKey, 'base64'),
    deviceCertificate: Buffer.from(account.deviceCertificate, 'base64'),
    accountSignature: Buffer.from(account.accountSignature, 'base64'),
    backup: Buffer.from(account.backup, 'base64'),
  };
  // Staff trust the account key through this signature: one the invitation key did not make must never be stored.
  const isSigned = isAccountSignatureValid(
    { practiceOdsCode: invitation.practice.odsCode, patientId: invitation.userId, signPublicKey: checked.signPublicKey, boxPublicKey: checked.boxPublicKey },
    checked.accountSignature,
    invitation.invitationSignPublicKey,
  );
  if (!isSigned) throw new DomainError('unauthorized', ACTIVATION_REFUSED);
  return checked;
}

/** What an invitation lookup or activation counts against: the set-up code's hash, or the lookup id. */
function attemptSubject(request: { practice: string; code?: string | undefined; lookupId?: string | undefined }): string {
  const credential = request.code !== undefined ? hashInvitationCode(request.code) : Buffer.from(request.lookupId ?? '', 'base64');
  return `${request.practice}:${credential.toString('hex')}`;
}

function toKdfParams(salt: Buffer, opsLimit: number, memLimitBytes: number): KdfParams {
  return { salt: salt.toString('base64'), opsLimit, memLimitBytes };
}

function toSessionInfo(
  token: string,
  session: NewSession,
  deviceId: string,
  user: Pick<LoginAccount, 'roles' | 'displayName'> & { userId: string },
  practice: PracticeSummary,
): SessionInfo {
  return {
    token,
    expiresAt: session.expiresAt.toISOString(),
    deviceId,
    user: { id: user.userId, roles: [...user.roles], displayName: user.displayName },
    practice: {
      id: practice.id,
      odsCode: practice.odsCode,
      name: practice.name,
      rootSignPublicKey: practice.rootSignPublicKey ? practice.rootSignPublicKey.toString('base64') : null,
    },
  };
}
