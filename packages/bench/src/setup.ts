import { randomInt } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { HttpApi, ParleyClient } from '@parley/client';
import { TEST_KDF_PARAMS, generatePassphrase, ready, toBase64, type IdentityKeys, type RecordKey } from '@parley/crypto';
import {
  ATTACHMENT_TYPES,
  MAX_ATTACHMENT_FILE_BYTES,
  MAX_ATTACHMENT_TOTAL_BYTES,
  type AttachmentSettings,
  type CertifiedStaff,
  type SessionInfo,
} from '@parley/protocol';
import {
  activatePatient,
  activateStaff,
  admitStaffDevice,
  createPatientInvitation,
  newEpoch,
  openInvitation,
  openRecordKeys,
  setUpPracticeKeys,
  type AccountPublicKeys,
  type DemoStaffCode,
  type PracticeSecrets,
} from '@parley/sdk';
import type { PairSpec, QueueClinicianSpec, QueuePatientSpec } from './types.js';

/** A signed-in account as its client holds it. */
export interface Account {
  session: SessionInfo;
  token: string;
  userId: string;
  deviceId: string;
  keys: IdentityKeys;
  /** Patients: the public halves of the account key made at activation (its secret halves live only in the backup). */
  accountKeys?: AccountPublicKeys;
}

/** The demo practice after its key ceremony, and its first manager. */
export interface BenchPractice {
  odsCode: string;
  secrets: PracticeSecrets;
  manager: Account;
  /** Record key version 1 as a clinician's client opens it from its device grant. */
  recordKey?: RecordKey;
}

/**
 * Activates the demo practice the gateway seeded (DEMO_SEED, credentials in DATA_DIR) the way `npm start` does:
 * the manager activates with their one-time code and runs the key ceremony (sdk setUpPracticeKeys). Test-cost
 * Argon2 parameters on the client (TEST_KDF_PARAMS); the gateway's own hashing of the auth key is unchanged.
 */
export async function setUpPractice(url: string, dataDir: string): Promise<BenchPractice & { demoClinicianCodes: DemoStaffCode[] }> {
  await ready();
  const credentials = JSON.parse(await readFile(join(dataDir, 'demo-credentials.json'), 'utf8')) as { practice: { odsCode: string }; staff: DemoStaffCode[] };
  const odsCode = credentials.practice.odsCode;
  const managerCode = credentials.staff.find((member) => member.roles.includes('manager'));
  if (!managerCode) throw new Error('the demo seed has no manager');
  const signedIn = await activateStaff({
    baseUrl: url,
    practice: odsCode,
    code: managerCode.code,
    passphrase: generatePassphrase(),
    deviceLabel: 'Bench',
    kdf: TEST_KDF_PARAMS,
  });
  const manager = toAccount(signedIn.session, signedIn.device.keys);
  const secrets = await setUpPracticeKeys({
    baseUrl: url,
    token: manager.token,
    odsCode,
    manager: { deviceId: manager.deviceId, keys: manager.keys, userId: manager.userId, certifiedAs: certifiedAs(signedIn.session) },
  });
  await liftPatientLimits(url, manager.token);
  return { odsCode, secrets, manager, demoClinicianCodes: credentials.staff.filter((member) => !member.roles.includes('manager')) };
}

/**
 * Each bench patient opens a conversation per run: the practice's per-patient limits (a policy, tested by the
 * gateway's patient-limits e2e) would refuse the later runs, so the bench lifts them as a manager may.
 */
async function liftPatientLimits(url: string, token: string): Promise<void> {
  const response = await fetch(`${url}/api/practice/patient-limits`, {
    method: 'PUT',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: JSON.stringify({ maxOpenPerPatient: null, maxNewPerPatientPerDay: null }),
  });
  if (!response.ok) throw new Error(`lift the per-patient limits: status ${response.status}`);
}

/**
 * The attachments scenario's patients upload unprompted, several files at once and run after run: the practice's
 * attachment settings (docs/protocol.md) are set, as a manager may, to accept patients' uploads and to the highest caps.
 */
export async function allowPatientUploads(url: string, token: string): Promise<void> {
  const response = await fetch(`${url}/api/practice/attachment-settings`, {
    method: 'PUT',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: JSON.stringify({
      patientUploads: 'always',
      acceptedTypes: [...ATTACHMENT_TYPES],
      maxFileBytes: MAX_ATTACHMENT_FILE_BYTES,
      maxConversationBytes: MAX_ATTACHMENT_TOTAL_BYTES,
      maxPatientDailyBytes: MAX_ATTACHMENT_TOTAL_BYTES,
    } satisfies AttachmentSettings),
  });
  if (!response.ok) throw new Error(`attachment settings: status ${response.status}`);
}

