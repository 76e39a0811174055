import { Logger } from '@nestjs/common';
import type { ActivateRequest, SignInRequest } from '@parley/protocol';
import { generateKeyPairSync, randomUUID, sign } from 'node:crypto';
import { mockOf } from '../../test/mocks.js';
import { DomainError } from '../common/domain-error.js';
import { loadConfig } from '../config.js';
import type { AuthKeyHasher } from './auth-key-hasher.js';
import { accountKeySignedBytes } from '../account-keys/account-signature.js';
import type { SignInRepository, LoginAccount, PendingInvitation, PendingPatientInvitation } from './sign-in.repository.js';
import { SignInService, DECOY_KDF } from './sign-in.service.js';
import type { AuditService } from '../audit/audit.service.js';
import type { Attempt, RateLimitService } from '../rate-limits/rate-limit.service.js';

const KEY = Buffer.alloc(32, 1).toString('base64');
const PUBLIC_KEYS = { signPublicKey: Buffer.alloc(32, 2).toString('base64'), boxPublicKey: Buffer.alloc(32, 3).toString('base64') };
const PRACTICE = { id: randomUUID(), odsCode: 'Y00001', name: 'Riverside Surgery', rootSignPublicKey: null };
const SIGNATURE = Buffer.alloc(64, 5).toString('base64');

function aStaffCode(overrides: Partial<PendingInvitation> = {}): PendingInvitation {
  return { id: randomUUID(), userId: randomUUID(), roles: ['clinician'], displayName: 'Dr Alex Morgan', dateOfBirth: null, practice: PRACTICE, ...overrides };
}

// The invitation key V, which only the patient's client (from the code) and the inviting staff client ever hold.
const invitationKey = generateKeyPairSync('ed25519');
const INVITATION_SIGN_PUBLIC_KEY = invitationKey.publicKey.export({ format: 'der', type: 'spki' }).subarray(-32);

function anInvitation(overrides: Partial<PendingPatientInvitation> = {}): PendingPatientInvitation {
  const chain = {
    invitationSignPublicKey: INVITATION_SIGN_PUBLIC_KEY.toString('base64'),
    invitationSignature: SIGNATURE,
    rootSignature: SIGNATURE,
    expiresAt: Date.now() + 86_400_000,
  };
  const creator = {
    userId: randomUUID(),
    deviceId: randomUUID(),
    ...PUBLIC_KEYS,
    certificate: SIGNATURE,
    certifiedAs: { displayName: 'Dr Alex Morgan', roles: ['clinician' as const] },
  };
  return {
    id: randomUUID(),
    userId: randomUUID(),
    roles: ['patient'],
    displayName: 'Chris Taylor',
    dateOfBirth: '1984-05-17',
    practice: PRACTICE,
    chain: { ...chain, creator },
    invitationSignPublicKey: INVITATION_SIGN_PUBLIC_KEY,
    ...overrides,
  };
}

function aPatientActivation(invitation: PendingInvitation, overrides: Partial<ActivateRequest> = {}): ActivateRequest {
  const keys = { signPublicKey: Buffer.from(PUBLIC_KEYS.signPublicKey, 'base64'), boxPublicKey: Buffer.from(PUBLIC_KEYS.boxPublicKey, 'base64') };
  const accountSignature = sign(null, accountKeySignedBytes({ practiceOdsCode: 'Y00001', patientId: invitation.userId, ...keys }), invitationKey.privateKey);
  return {
    practice: 'Y00001',
    lookupId: Buffer.alloc(32, 7).toString('base64'),
    dateOfBirth: '1984-05-17',
    authKey: KEY,
    kdf: { salt: Buffer.alloc(16).toString('base64'), opsLimit: 3, memLimitBytes: 64 * 1024 * 1024 },
    device: { label: 'My phone', keys: PUBLIC_KEYS },
    account: {
      userId: invitation.userId,
      deviceId: randomUUID(),
      keys: PUBLIC_KEYS,
      deviceCertificate: Buffer.alloc(64).toString('base64'),
      accountSignature: accountSignature.toString('base64'),
      backup: Buffer.alloc(208).toString('base64'),
    },
    ...overrides,
  };
}

function aStaffActivation(overrides: Partial<ActivateRequest> = {}): ActivateRequest {
  return {
    practice: 'Y00001',
    code: 'K7QM-2XWD-9HTR',
    authKey: KEY,
    kdf: { salt: Buffer.alloc(16).toString('base64'), opsLimit: 3, memLimitBytes: 64 * 1024 * 1024 },
    device: { label: 'Surgery PC', keys: PUBLIC_KEYS },
    ...overrides,
  };
}

