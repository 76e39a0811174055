/**
 * Builders for the gateway's tests.
 *
 * - `anActor()`, `aPatient()`, `aClinician()`, `aManager()`: plain Actors for unit tests (no I/O).
 * - `insertPractice()`, `insertUser()`, `insertDevice()`: rows inserted directly, for repository tests.
 * - `api()`: one HTTP call to a running gateway, answering `{ status, body }`.
 * - `createPracticeWithStaff()`: a practice with a manager and a clinician signed in over real HTTP,
 *   its root key pinned, record key version 1 added (with the root's "current" statement) and granted to
 *   both staff devices, both devices admitted with root-signed staff certificates. Everything a client
 *   would hold (secret keys included) comes back for the test to use.
 * - `invitePatient()`: an invitation made as a staff browser makes it (code, lookup id, invitation key,
 *   signatures); the code never reaches the server.
 * - `activatePatient()`: a patient invited by the practice's clinician and activated with real keys
 *   (passphrase-derived auth key, account key signed by the invitation key, certified first device,
 *   sealed backup with the pinned root).
 * - `signIn()`: prelogin, derive, sign in (on a new device or a known one).
 * - `connectAs()`: a `ParleyClient` socket authenticated as a signed-in user.
 *
 * Keys are derived with `TEST_KDF_PARAMS` (1 pass, 8 KiB): fast, and refused outside tests.
 */
import { randomBytes, randomInt, randomUUID } from 'node:crypto';
import { ParleyClient, type ParleyConnectionError } from '@parley/client';
import {
  certifyDevice,
  certifyRecordKey,
  certifyStaffDevice,
  createRecordKey,
  deriveAccountKeys,
  deriveInvitationKeys,
  generateDeviceKeys,
  generateInvitationCode,
  generatePatientAccountKeys,
  generatePracticeRootKey,
  grantRecordKey,
  newSalt,
  ready,
  sealBackup,
  signAccountKey,
  signInvitation,
  signInvitationRoot,
  signRecordKeyCurrent,
  TEST_KDF_PARAMS,
  type IdentityKeys,
  type PassphraseKeys,
  type RecordKey,
  type SigningKeys,
} from '@parley/crypto';
import type { ActivateRequest, CodeIssued, CreateInvitationRequest, InvitationCreated, KdfParams, Role, SessionEnded, SessionInfo } from '@parley/protocol';
import type { DataSource } from 'typeorm';
import { hashInvitationCode, newInvitationCode } from '../src/invitations/invitation-code.js';
import type { Actor } from '../src/common/actor.js';

// ---------------------------------------------------------------------------------------------
// Unit builders

/** An Actor with fresh ids; override what the test is about. */
export function anActor(overrides: Partial<Actor> = {}): Actor {
  return {
    userId: randomUUID(),
    deviceId: randomUUID(),
    sessionId: randomUUID(),
    practiceId: randomUUID(),
    practiceOdsCode: 'Y00001',
    roles: ['patient'],
    displayName: 'Chris Taylor',
    ...overrides,
  };
}

export const aPatient = (overrides: Partial<Actor> = {}): Actor => anActor({ roles: ['patient'], ...overrides });
export const aClinician = (overrides: Partial<Actor> = {}): Actor => anActor({ roles: ['clinician'], displayName: 'Dr Alex Morgan', ...overrides });
export const aManager = (overrides: Partial<Actor> = {}): Actor => anActor({ roles: ['manager'], displayName: 'Sam Patel', ...overrides });

// ---------------------------------------------------------------------------------------------
// Rows inserted directly (repository tests)

/** Inserts a practice; returns its id and ODS code. */
export async function insertPractice(dataSource: DataSource, name = 'Test Surgery'): Promise<{ id: string; odsCode: string }> {
  const id = randomUUID();
  const odsCode = anOdsCode();
  await dataSource.query(`INSERT INTO practices (id, ods_code, name, time_zone) VALUES ($1, $2, $3, 'Europe/London')`, [id, odsCode, name]);
  return { id, odsCode };
}