/** Creates `count` clinicians (demo codes first), activates each and admits its device (certificate + record key grant). */
export async function createClinicians(
  url: string,
  practice: BenchPractice & { demoClinicianCodes: DemoStaffCode[] },
  count: number,
  label: string,
): Promise<Account[]> {
  const api = new HttpApi({ baseUrl: url, token: practice.manager.token });
  const codes = practice.demoClinicianCodes.splice(0, count).map((member) => member.code);
  return mapLimit(
    Array.from({ length: count }, (_, index) => index),
    8,
    async (index) => {
      let code = codes[index];
      if (!code) {
        const issued = await api.createStaff({
          displayName: `Dr Bench ${label} ${index}`,
          email: `bench.${label}.${index}.${randomInt(1e9)}@bench.parley.test`,
          roles: ['clinician'],
        });
        if (!issued.ok) throw new Error(`create staff: ${issued.error.code} ${issued.error.message}`);
        code = issued.data.code;
      }
      const signedIn = await activateStaff({
        baseUrl: url,
        practice: practice.odsCode,
        code,
        passphrase: generatePassphrase(),
        deviceLabel: 'Bench',
        kdf: TEST_KDF_PARAMS,
      });
      const account = toAccount(signedIn.session, signedIn.device.keys);
      await admitStaffDevice({
        baseUrl: url,
        token: practice.manager.token,
        secrets: practice.secrets,
        granter: { deviceId: practice.manager.deviceId, keys: practice.manager.keys },
        device: {
          userId: account.userId,
          deviceId: account.deviceId,
          signPublicKey: account.keys.signPublicKey,
          boxPublicKey: account.keys.boxPublicKey,
          certifiedAs: certifiedAs(signedIn.session),
        },
      });
      return account;
    },
  );
}

/**
 * Invites `count` patients from the manager's admitted device (sdk createPatientInvitation: the code is made
 * here), then opens and activates each invitation with real keys as the patient's client does (sdk
 * openInvitation, activatePatient). Staff trust each account key through its invitation: no certification step.
 */
export async function createPatients(url: string, practice: BenchPractice, count: number): Promise<Account[]> {
  const { manager } = practice;
  return mapLimit(
    Array.from({ length: count }, (_, index) => index),
    8,
    async (index) => {
      const dateOfBirth = '1984-05-17';
      const issued = await createPatientInvitation({
        baseUrl: url,
        token: manager.token,
        practice: practice.odsCode,
        device: { deviceId: manager.deviceId, keys: manager.keys },
        pinnedRoot: practice.secrets.root.signPublicKey,
        patient: { displayName: `Bench Patient ${index}`, nhsNumber: String(randomInt(1_000_000_000, 9_999_999_999)), dateOfBirth },
        kdf: TEST_KDF_PARAMS,
      });
      const invitation = await openInvitation({ baseUrl: url, practice: practice.odsCode, code: issued.code, dateOfBirth, kdf: TEST_KDF_PARAMS });
      const signedIn = await activatePatient({
        baseUrl: url,
        invitation,
        dateOfBirth,
        passphrase: generatePassphrase(),
        deviceLabel: 'Bench',
        kdf: TEST_KDF_PARAMS,
      });
      return { ...toAccount(signedIn.session, signedIn.device.keys), accountKeys: signedIn.account };
    },
  );
}

/** Opens the record key from a clinician's device grant, as a staff client does (checked against the pinned root). */
export async function openRecordKey(url: string, practice: BenchPractice, clinician: Account): Promise<RecordKey> {
  const keys = await openRecordKeys({
    baseUrl: url,
    token: clinician.token,
    odsCode: practice.odsCode,
    device: { deviceId: clinician.deviceId, keys: clinician.keys },
    pinnedRoot: practice.secrets.root.signPublicKey,
  });
  const recordKey = keys.get(1);
  if (!recordKey) throw new Error('the clinician could not open record key 1');
  return recordKey;
}

/** Sets clinicians' caps as the manager does, over the manager's socket. */
export async function setCaps(url: string, manager: Account, clinicians: readonly Account[], maxConcurrent: number): Promise<void> {
  const socket = await ParleyClient.connect({ url, token: manager.token, requestTimeoutMs: 30_000 });
  try {
    await mapLimit(clinicians, 16, async (clinician) => {
      const result = await socket.request('capacity:set-clinician', { clinicianId: clinician.userId, maxConcurrent, dailyMax: null });
      if (!result.ok) throw new Error(`set caps: ${result.error.code} ${result.error.message}`);
    });
  } finally {
    socket.close();
  }
}

/**
 * Opens one conversation per patient, as the patient's client does (a new epoch key sealed to its device, its account
 * key and the record key), with each clinician available and capped at one conversation: routing then pairs every
 * patient with exactly one clinician. Returns the pairs as the load workers need them.
 */
