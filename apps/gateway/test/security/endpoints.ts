/**
 * How to call every socket command and HTTP route of the authorisation matrix with a well-formed
 * request about a given object, so that what decides the answer is authorisation and nothing else
 * (a malformed request would be refused as `invalid_payload` before any check that matters here).
 */
import { createECDH, randomBytes, randomInt, randomUUID } from 'node:crypto';
import { certifyPatientAccountKey, signRevocationList } from '@parley/crypto';
import type { Express } from 'express';
import type { NestExpressApplication } from '@nestjs/platform-express';
import { api, signIn, kdfOf, staffCertificateBody, type TestPatient, type TestStaff } from '../factories.js';
import type { MatrixRole, Relation, World } from './world.js';

const b64 = (bytes: Uint8Array): string => Buffer.from(bytes).toString('base64');
const FAR_DATE = '2031-01-02';
/** Each PUT of the revocation list must be newer than the last one stored. */
let revocationListVersion = 0;

/** A well-formed Web Push subscription to a push service that does not exist (the matrix never lets a push go out). */
function aPushSubscription() {
  const ecdh = createECDH('prime256v1');
  ecdh.generateKeys();
  return {
    endpoint: `https://push.invalid/${randomUUID()}`,
    keys: { p256dh: ecdh.getPublicKey().toString('base64url'), auth: randomBytes(16).toString('base64url') },
  };
}

/** The object a cell is about, resolved in the world. */
export function conversationFor(world: World, role: MatrixRole, relation: Relation): string {
  const { mine, colleague, waiting } = world.conversations;
  if (role === 'patient') return relation === 'own' ? mine : colleague;
  if (relation === 'assigned-to-me') return mine;
  if (relation === 'colleagues') return colleague;
  if (relation === 'unassigned') return waiting;
  return mine;
}

function followUpFor(world: World, role: MatrixRole, relation: Relation): string {
  // A manager owns no follow-up: "own" is then the practice's (C's) one, "colleagues" C2's.
  return relation === 'own' ? world.followUps.mine : world.followUps.colleague;
}

/** The patient account a `patient-account` cell is about. */
function patientFor(world: World, role: MatrixRole, relation: Relation): TestPatient {
  if (relation === 'own') return world.patient;
  if (role === 'patient') return world.otherPatient;
  if (role === 'clinician' || role === 'manager') return world.foreignPatient;
  return world.patient;
}

/** A device and its owner's public keys (and, for staff, what their certificate names), for `device` cells. */
interface DeviceRef {
  userId: string;
  deviceId: string;
  device: { signPublicKey: Uint8Array; boxPublicKey: Uint8Array };
  staff?: TestStaff;
}

function deviceFor(world: World, role: MatrixRole, relation: Relation): DeviceRef {
  const staffDevice = (member: TestStaff): DeviceRef => ({ ...member, staff: member });
  const own: Partial<Record<MatrixRole, DeviceRef>> = {
    patient: world.patient,
    'other-practice-patient': world.foreignPatient,
    clinician: staffDevice(world.practice.clinician),
    manager: staffDevice(world.practice.manager),
  };
  const colleagues: Partial<Record<MatrixRole, DeviceRef>> = {
    patient: world.otherPatient,
    'other-practice-patient': world.patient,
    clinician: staffDevice(world.colleague),
    manager: staffDevice(world.practice.clinician),
  };
  return (relation === 'own' ? own[role] : colleagues[role]) ?? world.patient;
}