/** Inserts a user (not activated) of a practice; patients get an NHS number and date of birth, staff an e-mail. */
export async function insertUser(dataSource: DataSource, practiceId: string, roles: Role[] = ['patient']): Promise<string> {
  const id = randomUUID();
  const isPatient = roles.includes('patient');
  await dataSource.query(
    `INSERT INTO users (id, practice_id, roles, display_name, email, nhs_number, date_of_birth) VALUES ($1, $2, $3, 'Someone', $4, $5, $6)`,
    [id, practiceId, roles, isPatient ? null : `${id}@test.parley`, isPatient ? anNhsNumber() : null, isPatient ? '1984-05-17' : null],
  );
  return id;
}

/** Inserts a device of a user with placeholder public keys. */
export async function insertDevice(dataSource: DataSource, userId: string): Promise<string> {
  const id = randomUUID();
  await dataSource.query(`INSERT INTO devices (id, user_id, label, sign_public_key, box_public_key) VALUES ($1, $2, 'phone', $3, $4)`, [
    id,
    userId,
    randomBytes(32),
    randomBytes(32),
  ]);
  return id;
}

/**
 * Inserts a conversation of `patientId` opened at `createdAt` (and queued then): waiting, or assigned to `clinicianId`
 * since then with its live assignment. Returns its id (`id` when given).
 */
export async function insertConversation(
  dataSource: DataSource,
  to: { practiceId: string; patientId: string; deviceId: string },
  createdAt: Date,
  clinicianId?: string,
  id: string = randomUUID(),
): Promise<string> {
  await dataSource.query(
    `INSERT INTO conversations (id, practice_id, patient_id, topic, created_by_device_id, last_hash, created_at, queued_at, status, assigned_clinician_id, assigned_at)
     VALUES ($1, $2, $3, 'admin', $4, $5, $6, $6, $7, $8, $9)`,
    [
      id,
      to.practiceId,
      to.patientId,
      to.deviceId,
      randomBytes(32),
      createdAt,
      clinicianId ? 'assigned' : 'waiting',
      clinicianId ?? null,
      clinicianId ? createdAt : null,
    ],
  );
  if (clinicianId) {
    await dataSource.query(`INSERT INTO assignments (id, conversation_id, clinician_id, practice_id, how, assigned_at) VALUES ($1, $2, $3, $4, 'auto', $5)`, [
      randomUUID(),
      id,
      clinicianId,
      to.practiceId,
      createdAt,
    ]);
  }
  return id;
}

// ---------------------------------------------------------------------------------------------
// HTTP

/** What `api()` answers: the status and the parsed JSON body (null when there is none). */
export interface ApiResponse<T = unknown> {
  status: number;
  body: T;
}

/** An answer with its bytes as received and its headers (an attachment's download). */
export interface BytesResponse<T = unknown> extends ApiResponse<T> {
  raw: Buffer;
  headers: Headers;
}

/**
 * One request to the gateway at `url`: a JSON body if given (or `rawBody` as it is), `Authorization: Bearer` if a
 * token is given; a JSON answer is parsed.
 */
export async function api<T = unknown>(url: string, method: HttpMethod, path: string, options: ApiOptions = {}): Promise<ApiResponse<T>> {
  const { status, body } = await apiBytes<T>(url, method, path, options);
  return { status, body };
}

/** Like `api()`, but also gives the answer's bytes (`raw`; `body` is null unless it is JSON) and headers. */
export async function apiBytes<T = unknown>(url: string, method: HttpMethod, path: string, options: ApiOptions = {}): Promise<BytesResponse<T>> {
  const headers: Record<string, string> = { ...options.headers };
  if (options.token) headers['authorization'] = `Bearer ${options.token}`;
  const hasBody = options.body !== undefined || options.rawBody !== undefined;
  if (hasBody) headers['content-type'] ??= 'application/json';
  const response = await fetch(`${url}${path}`, {
    method,
    headers,
    body: options.rawBody ?? (options.body === undefined ? undefined : JSON.stringify(options.body)),
  });
  const raw = Buffer.from(await response.arrayBuffer());
  const isJson = response.headers.get('content-type')?.includes('json') ?? false;
  const text = isJson || raw.length === 0 ? raw.toString('utf8') : '';
  return { status: response.status, body: (text ? JSON.parse(text) : null) as T, raw, headers: response.headers };
}