function anAccount(): LoginAccount {
  return {
    id: randomUUID(),
    roles: ['patient'],
    displayName: 'Chris Taylor',
    authKeyHash: '$argon2id$stored',
    kdf: { salt: Buffer.alloc(16, 4), opsLimit: 3, memLimitBytes: 67108864 },
    practice: PRACTICE,
  };
}

describe(SignInService.name, () => {
  beforeAll(() => Logger.overrideLogger(false));

  const attempt: Attempt = { ids: ['1'], limits: [] };
  let accounts: jest.Mocked<SignInRepository>;
  let hasher: jest.Mocked<AuthKeyHasher>;
  let rateLimit: jest.Mocked<RateLimitService>;
  let audit: jest.Mocked<AuditService>;
  let sut: SignInService;

  beforeEach(() => {
    accounts = mockOf<SignInRepository>();
    hasher = mockOf<AuthKeyHasher>();
    rateLimit = mockOf<RateLimitService>();
    audit = mockOf<AuditService>();
    sut = new SignInService(accounts, hasher, rateLimit, audit, loadConfig({}));
    // The invitations of these tests are all born on 1984-05-17.
    accounts.tryPatientDateOfBirth.mockImplementation(async (_odsCode, _lookupId, dateOfBirth) => ({
      outcome: dateOfBirth === '1984-05-17' ? 'matched' : 'mismatched',
    }));
    rateLimit.startCredentialAttempt.mockResolvedValue(attempt);
    hasher.hash.mockResolvedValue('$argon2id$new');
    accounts.activate.mockResolvedValue(true);
    accounts.serverSecret.mockResolvedValue(Buffer.alloc(32, 9));
  });

  describe('activate', () => {
    it('refuses a patient whose date of birth does not match, storing nothing', async () => {
      const invitation = anInvitation();
      accounts.findPendingPatientInvitation.mockResolvedValue(invitation);

      await expect(sut.activate(aPatientActivation(invitation, { dateOfBirth: '1984-05-18' }), '10.0.0.1')).rejects.toMatchObject({ code: 'unauthorized' });
      expect(accounts.activate).not.toHaveBeenCalled();
      expect(rateLimit.succeeded).not.toHaveBeenCalled();
    });

    it('refuses an unknown, used or expired invitation with the same message as a wrong date of birth or a wrong signature', async () => {
      const invitation = anInvitation();
      accounts.findPendingPatientInvitation.mockResolvedValueOnce(null).mockResolvedValue(invitation);
      const request = aPatientActivation(invitation);
      const otherKey = generateKeyPairSync('ed25519').privateKey;
      const forged = sign(null, Buffer.from('parley/v2/account'), otherKey).toString('base64');

      const unknown = await sut.activate(request, undefined).catch((error: unknown) => error);
      const wrongBirth = await sut.activate(aPatientActivation(invitation, { dateOfBirth: '2000-01-01' }), undefined).catch((error: unknown) => error);
      const wrongSignature = await sut
        .activate({ ...request, account: { ...request.account!, accountSignature: forged } }, undefined)
        .catch((error: unknown) => error);

      expect(unknown).toBeInstanceOf(DomainError);
      expect(unknown).toEqual(wrongBirth);
      expect(unknown).toEqual(wrongSignature);
      expect(accounts.activate).not.toHaveBeenCalled();
    });

    it('refuses an account key the invitation key did not sign for this patient', async () => {
      const invitation = anInvitation();
      accounts.findPendingPatientInvitation.mockResolvedValue(invitation);
      const signedForAnother = aPatientActivation(anInvitation());

      await expect(
        sut.activate({ ...signedForAnother, account: { ...signedForAnother.account!, userId: invitation.userId } }, undefined),
      ).rejects.toMatchObject({
        code: 'unauthorized',
      });
      expect(accounts.activate).not.toHaveBeenCalled();
    });

    it('refuses account keys bound to another user id than the invitation', async () => {
      const invitation = anInvitation();
      accounts.findPendingPatientInvitation.mockResolvedValue(invitation);
      const request = aPatientActivation(invitation);

      await expect(sut.activate({ ...request, account: { ...request.account!, userId: randomUUID() } }, undefined)).rejects.toMatchObject({
        code: 'unauthorized',
      });
      expect(accounts.activate).not.toHaveBeenCalled();
    });

    it('refuses staff sending a date of birth or account keys, and a patient sending none', async () => {
      const patient = anInvitation();
      accounts.findPendingStaffCode.mockResolvedValue(aStaffCode());
      accounts.findPendingPatientInvitation.mockResolvedValue(patient);
      const { account, ...withoutAccount } = aPatientActivation(patient);

      await expect(sut.activate(aStaffActivation({ dateOfBirth: '1984-05-17' }), undefined)).rejects.toMatchObject({ code: 'invalid_payload' });
      await expect(sut.activate(aStaffActivation({ account }), undefined)).rejects.toMatchObject({ code: 'invalid_payload' });
      await expect(sut.activate(withoutAccount, undefined)).rejects.toMatchObject({ code: 'invalid_payload' });
      expect(accounts.activate).not.toHaveBeenCalled();
    });

    it('stores the hash of the auth key, the client-chosen device id, the certificate and the account signature, and clears the attempt', async () => {
      const invitation = anInvitation();
      accounts.findPendingPatientInvitation.mockResolvedValue(invitation);
      const request = aPatientActivation(invitation);

      const session = await sut.activate(request, '10.0.0.1');

      expect(accounts.findPendingPatientInvitation).toHaveBeenCalledWith('Y00001', Buffer.alloc(32, 7));
      expect(accounts.activate).toHaveBeenCalledWith(
        expect.objectContaining({
          invitationId: invitation.id,
          userId: invitation.userId,
          authKeyHash: '$argon2id$new',
          device: expect.objectContaining({ id: request.account!.deviceId, certificate: Buffer.alloc(64) }),
          account: expect.objectContaining({ backup: Buffer.alloc(208), accountSignature: Buffer.from(request.account!.accountSignature, 'base64') }),
          session: expect.objectContaining({ ip: '10.0.0.1' }),
        }),
      );
      expect(session).toMatchObject({ deviceId: request.account!.deviceId, user: { id: invitation.userId, roles: ['patient'] } });
      expect(rateLimit.succeeded).toHaveBeenCalledWith(attempt);
    });

    it('activates staff by their set-up code with no account keys', async () => {
      const staff = aStaffCode();
      accounts.findPendingStaffCode.mockResolvedValue(staff);

      await sut.activate(aStaffActivation(), undefined);

      expect(accounts.activate).toHaveBeenCalledWith(
        expect.objectContaining({ userId: staff.userId, account: null, device: expect.objectContaining({ certificate: null }) }),
      );
    });

    it('refuses when the invitation was used by a concurrent activation', async () => {
      const invitation = anInvitation();
      accounts.findPendingPatientInvitation.mockResolvedValue(invitation);
      accounts.activate.mockResolvedValue(false);

      await expect(sut.activate(aPatientActivation(invitation), undefined)).rejects.toMatchObject({ code: 'unauthorized' });
      expect(rateLimit.succeeded).not.toHaveBeenCalled();
    });
  });

  describe('lookUpInvitation', () => {
    it('answers a patient invitation with its chain, and a staff code with none', async () => {
      const invitation = anInvitation();
      accounts.findPendingPatientInvitation.mockResolvedValue(invitation);
      accounts.findPendingStaffCode.mockResolvedValue(aStaffCode());

      const patient = await sut.lookUpInvitation(
        { practice: 'Y00001', lookupId: Buffer.alloc(32, 7).toString('base64'), dateOfBirth: '1984-05-17' },
        undefined,
      );
      const staff = await sut.lookUpInvitation({ practice: 'Y00001', code: 'K7QM-2XWD-9HTR' }, undefined);

      expect(patient).toMatchObject({ userId: invitation.userId, kind: 'patient', invitation: invitation.chain });
      expect(staff).toMatchObject({ kind: 'staff', invitation: null });
      expect(rateLimit.startCredentialAttempt).toHaveBeenCalledWith('code', `Y00001:${Buffer.alloc(32, 7).toString('hex')}`, undefined);
    });

    it('refuses a wrong date of birth like an unknown lookup id', async () => {
      accounts.findPendingPatientInvitation.mockResolvedValueOnce(null).mockResolvedValueOnce(anInvitation());
      const request = { practice: 'Y00001', lookupId: Buffer.alloc(32, 7).toString('base64'), dateOfBirth: '2000-01-01' };

      const unknown = await sut.lookUpInvitation(request, undefined).catch((error: unknown) => error);
      const wrongBirth = await sut.lookUpInvitation(request, undefined).catch((error: unknown) => error);

      expect(unknown).toBeInstanceOf(DomainError);
      expect(unknown).toEqual(wrongBirth);
      expect(rateLimit.succeeded).not.toHaveBeenCalled();
    });
  });

  describe('a voided invitation', () => {
    const request = { practice: 'Y00001', lookupId: Buffer.alloc(32, 7).toString('base64'), dateOfBirth: '1984-05-17' };

    it('is refused as forbidden with the reason, asking for a new invitation, whatever the date of birth', async () => {
      accounts.tryPatientDateOfBirth.mockResolvedValue({ outcome: 'voided', voidedNow: null });

      const refusal = await sut.lookUpInvitation(request, undefined).catch((error: unknown) => error);

      expect(refusal).toMatchObject({ code: 'forbidden', details: { reason: 'invitation_voided' }, message: expect.stringContaining('new invitation') });
      expect(accounts.findPendingPatientInvitation).not.toHaveBeenCalled();
      expect(audit.record).not.toHaveBeenCalled();
    });

    it('tells the practice once, when the try that reached the limit voided it', async () => {
      const voidedNow = { invitationId: randomUUID(), userId: randomUUID(), practiceId: PRACTICE.id, failedAttempts: 10 };
      accounts.tryPatientDateOfBirth.mockResolvedValue({ outcome: 'voided', voidedNow });

      await expect(sut.activate(aPatientActivation(anInvitation(), { dateOfBirth: '1999-01-01' }), undefined)).rejects.toMatchObject({ code: 'forbidden' });

      expect(audit.record).toHaveBeenCalledWith({ practiceId: PRACTICE.id, userId: null, deviceId: null }, 'invitation.voided', {
        subjectUserId: voidedNow.userId,
        data: { invitationId: voidedNow.invitationId, reason: 'too_many_attempts', failedAttempts: 10 },
      });
      expect(accounts.activate).not.toHaveBeenCalled();
    });
  });

  describe('signIn', () => {
    const request = (device: SignInRequest['device']): SignInRequest => ({ practice: 'Y00001', login: '9990000018', authKey: KEY, device });

    it('runs a verification even for an unknown login, and refuses it like a wrong key', async () => {
      accounts.findLoginAccount.mockResolvedValueOnce(null).mockResolvedValueOnce(anAccount());
      hasher.verify.mockResolvedValue(false);

      const unknown = await sut.signIn(request({ deviceId: randomUUID() }), undefined).catch((error: unknown) => error);
      const wrongKey = await sut.signIn(request({ deviceId: randomUUID() }), undefined).catch((error: unknown) => error);

      expect(hasher.verify).toHaveBeenNthCalledWith(1, null, Buffer.alloc(32, 1));
      expect(unknown).toEqual(wrongKey);
      expect(unknown).toMatchObject({ code: 'unauthorized' });
      expect(accounts.startSession).not.toHaveBeenCalled();
    });

    it("refuses a device that is not the user's or is revoked", async () => {
      accounts.findLoginAccount.mockResolvedValue(anAccount());
      hasher.verify.mockResolvedValue(true);
      accounts.startSession.mockResolvedValue(false);

      await expect(sut.signIn(request({ deviceId: randomUUID() }), undefined)).rejects.toMatchObject({ code: 'unauthorized' });
    });

    it('registers a new device without a certificate and starts a session that expires after the configured hours', async () => {
      const account = anAccount();
      accounts.findLoginAccount.mockResolvedValue(account);
      hasher.verify.mockResolvedValue(true);

      const session = await sut.signIn(request({ label: 'Laptop', keys: PUBLIC_KEYS }), undefined);

      expect(accounts.startSessionOnNewDevice).toHaveBeenCalledWith(
        account.id,
        expect.objectContaining({ label: 'Laptop', certificate: null }),
        expect.anything(),
      );
      expect(new Date(session.expiresAt).getTime() - Date.now()).toBeGreaterThan(11.9 * 3600 * 1000);
      expect(rateLimit.succeeded).toHaveBeenCalledWith(attempt);
    });
  });

  describe('prelogin', () => {
    it('gives an unknown login a decoy salt that is stable, differs per login, and has the default cost', async () => {
      accounts.findLoginAccount.mockResolvedValue(null);

      const first = await sut.prelogin({ practice: 'Y00001', login: 'Nobody@example.org' });
      const again = await sut.prelogin({ practice: 'Y00001', login: 'nobody@example.org' });
      const other = await sut.prelogin({ practice: 'Y00001', login: 'somebody@example.org' });

      expect(first).toEqual(again);
      expect(other.salt).not.toBe(first.salt);
      expect(Buffer.from(first.salt, 'base64')).toHaveLength(16);
      expect(first).toMatchObject({ opsLimit: DECOY_KDF.opsLimit, memLimitBytes: DECOY_KDF.memLimitBytes });
    });
  });
});