/** A socket command's payload for one cell. */
export function commandPayload(world: World, command: string, role: MatrixRole, relation: Relation): unknown {
  const conversationId = conversationFor(world, role, relation);
  switch (command) {
    case 'system:ping':
    case 'conversation:list':
    case 'hours:get':
    case 'queue:list':
    case 'follow-up:list':
    case 'dashboard:get':
      return {};
    case 'conversation:open':
      return {
        conversationId,
        topic: 'admin',
        envelopes: [
          { recipient: { kind: 'record', version: 1 }, recipientKeyId: b64(randomBytes(16)), sealedKey: b64(randomBytes(80)), signature: b64(randomBytes(64)) },
        ],
      };
    case 'conversation:epoch':
      return {
        conversationId,
        // Not the current epoch + 1: refused `conflict` once authorised, so the world keeps epoch 1.
        epoch: 3,
        reason: 'age',
        envelopes: [
          { recipient: { kind: 'record', version: 1 }, recipientKeyId: b64(randomBytes(16)), sealedKey: b64(randomBytes(80)), signature: b64(randomBytes(64)) },
        ],
      };
    case 'conversation:join':
    case 'conversation:claim':
    case 'conversation:urgent':
      return { conversationId };
    case 'conversation:sync':
      return { conversationId, afterSeq: 0, limit: 10 };
    case 'conversation:typing':
      return { conversationId, isTyping: false };
    case 'conversation:receipt':
      return { conversationId, kind: 'delivered', upToSeq: 1 };
    case 'conversation:send':
      return {
        conversationId,
        clientMessageId: randomUUID(),
        epoch: 1,
        // Far above what the world's chat sessions use on the same devices.
        senderDeviceSeq: 1_000_000 + randomInt(1_000_000),
        contentType: 'text',
        ciphertext: b64(randomBytes(48)),
        nonce: b64(randomBytes(24)),
      };
    case 'staff:availability':
      return { availability: 'available' };
    case 'capacity:set-clinician':
      return { clinicianId: world.practice.clinician.userId, maxConcurrent: 1, dailyMax: null };
    case 'capacity:set-practice':
      return { maxQueue: null, maxNewPerDay: null, isIntakePaused: false };
    case 'conversation:transfer': {
      // To whoever holds it already (or back to the queue when it waits): past authorisation, it changes nothing.
      const holder = conversationId === world.conversations.colleague ? world.colleague.userId : world.practice.clinician.userId;
      return { conversationId, to: conversationId === world.conversations.waiting ? 'queue' : { clinicianId: holder } };
    }
    case 'conversation:hold':
      return { conversationId, isOnHold: false };
    case 'conversation:close':
      return { conversationId, outcome: 'resolved' };
    case 'conversation:request-attachment':
      return { conversationId, kind: 'photo' };
    case 'follow-up:done':
      return { followUpId: followUpFor(world, role, relation) };
    default:
      throw new Error(`no payload for ${command}: add it to endpoints.ts`);
  }
}

/** An HTTP request for one cell. */
export interface HttpCall {
  method: string;
  path: string;
  body?: unknown;
  /** A body sent as it is (an upload part), with its headers. */
  rawBody?: Uint8Array;
  headers?: Record<string, string>;
  /** A token to use instead of the role's (a throwaway session, for calls that end it). */
  token?: string;
}