type HttpMethod = 'GET' | 'POST' | 'PUT' | 'DELETE';
interface ApiOptions {
  token?: string;
  body?: unknown;
  rawBody?: string | Uint8Array;
  headers?: Record<string, string>;
}

/** Like `api()`, but fails the test unless the status is the expected one; returns the body. */
export async function apiOk<T = unknown>(
  url: string,
  method: 'GET' | 'POST' | 'PUT' | 'DELETE',
  path: string,
  options: { token?: string; body?: unknown } = {},
  expectedStatus = method === 'GET' ? 200 : 204,
): Promise<T> {
  const response = await api<T>(url, method, path, options);
  if (response.status !== expectedStatus) {
    throw new Error(`${method} ${path} answered ${response.status} (expected ${expectedStatus}): ${JSON.stringify(response.body)}`);
  }
  return response.body;
}

const b64 = (bytes: Uint8Array): string => Buffer.from(bytes).toString('base64');

// ---------------------------------------------------------------------------------------------
// Accounts over real HTTP

/** The passphrase test users get unless a test picks one. */
export const TEST_PASSPHRASE = 'correct horse battery staple orbit';

/** A signed-in user as its client holds it. */
export interface SignedIn {
  session: SessionInfo;
  /** The session's bearer token (also `session.token`). */
  token: string;
  /** The device's secret and public keys (a device signed in again by id keeps the keys the test already has). */
  device: IdentityKeys | undefined;
  passphraseKeys: PassphraseKeys;
}

/** A member of staff, signed in on one device. */
export interface TestStaff extends SignedIn {
  userId: string;
  deviceId: string;
  device: IdentityKeys;
  email: string;
  displayName: string;
  roles: Role[];
  passphrase: string;
}

/** A practice with a manager and a clinician, and its keys. */
export interface TestPractice {
  id: string;
  odsCode: string;
  name: string;
  /** The practice root key (PRootK); its public half is pinned on the server. */
  root: SigningKeys;
  /** Record key version 1, granted to both staff devices. */
  recordKey: RecordKey;
  manager: TestStaff;
  clinician: TestStaff;
}

/** A patient activated with real keys, signed in on their first device. */
export interface TestPatient extends SignedIn {
  userId: string;
  deviceId: string;
  device: IdentityKeys;
  /** The patient account key (PAK); on the server only as public keys and the sealed backup. */
  account: IdentityKeys;
  /** The invitation the account was activated with. */
  invitation: TestInvitation;
  nhsNumber: string;
  dateOfBirth: string;
  displayName: string;
  passphrase: string;
}

/** A random ODS-shaped code, unique enough for one test run. */
export const anOdsCode = (): string => `T${randomBytes(4).toString('hex').toUpperCase().slice(0, 7)}`;
/** A random 10-digit NHS-number-shaped string. */
export const anNhsNumber = (): string => String(randomInt(1_000_000_000, 9_999_999_999));

/**
 * Creates a practice in the database, then, over HTTP as real clients would: activates its manager
 * with a set-up code, pins a root key, adds record key version 1, creates and activates a clinician,
 * certifies both staff devices with the root key and grants both the record key.
 */
