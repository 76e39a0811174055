import { randomBytes, randomUUID } from 'node:crypto';
import type { TestDatabase } from '@parley/testing';
import type { DataSource } from 'typeorm';
import { freshDatabase } from '../../test/database.js';
import { anNhsNumber, insertDevice, insertPractice, insertUser } from '../../test/factories.js';
import { openDatabase } from '../database/data-source.js';
import { AccountKeysRepository } from '../account-keys/account-keys.repository.js';
import { hashInvitationCode } from '../invitations/invitation-code.js';
import { InvitationsRepository, type SignedInvitation } from '../invitations/invitations.repository.js';
import { SignInRepository, type Activation } from './sign-in.repository.js';

describe(SignInRepository.name, () => {
  let database: TestDatabase;
  let dataSource: DataSource;
  let sut: SignInRepository;
  // An activation spans the account features: invitations create the account, account keys read what activation stored.
  let invitations: InvitationsRepository;
  let accountKeys: AccountKeysRepository;

  beforeAll(async () => {
    database = await freshDatabase();
    dataSource = await openDatabase(database.url);
    sut = new SignInRepository(dataSource);
    invitations = new InvitationsRepository(dataSource);
    accountKeys = new AccountKeysRepository(dataSource);
  });

  afterAll(async () => {
    await dataSource.destroy();
    await database.drop();
  });

  const count = async (table: string, userId: string) =>
    (await dataSource.query(`SELECT count(*)::int AS n FROM ${table} WHERE user_id = $1`, [userId]))[0].n as number;

  /** A patient invited by a staff client (lookup id and signed chain) and the activation their client would store. */
  async function anInvitedPatient(): Promise<{ activation: Activation; lookupId: Buffer; invitation: SignedInvitation; odsCode: string }> {
    const practice = await insertPractice(dataSource);
    const staffId = await insertUser(dataSource, practice.id, ['clinician']);
    const userId = randomUUID();
    const invitationId = randomUUID();
    const invitation: SignedInvitation = {
      lookupId: randomBytes(32),
      invitationSignPublicKey: randomBytes(32),
      invitationSignature: randomBytes(64),
      rootSignature: randomBytes(64),
      creatorDeviceId: await insertDevice(dataSource, staffId),
    };
    await invitations.createAccount({
      userId,
      practiceId: practice.id,
      roles: ['patient'],
      displayName: 'Chris Taylor',
      email: null,
      nhsNumber: anNhsNumber(),
      dateOfBirth: '1984-05-17',
      invitationId,
      credential: invitation,
      createdBy: staffId,
      expiresAt: new Date(Date.now() + 86_400_000),
    });
    const kdf = { salt: randomBytes(16), opsLimit: 3, memLimitBytes: 64 * 1024 * 1024 };
    const activation: Activation = {
      invitationId,
      userId,
      authKeyHash: '$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA',
      kdf,
      device: { id: randomUUID(), label: 'phone', signPublicKey: randomBytes(32), boxPublicKey: randomBytes(32), certificate: randomBytes(64) },
      account: { id: randomUUID(), signPublicKey: randomBytes(32), boxPublicKey: randomBytes(32), accountSignature: randomBytes(64), backup: randomBytes(208) },
      session: { id: randomUUID(), tokenHash: randomBytes(32), expiresAt: new Date(Date.now() + 3600_000), ip: '10.0.0.1' },
    };
    return { activation, lookupId: invitation.lookupId, invitation, odsCode: practice.odsCode };
  }

  it('finds a pending patient invitation by lookup id in its practice only, with the date of birth as written and its chain', async () => {
    const { activation, lookupId, invitation, odsCode } = await anInvitedPatient();

    const found = await sut.findPendingPatientInvitation(odsCode, lookupId);
    const elsewhere = await sut.findPendingPatientInvitation('ZZZ999', lookupId);

    expect(found).toMatchObject({
      id: activation.invitationId,
      userId: activation.userId,
      dateOfBirth: '1984-05-17',
      practice: { odsCode },
      invitationSignPublicKey: invitation.invitationSignPublicKey,
      chain: {
        invitationSignPublicKey: invitation.invitationSignPublicKey.toString('base64'),
        invitationSignature: invitation.invitationSignature.toString('base64'),
        rootSignature: invitation.rootSignature.toString('base64'),
        creator: { deviceId: invitation.creatorDeviceId, certificate: null, certifiedAs: null },
      },
    });
    expect(elsewhere).toBeNull();
  });

  it('finds a staff set-up code by its hash, and never a patient invitation that way', async () => {
    const practice = await insertPractice(dataSource);
    const staffId = await insertUser(dataSource, practice.id, ['clinician']);
    const code = 'ABCD-EFGH-' + randomUUID().slice(0, 4).toUpperCase();
    await dataSource.query(
      `INSERT INTO invitations (id, practice_id, user_id, code_hash, created_by, expires_at) VALUES ($1, $2, $3, $4, $3, now() + interval '1 day')`,
      [randomUUID(), practice.id, staffId, hashInvitationCode(code)],
    );

    expect(await sut.findPendingStaffCode(practice.odsCode, hashInvitationCode(code))).toMatchObject({ userId: staffId, roles: ['clinician'] });
    expect(await sut.findPendingPatientInvitation(practice.odsCode, hashInvitationCode(code))).toBeNull();
  });

  it('keeps the account signature and the invitation with the account key, and answers its chain', async () => {
    const { activation, invitation } = await anInvitedPatient();
    await sut.activate(activation);

    const account = await accountKeys.findPatientAccountKey(activation.userId);

    expect(account).toMatchObject({
      userId: activation.userId,
      signPublicKey: activation.account!.signPublicKey.toString('base64'),
      accountSignature: activation.account!.accountSignature.toString('base64'),
      certificate: null,
      invitation: { invitationSignPublicKey: invitation.invitationSignPublicKey.toString('base64'), creator: { deviceId: invitation.creatorDeviceId } },
    });
  });

  it('stores everything of an activation, once: the second one with the same code stores nothing', async () => {
    const { activation, odsCode } = await anInvitedPatient();

    const first = await sut.activate(activation);
    const second = await sut.activate({
      ...activation,
      device: { ...activation.device, id: randomUUID() },
      session: { ...activation.session, id: randomUUID(), tokenHash: randomBytes(32) },
    });
    const [user] = await dataSource.query(`SELECT nhs_number FROM users WHERE id = $1`, [activation.userId]);
    const account = await sut.findLoginAccount(odsCode, user.nhs_number);

    expect([first, second]).toEqual([true, false]);
    expect([
      await count('devices', activation.userId),
      await count('sessions', activation.userId),
      await count('account_keys', activation.userId),
      await count('key_backups', activation.userId),
    ]).toEqual([1, 1, 1, 1]);
    expect(account).toMatchObject({ id: activation.userId, kdf: activation.kdf });
  });

  it('rolls the whole activation back when one row is refused', async () => {
    const { activation } = await anInvitedPatient();
    const takenDeviceId = await insertDevice(dataSource, await insertUser(dataSource, (await insertPractice(dataSource)).id));

    await expect(sut.activate({ ...activation, device: { ...activation.device, id: takenDeviceId } })).rejects.toThrow(/duplicate key/);
    const [invitation] = await dataSource.query(`SELECT used_at FROM invitations WHERE id = $1`, [activation.invitationId]);
    const [user] = await dataSource.query(`SELECT activated_at, auth_key_hash FROM users WHERE id = $1`, [activation.userId]);

    expect(invitation.used_at).toBeNull();
    expect(user).toEqual({ activated_at: null, auth_key_hash: null });
    expect(await count('sessions', activation.userId)).toBe(0);
  });

  it('refuses a backup or a certificate of the wrong size, and rewriting a certified account key', async () => {
    const { activation } = await anInvitedPatient();
    await sut.activate(activation);

    await expect(accountKeys.replaceBackup(activation.userId, randomBytes(175), activation.kdf)).rejects.toThrow(/check constraint/);
    await expect(accountKeys.certifyAccountKey(activation.account!.id, randomBytes(63), activation.userId)).rejects.toThrow(/check constraint/);
    expect(await accountKeys.certifyAccountKey(activation.account!.id, randomBytes(64), activation.userId)).toBe(true);
    await expect(dataSource.query(`UPDATE account_keys SET certificate = $2 WHERE id = $1`, [activation.account!.id, randomBytes(64)])).rejects.toThrow(
      /never rewritten/,
    );
    await expect(dataSource.query(`UPDATE account_keys SET sign_public_key = $2 WHERE id = $1`, [activation.account!.id, randomBytes(32)])).rejects.toThrow(
      /never rewritten/,
    );
  });

  it('generates a server secret once and hands every caller the same one', async () => {
    const secrets = await Promise.all(Array.from({ length: 5 }, () => sut.serverSecret('test_secret')));

    expect(new Set(secrets.map((secret) => secret.toString('hex'))).size).toBe(1);
    expect(secrets[0]).toHaveLength(32);
  });
});