const routeCalls: Record<string, (world: World, role: MatrixRole, relation: Relation) => HttpCall | Promise<HttpCall>> = {
  'GET /health/live': () => ({ method: 'GET', path: '/health/live' }),
  'GET /health/ready': () => ({ method: 'GET', path: '/health/ready' }),
  'GET /api/version': () => ({ method: 'GET', path: '/api/version' }),
  'GET /metrics': () => ({ method: 'GET', path: '/metrics' }),
  'POST /api/auth/prelogin': (world) => ({
    method: 'POST',
    path: '/api/auth/prelogin',
    body: { practice: world.practice.odsCode, login: world.patient.nhsNumber },
  }),
  'POST /api/auth/invitation': (world) => ({
    method: 'POST',
    path: '/api/auth/invitation',
    body: { practice: world.practice.odsCode, lookupId: b64(randomBytes(32)), dateOfBirth: '1984-05-17' },
  }),
  'POST /api/auth/activate': (world) => ({ method: 'POST', path: '/api/auth/activate', body: { practice: world.practice.odsCode, code: 'ABCD-EFGH-JKLM' } }),
  'POST /api/auth/sign-in': (world) => ({
    method: 'POST',
    path: '/api/auth/sign-in',
    body: { practice: world.practice.odsCode, login: world.patient.nhsNumber, authKey: b64(randomBytes(32)), device: { deviceId: world.patient.deviceId } },
  }),
  'POST /api/auth/sign-out': async (world, role) => ({ method: 'POST', path: '/api/auth/sign-out', token: await sessionToSignOut(world, role) }),
  'POST /api/auth/sign-out-everywhere': async (world, role) => ({
    method: 'POST',
    path: '/api/auth/sign-out-everywhere',
    token: await throwawaySession(world, role),
  }),
  'GET /api/keys/backup': () => ({ method: 'GET', path: '/api/keys/backup' }),
  'GET /api/keys/account': () => ({ method: 'GET', path: '/api/keys/account' }),
  'PUT /api/keys/backup': (world, role) => {
    const patient = role === 'other-practice-patient' ? world.foreignPatient : world.patient;
    return { method: 'PUT', path: '/api/keys/backup', body: { backup: b64(randomBytes(208)), kdf: kdfOf(patient.passphraseKeys) } };
  },
  'PUT /api/users/:id/account-key-certificate': (world, role, relation) => {
    const patient = patientFor(world, role, relation);
    const certificate = certifyPatientAccountKey(
      { patientId: patient.userId, signPublicKey: patient.account.signPublicKey, boxPublicKey: patient.account.boxPublicKey },
      world.practice.root.signSecretKey,
    );
    return { method: 'PUT', path: `/api/users/${patient.userId}/account-key-certificate`, body: { certificate: b64(certificate.signature) } };
  },
  'POST /api/invitations': () => ({ method: 'POST', path: '/api/invitations', body: invitationBody() }),
  'POST /api/auth/recovery': (world) => ({
    method: 'POST',
    path: '/api/auth/recovery',
    body: { practice: world.practice.odsCode, lookupId: b64(randomBytes(32)), dateOfBirth: '1984-05-17' },
  }),
  'POST /api/auth/recovery/submit': (world) => ({
    method: 'POST',
    path: '/api/auth/recovery/submit',
    body: {
      practice: world.practice.odsCode,
      lookupId: b64(randomBytes(32)),
      dateOfBirth: '1984-05-17',
      authKey: b64(randomBytes(32)),
      kdf: kdfOf(world.patient.passphraseKeys),
      account: {
        keys: { signPublicKey: b64(randomBytes(32)), boxPublicKey: b64(randomBytes(32)) },
        accountSignature: b64(randomBytes(64)),
        backup: b64(randomBytes(208)),
      },
    },
  }),
  'POST /api/recoveries': (world) => ({
    method: 'POST',
    path: '/api/recoveries',
    body: {
      recoveryId: randomUUID(),
      patientId: world.patient.userId,
      lookupId: b64(randomBytes(32)),
      recoverySignPublicKey: b64(randomBytes(32)),
      recoverySignature: b64(randomBytes(64)),
      rootSignature: b64(randomBytes(64)),
      expiresAt: 1,
    },
  }),
  'GET /api/recoveries': () => ({ method: 'GET', path: '/api/recoveries' }),
  'POST /api/recoveries/:id/approvals': () => ({
    method: 'POST',
    path: `/api/recoveries/${randomUUID()}/approvals`,
    body: { accountSignPublicKey: b64(randomBytes(32)) },
  }),
  'GET /api/recoveries/:id/history': () => ({ method: 'GET', path: `/api/recoveries/${randomUUID()}/history` }),
  'POST /api/recoveries/:id/complete': () => ({
    method: 'POST',
    path: `/api/recoveries/${randomUUID()}/complete`,
    body: { certificate: b64(randomBytes(64)), envelopes: [] },
  }),
  'POST /api/staff': () => ({
    method: 'POST',
    path: '/api/staff',
    body: { displayName: 'Matrix Staff', email: `matrix.${randomUUID().slice(0, 8)}@test.parley`, roles: ['clinician'] },
  }),
  'GET /api/devices': () => ({ method: 'GET', path: '/api/devices' }),
  'POST /api/devices/:id/revoke': async (world, role, relation) => {
    if (relation !== 'own' || !isLive(role)) return { method: 'POST', path: `/api/devices/${deviceFor(world, role, relation).deviceId}/revoke` };
    // Revoking one's own device ends its session: revoke a throwaway one, signed in for the purpose.
    const throwaway = await throwawayDevice(world, role);
    return { method: 'POST', path: `/api/devices/${throwaway.deviceId}/revoke`, token: throwaway.token };
  },
  // Staff devices get a valid root certificate naming the person (re-admission keeps the world working); patients' a placeholder.
  'PUT /api/devices/:id/certificate': (world, role, relation) => {
    const target = deviceFor(world, role, relation);
    const body = target.staff ? staffCertificateBody(world.practice.odsCode, world.practice.root, target.staff) : { certificate: b64(randomBytes(64)) };
    return { method: 'PUT', path: `/api/devices/${target.deviceId}/certificate`, body };
  },
  'GET /api/hours': () => ({ method: 'GET', path: '/api/hours' }),
  'PUT /api/hours/weekly': () => ({ method: 'PUT', path: '/api/hours/weekly', body: { intervals: [] } }),
  'PUT /api/hours/exceptions/:date': () => ({
    method: 'PUT',
    path: `/api/hours/exceptions/${FAR_DATE}`,
    body: { label: 'Matrix day', intervals: [{ start: '00:00', end: '24:00' }] },
  }),
  'DELETE /api/hours/exceptions/:date': () => ({ method: 'DELETE', path: `/api/hours/exceptions/${FAR_DATE}` }),
  'PUT /api/hours/settings': () => ({ method: 'PUT', path: '/api/hours/settings', body: { closingSoonMinutes: 15 } }),
  'GET /api/audit': () => ({ method: 'GET', path: '/api/audit' }),
  'GET /api/people': (world) => ({ method: 'GET', path: `/api/people?ids=${world.patient.userId}` }),
  'GET /api/practice/terms': () => ({ method: 'GET', path: '/api/practice/terms' }),
  'POST /api/practice/terms': () => ({ method: 'POST', path: '/api/practice/terms', body: { text: 'Matrix terms of use.' } }),
  'POST /api/practice/terms/consent': async (world) => {
    // The version in force now (the matrix's own publishing cell may have added one).
    const current = await api<{ terms: { version: number } | null }>(world.url, 'GET', '/api/practice/terms', { token: world.patient.token });
    return { method: 'POST', path: '/api/practice/terms/consent', body: { version: current.body.terms?.version ?? 1 } };
  },
  'PUT /api/practice/root-key': () => ({ method: 'PUT', path: '/api/practice/root-key', body: { rootSignPublicKey: b64(randomBytes(32)) } }),
  'POST /api/practice/record-keys': () => ({
    method: 'POST',
    path: '/api/practice/record-keys',
    body: {
      version: 1,
      boxPublicKey: b64(randomBytes(32)),
      validFrom: Date.now(),
      certificate: b64(randomBytes(64)),
      current: { issuedAt: Date.now(), signature: b64(randomBytes(64)) },
    },
  }),
  'POST /api/practice/record-key-grants': (world) => ({
    method: 'POST',
    path: '/api/practice/record-key-grants',
    body: { version: 1, deviceId: world.practice.clinician.deviceId, sealedSeed: b64(randomBytes(80)), signature: b64(randomBytes(64)) },
  }),
  'POST /api/practice/admin-keys': () => ({
    method: 'POST',
    path: '/api/practice/admin-keys',
    body: { adminKeyId: randomUUID(), signPublicKey: b64(randomBytes(32)), issuedAt: Date.now(), certificate: b64(randomBytes(64)) },
  }),
  'POST /api/practice/root-successors': (world) => ({
    method: 'POST',
    path: '/api/practice/root-successors',
    body: {
      previousSignPublicKey: b64(world.practice.root.signPublicKey),
      signPublicKey: b64(randomBytes(32)),
      issuedAt: Date.now(),
      signature: b64(randomBytes(64)),
    },
  }),
  'POST /api/practice/record-key-certifications': () => ({
    method: 'POST',
    path: '/api/practice/record-key-certifications',
    body: { version: 1, validFrom: Date.now(), certificate: b64(randomBytes(64)), current: null },
  }),
  'GET /api/practice/keys': () => ({ method: 'GET', path: '/api/practice/keys' }),
  'GET /api/practice/revocations': () => ({ method: 'GET', path: '/api/practice/revocations' }),
  'PUT /api/practice/revocations': (world) => {
    // Signed by the practice's root, so what decides the answer is the caller's role.
    const fields = {
      practiceId: world.practice.odsCode,
      version: ++revocationListVersion,
      issuedAt: Date.now(),
      entries: [{ deviceId: world.colleague.deviceId, revokedAt: Date.now() }],
    };
    return {
      method: 'PUT',
      path: '/api/practice/revocations',
      body: {
        version: fields.version,
        issuedAt: fields.issuedAt,
        entries: fields.entries,
        signerSignPublicKey: b64(world.practice.root.signPublicKey),
        signature: b64(signRevocationList(fields, world.practice.root.signSecretKey)),
      },
    };
  },
  'GET /api/practice/settings': () => ({ method: 'GET', path: '/api/practice/settings' }),
  'PUT /api/practice/categories': () => ({
    method: 'PUT',
    path: '/api/practice/categories',
    body: { categories: [{ slug: 'admin', label: 'Admin', isEnabled: true }] },
  }),
  'GET /api/practice/canned-replies': () => ({ method: 'GET', path: '/api/practice/canned-replies' }),
  'POST /api/practice/canned-replies': () => ({ method: 'POST', path: '/api/practice/canned-replies', body: { title: 'Matrix', text: 'A canned reply.' } }),
  'PUT /api/practice/canned-replies/:id': async (world) => ({
    method: 'PUT',
    path: `/api/practice/canned-replies/${await cannedReply(world)}`,
    body: { title: 'Matrix', text: 'Rewritten.' },
  }),
  'DELETE /api/practice/canned-replies/:id': async (world) => ({ method: 'DELETE', path: `/api/practice/canned-replies/${await cannedReply(world)}` }),
  'GET /api/patients': () => ({ method: 'GET', path: '/api/patients?name=Pat' }),
  'GET /api/staff': () => ({ method: 'GET', path: '/api/staff' }),
  'POST /api/conversations/:id/exports': (world, role, relation) => ({
    method: 'POST',
    path: `/api/conversations/${conversationFor(world, role, relation)}/exports`,
    body: { formats: ['fhir-r4-bundle'] },
  }),
  // A throwaway device of the colleague each time: a wrongly allowed cell must not break the world.
  'POST /api/staff/:userId/devices/:deviceId/revoke': async (world) => {
    const device = await signIn(world.url, { practice: world.practice.odsCode, login: world.colleague.email, label: 'Throwaway' });
    return { method: 'POST', path: `/api/staff/${world.colleague.userId}/devices/${device.session.deviceId}/revoke` };
  },
  // A throwaway member of staff each time (set up but never activated).
  'POST /api/staff/:userId/offboard': async (world) => {
    const created = await api<{ userId: string }>(world.url, 'POST', '/api/staff', {
      token: world.practice.manager.token,
      body: { displayName: 'Leaver', email: `leaver.${randomUUID().slice(0, 8)}@test.parley`, roles: ['clinician'] },
    });
    return { method: 'POST', path: `/api/staff/${created.body.userId}/offboard` };
  },
  'GET /api/staff/:userId/offboarding': (world) => ({ method: 'GET', path: `/api/staff/${world.colleague.userId}/offboarding` }),
  'PUT /api/practice/texts': () => ({ method: 'PUT', path: '/api/practice/texts', body: { practicePhone: '01632 960000' } }),
  'POST /api/attachments/uploads': async (world, role, relation) => {
    await acceptOnlyImages(world);
    return {
      method: 'POST',
      path: '/api/attachments/uploads',
      body: { conversationId: conversationFor(world, role, relation), contentType: 'application/pdf', cipherBytes: 40 },
    };
  },
  'PUT /api/attachments/uploads/:uploadId/chunks/:index': async (world) => ({
    method: 'PUT',
    path: `/api/attachments/uploads/${await patientUpload(world)}/chunks/0`,
    rawBody: randomBytes(40),
    headers: { 'content-type': 'application/octet-stream' },
  }),
  'GET /api/attachments/uploads/:uploadId': async (world) => ({ method: 'GET', path: `/api/attachments/uploads/${await patientUpload(world)}` }),
  'POST /api/attachments/uploads/:uploadId/complete': async (world) => ({
    method: 'POST',
    path: `/api/attachments/uploads/${await patientUpload(world)}/complete`,
  }),
  'DELETE /api/attachments/uploads/:uploadId': async (world) => ({ method: 'DELETE', path: `/api/attachments/uploads/${await patientUpload(world)}` }),
  'GET /api/attachments/:uploadId': async (world) => ({ method: 'GET', path: `/api/attachments/${await patientUpload(world, { isComplete: true })}` }),
  'GET /api/practice/attachment-settings': () => ({ method: 'GET', path: '/api/practice/attachment-settings' }),
  'PUT /api/practice/attachment-settings': () => ({ method: 'PUT', path: '/api/practice/attachment-settings', body: IMAGES_ONLY }),
  'GET /api/push/vapid-public-key': () => ({ method: 'GET', path: '/api/push/vapid-public-key' }),
  'PUT /api/push/subscription': () => ({ method: 'PUT', path: '/api/push/subscription', body: aPushSubscription() }),
  'DELETE /api/push/subscription': () => ({ method: 'DELETE', path: '/api/push/subscription' }),
  'GET /api/notifications/channels': () => ({ method: 'GET', path: '/api/notifications/channels' }),
  'PUT /api/notifications/contact': () => ({ method: 'PUT', path: '/api/notifications/contact', body: { channel: 'sms', address: '+447700900123' } }),
  'DELETE /api/notifications/contact': () => ({ method: 'DELETE', path: '/api/notifications/contact' }),
  'GET /api/practice/notification-settings': () => ({ method: 'GET', path: '/api/practice/notification-settings' }),
  'PUT /api/practice/notification-settings': () => ({
    method: 'PUT',
    path: '/api/practice/notification-settings',
    body: { showPracticeName: false, quietHours: null },
  }),
  'PUT /api/practice/patient-limits': () => ({
    method: 'PUT',
    path: '/api/practice/patient-limits',
    body: { maxOpenPerPatient: null, maxNewPerPatientPerDay: null },
  }),
};