export async function createPracticeWithStaff(
  gateway: { url: string; dataSource: DataSource },
  options: { name?: string; managerRoles?: Role[] } = {},
): Promise<TestPractice> {
  const { url } = gateway;
  const { id: practiceId, odsCode, name, manager } = await createPracticeWithManager(gateway, options);

  const root = generatePracticeRootKey();
  await apiOk(url, 'PUT', '/api/practice/root-key', { token: manager.token, body: { rootSignPublicKey: b64(root.signPublicKey) } });
  const recordKey = createRecordKey(1);
  await apiOk(url, 'POST', '/api/practice/record-keys', { token: manager.token, body: recordKeyBody(odsCode, recordKey, root) });

  const clinicianEmail = `clinician.${randomUUID().slice(0, 8)}@test.parley`;
  const issued = await apiOk<CodeIssued>(
    url,
    'POST',
    '/api/staff',
    { token: manager.token, body: { displayName: 'Dr Alex Morgan', email: clinicianEmail, roles: ['clinician'] } },
    201,
  );
  const clinician = await activateStaff(url, odsCode, issued.code, { userId: issued.userId, email: clinicianEmail, roles: ['clinician'] });

  for (const member of [manager, clinician]) {
    await apiOk(url, 'PUT', `/api/devices/${member.deviceId}/certificate`, { token: manager.token, body: staffCertificateBody(odsCode, root, member) });
    const grant = grantRecordKey({
      practiceId: odsCode,
      recordKey,
      recipientBoxPublicKey: member.device.boxPublicKey,
      granterSignSecretKey: manager.device.signSecretKey,
    });
    await apiOk(url, 'POST', '/api/practice/record-key-grants', {
      token: manager.token,
      body: { version: 1, deviceId: member.deviceId, sealedSeed: b64(grant.sealedSeed), signature: b64(grant.signature) },
    });
  }
  return { id: practiceId, odsCode, name, root, recordKey, manager, clinician };
}

/** The body of POST /api/practice/record-keys: the key, its root certificate and the root's statement that it is current. */
export function recordKeyBody(odsCode: string, recordKey: RecordKey, root: SigningKeys, validFrom = Date.now()) {
  const certificate = certifyRecordKey({ practiceId: odsCode, version: recordKey.version, publicKey: recordKey.boxPublicKey, validFrom }, root.signSecretKey);
  const current = { practiceId: odsCode, version: recordKey.version, publicKey: recordKey.boxPublicKey, issuedAt: Date.now() };
  return {
    version: recordKey.version,
    boxPublicKey: b64(recordKey.boxPublicKey),
    validFrom: certificate.validFrom,
    certificate: b64(certificate.signature),
    current: { issuedAt: current.issuedAt, signature: b64(signRecordKeyCurrent(current, root.signSecretKey)) },
  };
}

/** The body of PUT /api/devices/:id/certificate that admits a staff device: a v2 root certificate naming the person as registered. */
export function staffCertificateBody(
  odsCode: string,
  root: SigningKeys,
  member: Pick<TestStaff, 'userId' | 'deviceId' | 'displayName' | 'roles'> & { device: Pick<IdentityKeys, 'signPublicKey' | 'boxPublicKey'> },
) {
  const certifiedAs = { displayName: member.displayName, roles: member.roles.filter((role): role is 'clinician' | 'manager' => role !== 'patient') };
  const signature = certifyStaffDevice(
    {
      practiceId: odsCode,
      userId: member.userId,
      deviceId: member.deviceId,
      signPublicKey: member.device.signPublicKey,
      boxPublicKey: member.device.boxPublicKey,
      ...certifiedAs,
    },
    root.signSecretKey,
  );
  return { certificate: b64(signature), certifiedAs };
}

/**
 * A practice (inserted) whose first manager activated a set-up code over HTTP: no root key, no record
 * keys, no other staff. The first manager cannot be created over HTTP (nobody can sign in yet), so its
 * account and code are inserted, as the seed would.
 */