export async function openPairs(input: {
  url: string;
  practice: BenchPractice;
  recordKey: RecordKey;
  patients: readonly Account[];
  clinicians: readonly Account[];
}): Promise<PairSpec[]> {
  const { url, practice, recordKey, patients, clinicians } = input;
  if (patients.length !== clinicians.length) throw new Error('one clinician per patient');
  await setCaps(url, practice.manager, clinicians, 1);
  const assigned = new Map<string, Account>();
  const clinicianSockets = await mapLimit(clinicians, 16, async (clinician) => {
    const socket = await ParleyClient.connect({ url, token: clinician.token, requestTimeoutMs: 30_000 });
    socket.on('conversation:assigned', (fact) => assigned.set(fact.conversationId, clinician));
    const result = await socket.request('staff:availability', { availability: 'available' });
    if (!result.ok) throw new Error(`availability: ${result.error.code}`);
    return socket;
  });
  const opened = await mapLimit(patients, 16, async (patient) => {
    const socket = await ParleyClient.connect({ url, token: patient.token, requestTimeoutMs: 30_000 });
    try {
      const conversationId = crypto.randomUUID();
      const { epochKey, envelopes } = newEpoch({
        conversationId,
        epoch: 1,
        targets: [
          { recipient: { kind: 'device', deviceId: patient.deviceId }, boxPublicKey: patient.keys.boxPublicKey },
          { recipient: { kind: 'account', userId: patient.userId }, boxPublicKey: patient.accountKeys!.boxPublicKey },
          { recipient: { kind: 'record', version: 1 }, boxPublicKey: recordKey.boxPublicKey },
        ],
        creatorSignSecretKey: patient.keys.signSecretKey,
      });
      const result = await socket.request('conversation:open', { conversationId, topic: 'other', envelopes });
      if (!result.ok) throw new Error(`open: ${result.error.code} ${result.error.message}`);
      return { patient, conversationId, epochKey };
    } finally {
      socket.close();
    }
  });
  const deadline = Date.now() + 60_000;
  while (assigned.size < opened.length) {
    if (Date.now() > deadline) throw new Error(`only ${assigned.size} of ${opened.length} conversations were assigned`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  for (const socket of clinicianSockets) socket.close();
  const member = (account: Account, role: 'patient' | 'clinician') => ({
    token: account.token,
    userId: account.userId,
    deviceId: account.deviceId,
    role,
    signSecretKey: toBase64(account.keys.signSecretKey),
    signPublicKey: toBase64(account.keys.signPublicKey),
    url,
  });
  return opened.map(({ patient, conversationId, epochKey }) => ({
    conversationId,
    practiceOdsCode: practice.odsCode,
    patientId: patient.userId,
    patient: { ...member(patient, 'patient'), epochKey: toBase64(epochKey) },
    clinician: member(assigned.get(conversationId)!, 'clinician'),
    rootSignPublicKey: toBase64(practice.secrets.root.signPublicKey),
    recordKey: { boxPublicKey: toBase64(recordKey.boxPublicKey), boxSecretKey: toBase64(recordKey.boxSecretKey) },
  }));
}

/** The queue scenario's patients as its workers need them. */
export function queuePatientSpecs(patients: readonly Account[], url: string): QueuePatientSpec[] {
  return patients.map((patient) => ({
    token: patient.token,
    userId: patient.userId,
    deviceId: patient.deviceId,
    deviceBoxPublicKey: toBase64(patient.keys.boxPublicKey),
    deviceSignSecretKey: toBase64(patient.keys.signSecretKey),
    accountBoxPublicKey: toBase64(patient.accountKeys!.boxPublicKey),
    url,
  }));
}

/** The queue scenario's clinicians. */
export function queueClinicianSpecs(clinicians: readonly Account[], url: string): QueueClinicianSpec[] {
  return clinicians.map((clinician) => ({ token: clinician.token, userId: clinician.userId, url }));
}

/** What a staff device certificate names: the person as the practice registered them. */
function certifiedAs(session: SessionInfo): CertifiedStaff {
  return { displayName: session.user.displayName, roles: session.user.roles.filter((role) => role !== 'patient') };
}

function toAccount(session: SessionInfo, keys: IdentityKeys): Account {
  return { session, token: session.token, userId: session.user.id, deviceId: session.deviceId, keys };
}

/** Maps with at most `limit` calls in flight, keeping the order. */
export async function mapLimit<T, R>(items: readonly T[], limit: number, work: (item: T, index: number) => Promise<R>): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  const runners = Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length) {
      const index = next++;
      results[index] = await work(items[index]!, index);
    }
  });
  await Promise.all(runners);
  return results;
}