/** The routes the matrix knows how to call. */
export const CALLABLE_ROUTES: ReadonlySet<string> = new Set(Object.keys(routeCalls));

/** The request of one HTTP cell. */
export function routeCall(world: World, route: string, role: MatrixRole, relation: Relation): HttpCall | Promise<HttpCall> {
  const build = routeCalls[route];
  if (!build) throw new Error(`no request for ${route}: add it to endpoints.ts`);
  return build(world, role, relation);
}

/**
 * A well-formed POST /api/invitations body: a fresh patient with a random lookup id and placeholder
 * signatures (the server cannot check them; clients do), expiring tomorrow.
 */
export function invitationBody(): Record<string, unknown> {
  return {
    userId: randomUUID(),
    displayName: 'Matrix Patient',
    nhsNumber: String(randomInt(1_000_000_000, 9_999_999_999)),
    dateOfBirth: '1990-01-01',
    lookupId: b64(randomBytes(32)),
    invitationSignPublicKey: b64(randomBytes(32)),
    invitationSignature: b64(randomBytes(64)),
    rootSignature: b64(randomBytes(64)),
    expiresAt: Date.now() + 86_400_000,
  };
}

/** A new canned reply of practice A (made by its manager), for the cells that change or delete one. */
async function cannedReply(world: World): Promise<string> {
  const created = await api<{ id: string }>(world.url, 'POST', '/api/practice/canned-replies', {
    token: world.practice.manager.token,
    body: { title: 'Matrix', text: 'A canned reply.' },
  });
  return created.body.id;
}