export async function createPracticeWithManager(
  gateway: { url: string; dataSource: DataSource },
  options: { name?: string; managerRoles?: Role[] } = {},
): Promise<{ id: string; odsCode: string; name: string; manager: TestStaff }> {
  await ready();
  const { url, dataSource } = gateway;
  const id = randomUUID();
  const odsCode = anOdsCode();
  const name = options.name ?? 'Test Surgery';
  await dataSource.query(`INSERT INTO practices (id, ods_code, name, time_zone) VALUES ($1, $2, $3, 'Europe/London')`, [id, odsCode, name]);
  const managerId = randomUUID();
  const email = `manager.${managerId.slice(0, 8)}@test.parley`;
  const roles = options.managerRoles ?? ['manager'];
  await dataSource.query(`INSERT INTO users (id, practice_id, roles, display_name, email) VALUES ($1, $2, $3, 'Sam Patel', $4)`, [managerId, id, roles, email]);
  const code = newInvitationCode();
  await dataSource.query(
    `INSERT INTO invitations (id, practice_id, user_id, code_hash, created_by, expires_at) VALUES ($1, $2, $3, $4, $3, now() + interval '1 day')`,
    [randomUUID(), id, managerId, hashInvitationCode(code)],
  );
  const manager = await activateStaff(url, odsCode, code, { userId: managerId, email, roles });
  return { id, odsCode, name, manager };
}

/** Activates a staff account with its set-up code on a new device. */
export async function activateStaff(
  url: string,
  odsCode: string,
  code: string,
  who: { userId: string; email: string; roles: Role[] },
  passphrase = TEST_PASSPHRASE,
): Promise<TestStaff> {
  await ready();
  const passphraseKeys = deriveAccountKeys(passphrase, newSalt(), TEST_KDF_PARAMS);
  const device = generateDeviceKeys();
  const body: ActivateRequest = {
    practice: odsCode,
    code,
    authKey: b64(passphraseKeys.authKey),
    kdf: kdfOf(passphraseKeys),
    device: { label: 'Surgery PC', keys: { signPublicKey: b64(device.signPublicKey), boxPublicKey: b64(device.boxPublicKey) } },
  };
  const session = await apiOk<SessionInfo>(url, 'POST', '/api/auth/activate', { body }, 200);
  return { ...who, displayName: session.user.displayName, session, token: session.token, deviceId: session.deviceId, device, passphraseKeys, passphrase };
}

/** The Argon2id cost an invitation's keys are derived with (deriveInvitationKeys' third argument). */
type KdfCost = Parameters<typeof deriveInvitationKeys>[2];

/** An invitation as the staff browser made it: what it gives the patient and what both sides derive from the code. */
export interface TestInvitation {
  /** The code the patient is given; it never reaches the server. */
  code: string;
  userId: string;
  /** Milliseconds since 1970, as signed. */
  expiresAt: number;
  /** Derived from the code: the server's lookup id and the invitation key V. */
  lookupId: Uint8Array;
  invitationKeys: SigningKeys;
  /** The practice root key V signed, which the patient's client pins. */
  rootSignPublicKey: Uint8Array;
  displayName: string;
  nhsNumber: string;
  dateOfBirth: string;
}

/**
 * A patient invited by `staff` (an admitted clinician or manager of `practice`) as its browser does it: it
 * makes the code, derives the lookup id and invitation key (at the test cost), signs the key for this
 * patient with its device key and the root key it pinned (never one a server answer names) with the
 * invitation key, and sends all but the code.
 */