const isLive = (role: MatrixRole): role is 'patient' | 'other-practice-patient' | 'clinician' | 'manager' =>
  role === 'patient' || role === 'other-practice-patient' || role === 'clinician' || role === 'manager';

function loginOf(world: World, role: MatrixRole): { practice: string; login: string; deviceId: string } | undefined {
  switch (role) {
    case 'patient':
      return { practice: world.practice.odsCode, login: world.patient.nhsNumber, deviceId: world.patient.deviceId };
    case 'other-practice-patient':
      return { practice: world.otherPractice.odsCode, login: world.foreignPatient.nhsNumber, deviceId: world.foreignPatient.deviceId };
    case 'clinician':
      return { practice: world.practice.odsCode, login: world.practice.clinician.email, deviceId: world.practice.clinician.deviceId };
    case 'manager':
      return { practice: world.practice.odsCode, login: world.practice.manager.email, deviceId: world.practice.manager.deviceId };
    default:
      return undefined;
  }
}

/** A second session of the role's user on their usual device (the role's own token for roles without a live session). */
async function throwawaySession(world: World, role: MatrixRole): Promise<string | undefined> {
  const login = loginOf(world, role);
  if (!login) return world.tokens[role];
  return (await signIn(world.url, login)).token;
}

/** A new device of the role's user, signed in. */
async function throwawayDevice(world: World, role: MatrixRole): Promise<{ deviceId: string; token: string }> {
  const login = loginOf(world, role)!;
  const signedIn = await signIn(world.url, { practice: login.practice, login: login.login, label: 'Throwaway' });
  return { deviceId: signedIn.session.deviceId, token: signedIn.token };
}

/**
 * A session to sign out: a patient's sign-out revokes the device it is on (issue #17), so a patient signs out on a
 * new device of their own and the world's usual device stays live for later cells; staff end a second session.
 */
async function sessionToSignOut(world: World, role: MatrixRole): Promise<string | undefined> {
  return role === 'patient' || role === 'other-practice-patient' ? (await throwawayDevice(world, role)).token : throwawaySession(world, role);
}

/** Every `METHOD /path` the running Nest app serves, read from Express's router (so a new route cannot be missed). */
export function discoverRoutes(app: NestExpressApplication): string[] {
  const express = app.getHttpAdapter().getInstance() as Express & { router?: { stack: RouterLayer[] }; _router?: { stack: RouterLayer[] } };
  const stack = (express.router ?? express._router)?.stack ?? [];
  const routes = new Set<string>();
  for (const layer of stack) {
    if (!layer.route) continue;
    const methods = Object.entries(layer.route.methods).filter(([method, isOn]) => isOn && method !== '_all');
    // A route for every method is one entry, not thirty.
    if (layer.route.methods['_all'] || methods.length >= 20) routes.add(`ALL ${layer.route.path}`);
    else for (const [method] of methods) routes.add(`${method.toUpperCase()} ${layer.route.path}`);
  }
  return [...routes].sort();
}