export async function invitePatient(
  url: string,
  staff: SignedIn & { device: IdentityKeys },
  practice: Pick<TestPractice, 'odsCode' | 'root'>,
  identity: { displayName?: string; nhsNumber?: string; dateOfBirth?: string; kdf?: KdfCost } = {},
): Promise<TestInvitation> {
  await ready();
  const { odsCode } = practice;
  const rootSignPublicKey = practice.root.signPublicKey;
  const code = generateInvitationCode();
  // By default the cheap test cost (TEST_KDF_PARAMS carries isTestOnly), which a real client refuses;
  // a test that hands the code to the patient web app passes INVITATION_KDF_PARAMS, the cost it derives with.
  const derived = deriveInvitationKeys(code, odsCode, identity.kdf ?? { ...TEST_KDF_PARAMS });
  const userId = randomUUID();
  const expiresAt = Date.now() + 30 * 24 * 3600 * 1000;
  const invitationSignPublicKey = derived.signKeys.signPublicKey;
  const body: CreateInvitationRequest = {
    userId,
    displayName: identity.displayName ?? 'Chris Taylor',
    nhsNumber: identity.nhsNumber ?? anNhsNumber(),
    dateOfBirth: identity.dateOfBirth ?? '1984-05-17',
    lookupId: b64(derived.lookupId),
    invitationSignPublicKey: b64(invitationSignPublicKey),
    invitationSignature: b64(signInvitation({ practiceId: odsCode, patientId: userId, invitationSignPublicKey, expiresAt }, staff.device.signSecretKey)),
    rootSignature: b64(signInvitationRoot({ practiceId: odsCode, rootSignPublicKey }, derived.signKeys.signSecretKey)),
    expiresAt,
  };
  await apiOk<InvitationCreated>(url, 'POST', '/api/invitations', { token: staff.token, body }, 201);
  return {
    code,
    userId,
    expiresAt,
    lookupId: derived.lookupId,
    invitationKeys: derived.signKeys,
    rootSignPublicKey,
    displayName: body.displayName,
    nhsNumber: body.nhsNumber,
    dateOfBirth: body.dateOfBirth,
  };
}

/**
 * The activation request a patient's client would send for an invitation: passphrase-derived keys, a
 * new account key signed by the invitation key, a first device certified by it, and the account key
 * with the pinned root sealed in a backup.
 */
export async function patientActivation(
  odsCode: string,
  invitation: Pick<TestInvitation, 'userId' | 'lookupId' | 'invitationKeys' | 'rootSignPublicKey' | 'dateOfBirth'>,
  passphrase = TEST_PASSPHRASE,
): Promise<{ body: ActivateRequest; device: IdentityKeys; account: IdentityKeys; passphraseKeys: PassphraseKeys }> {
  await ready();
  const { userId } = invitation;
  const passphraseKeys = deriveAccountKeys(passphrase, newSalt(), TEST_KDF_PARAMS);
  const account = generatePatientAccountKeys();
  const device = generateDeviceKeys();
  const deviceId = randomUUID();
  const certificate = certifyDevice({ userId, deviceId, signPublicKey: device.signPublicKey, boxPublicKey: device.boxPublicKey }, account.signSecretKey);
  const accountSignature = signAccountKey(
    { practiceId: odsCode, patientId: userId, signPublicKey: account.signPublicKey, boxPublicKey: account.boxPublicKey },
    invitation.invitationKeys.signSecretKey,
  );
  const backup = sealBackup({ userId, backupVersion: 1, accountKeys: account, pinnedRoot: invitation.rootSignPublicKey, passphraseKeys });
  const body: ActivateRequest = {
    practice: odsCode,
    lookupId: b64(invitation.lookupId),
    dateOfBirth: invitation.dateOfBirth,
    authKey: b64(passphraseKeys.authKey),
    kdf: kdfOf(passphraseKeys),
    device: { label: 'My phone', keys: { signPublicKey: b64(device.signPublicKey), boxPublicKey: b64(device.boxPublicKey) } },
    account: {
      userId,
      deviceId,
      keys: { signPublicKey: b64(account.signPublicKey), boxPublicKey: b64(account.boxPublicKey) },
      deviceCertificate: b64(certificate.signature),
      accountSignature: b64(accountSignature),
      backup: b64(backup),
    },
  };
  return { body, device, account, passphraseKeys };
}