interface RouterLayer {
  route?: { path: string; methods: Record<string, boolean> };
}

/** The world's practice's attachment settings: patients may send unprompted, but images only (the cells ask for a PDF). */
const IMAGES_ONLY = {
  patientUploads: 'always',
  acceptedTypes: ['image/jpeg', 'image/png', 'image/webp'],
  maxFileBytes: 10_485_760,
  maxConversationBytes: 52_428_800,
  maxPatientDailyBytes: 52_428_800,
};

async function acceptOnlyImages(world: World): Promise<void> {
  await api(world.url, 'PUT', '/api/practice/attachment-settings', { token: world.practice.manager.token, body: IMAGES_ONLY });
}

/**
 * A fresh 40-byte upload of patient P's device in P's conversation, written straight into the database (the world's
 * conversations may be closed by then, which would refuse a new upload): incomplete without parts, or complete with its part.
 */
async function patientUpload(world: World, options: { isComplete?: boolean } = {}): Promise<string> {
  const id = randomUUID();
  await world.dataSource.query(
    `INSERT INTO attachment_uploads (id, practice_id, conversation_id, uploader_user_id, uploader_device_id, content_type, cipher_bytes, chunk_count, created_at, completed_at)
     SELECT $1, c.practice_id, c.id, $3, $4, 'image/jpeg', 40, 1, now(), CASE WHEN $5 THEN now() END FROM conversations c WHERE c.id = $2`,
    [id, world.conversations.mine, world.patient.userId, world.patient.deviceId, options.isComplete ?? false],
  );
  if (options.isComplete) await world.dataSource.query(`INSERT INTO attachment_chunks (upload_id, idx, bytes) VALUES ($1, 0, $2)`, [id, randomBytes(40)]);
  return id;
}