/** Invites a patient (as the practice's clinician) and activates the account with real keys; staff trust it through the invitation. */
export async function activatePatient(
  url: string,
  practice: TestPractice,
  options: { displayName?: string; nhsNumber?: string; dateOfBirth?: string; passphrase?: string } = {},
): Promise<TestPatient> {
  const passphrase = options.passphrase ?? TEST_PASSPHRASE;
  const invitation = await invitePatient(url, practice.clinician, practice, options);
  const { body, device, account, passphraseKeys } = await patientActivation(practice.odsCode, invitation, passphrase);
  const session = await apiOk<SessionInfo>(url, 'POST', '/api/auth/activate', { body }, 200);
  return {
    session,
    token: session.token,
    userId: invitation.userId,
    deviceId: session.deviceId,
    device,
    account,
    invitation,
    passphraseKeys,
    passphrase,
    nhsNumber: invitation.nhsNumber,
    dateOfBirth: invitation.dateOfBirth,
    displayName: invitation.displayName,
  };
}

/**
 * Signs in as a client does: prelogin for the salt and cost, derive the auth key, sign in, on a new
 * device (keys made here) or on `deviceId`. Fails the test on any refusal; use `api()` to test refusals.
 */
export async function signIn(
  url: string,
  credentials: { practice: string; login: string; passphrase?: string; deviceId?: string; label?: string },
): Promise<SignedIn> {
  const passphraseKeys = await derivedKeysFor(url, credentials.practice, credentials.login, credentials.passphrase ?? TEST_PASSPHRASE);
  const device = credentials.deviceId ? undefined : generateDeviceKeys();
  const session = await apiOk<SessionInfo>(
    url,
    'POST',
    '/api/auth/sign-in',
    {
      body: {
        practice: credentials.practice,
        login: credentials.login,
        authKey: b64(passphraseKeys.authKey),
        device: device
          ? { label: credentials.label ?? 'Second device', keys: { signPublicKey: b64(device.signPublicKey), boxPublicKey: b64(device.boxPublicKey) } }
          : { deviceId: credentials.deviceId },
      },
    },
    200,
  );
  return { session, token: session.token, device, passphraseKeys };
}

/** Prelogin, then the keys a client derives from the passphrase with the salt and cost it was given. */
export async function derivedKeysFor(url: string, practice: string, login: string, passphrase: string): Promise<PassphraseKeys> {
  await ready();
  const kdf = await apiOk<KdfParams>(url, 'POST', '/api/auth/prelogin', { body: { practice, login } }, 200);
  // isTestOnly: test accounts use the cheap test cost, which a real client would refuse.
  return deriveAccountKeys(passphrase, Buffer.from(kdf.salt, 'base64'), { opsLimit: kdf.opsLimit, memLimit: kdf.memLimitBytes, isTestOnly: true });
}

/** A socket authenticated with a signed-in user's token. */
export function connectAs(url: string, signedIn: Pick<SignedIn, 'token'>, requestTimeoutMs = 2_000): Promise<ParleyClient> {
  return ParleyClient.connect({ url, token: signedIn.token, requestTimeoutMs });
}

/** The clinician a conversation is assigned to now, read from the database (null while nobody is). */
export async function assigneeOf(dataSource: DataSource, conversationId: string): Promise<string | null> {
  return (await dataSource.query(`SELECT assigned_clinician_id FROM conversations WHERE id = $1`, [conversationId]))[0].assigned_clinician_id as string | null;
}

/** Resolves with the reason of the next `session:ended` the client receives. */
export function sessionEnded(client: ParleyClient): Promise<SessionEnded['reason']> {
  return new Promise((resolve) => client.on('session:ended', (fact) => resolve(fact.reason)));
}

/** Resolves once the client has stopped for good. */
export function stopped(client: ParleyClient): Promise<ParleyConnectionError> {
  return new Promise((resolve) => {
    if (client.stoppedBy) resolve(client.stoppedBy);
    client.on('stopped', resolve);
  });
}

/** The KDF parameters of derived keys, as the protocol carries them. */
export function kdfOf(keys: PassphraseKeys): KdfParams {
  return { salt: b64(keys.salt), opsLimit: keys.params.opsLimit, memLimitBytes: keys.params.memLimit };
}
