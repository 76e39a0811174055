import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FeedEntry } from '@parley/client';
import { TEST_KDF_PARAMS } from '@parley/crypto';
import { ChatSession, createPatientInvitation, openRecordKeys, setUpDemoPractice, signIn, type ChatEntry, type DemoSetup } from '@parley/sdk';
import { createTestDatabase, startGatewayProcess, type GatewayProcess } from '@parley/testing';

const GATEWAY_ENTRY = createRequire(import.meta.url).resolve('@parley/gateway');

/** The demo seed's staff set-up codes and the patient to invite (DATA_DIR/demo-credentials.json). */
interface DemoCredentials {
  practice: { odsCode: string; name: string };
  staff: { email: string; displayName: string; roles: string[]; code: string }[];
  patient: { displayName: string; nhsNumber: string; dateOfBirth: string };
}

/** A member of staff driven from the test through the sdk, as the staff app would. */
export interface StaffChat {
  userId: string;
  displayName: string;
  token: string;
  session: ChatSession;
  entries: FeedEntry<ChatEntry>[];
  /** Bodies of the opened messages so far. */
  bodies(): string[];
}

/** The staff member follows a conversation (opens its model; nothing if already open), collecting its entries into `entries`. */
export async function follow(staff: StaffChat, conversationId: string): Promise<void> {
  const conversation = staff.session.conversation(conversationId);
  if (conversation.isOpen) return;
  conversation.subscribe((change) => change.kind === 'entry' && staff.entries.push(change.entry));
  await conversation.open();
}

/** A real gateway (own database and data folder) with the demo practice set up: keys, staff devices, terms. */
export interface TestPractice {
  gateway: GatewayProcess;
  url: string;
  odsCode: string;
  credentials: DemoCredentials;
  demo: DemoSetup;
  /** The demo patient's invitation code, made by the clinician's client during the demo set-up (never sent to the server). */
  patientCode: string;
  /** The gateway's database, when it is on TEST_DATABASE_URL's server (null on the embedded one). */
  databaseUrl: string | null;
  manager: StaffChat;
  clinician: StaffChat;
  /** An HTTP call as the manager (routes `HttpApi` has no method for), answering the parsed body. */
  asManager(method: 'GET' | 'PUT' | 'POST', path: string, body?: unknown): Promise<unknown>;
  close(): Promise<void>;
}

/**
 * Starts the built gateway (with `env` added to its environment) with the demo seed on a fresh database (TEST_DATABASE_URL's server when
 * set, else embedded PostgreSQL in a throwaway folder), runs the demo key ceremony, publishes terms,
 * and signs in the manager and a clinician with ChatSessions.
 */
export async function startPractice(options: { terms?: string; env?: Record<string, string> } = {}): Promise<TestPractice> {
  const dataDir = await mkdtemp(join(tmpdir(), 'parley-patient-'));
  const serverUrl = process.env['TEST_DATABASE_URL'];
  const database = serverUrl ? await createTestDatabase(serverUrl) : null;
  const env: Record<string, string> = { DATA_DIR: dataDir, DEMO_SEED: 'true', ...(database ? { DATABASE_URL: database.url } : {}), ...options.env };
  const gateway = await startGatewayProcess({ entry: GATEWAY_ENTRY, env });
  const url = gateway.url;
  const credentials = JSON.parse(await readFile(join(dataDir, 'demo-credentials.json'), 'utf8')) as DemoCredentials;
  const odsCode = credentials.practice.odsCode;
  const demo = await setUpDemoPractice({ baseUrl: url, odsCode, staff: credentials.staff, patient: credentials.patient, kdf: TEST_KDF_PARAMS });
  if (!demo.patientInvitation) throw new Error('the demo set-up made no patient invitation');
  const root = demo.practice.root.signPublicKey;

  const staffChat = async (roles: (member: DemoSetup['staff'][number]) => boolean): Promise<StaffChat> => {
    const member = demo.staff.find(roles);
    if (!member) throw new Error('the demo has no such member of staff');
    const signedIn = await signIn({
      baseUrl: url,
      practice: odsCode,
      login: member.email,
      passphrase: member.passphrase,
      deviceLabel: 'test',
      device: member.device,
      kdf: TEST_KDF_PARAMS,
    });
    const recordKeys = await openRecordKeys({ baseUrl: url, token: signedIn.session.token, odsCode, device: member.device, pinnedRoot: root });
    const session = await ChatSession.start({ baseUrl: url, signedIn, pinnedRoot: root, recordKeys, requestTimeoutMs: 10_000 });
    const entries: FeedEntry<ChatEntry>[] = [];
    return {
      userId: member.userId,
      displayName: member.displayName,
      token: signedIn.session.token,
      session,
      entries,
      bodies: () => entries.flatMap((entry) => (entry.ok && entry.value.kind === 'message' ? [entry.value.body] : [])),
    };
  };
  const manager = await staffChat((member) => member.roles.includes('manager'));
  const clinician = await staffChat((member) => member.roles.includes('clinician') && !member.roles.includes('manager'));

  const asManager = async (method: 'GET' | 'PUT' | 'POST', path: string, body?: unknown): Promise<unknown> => {
    const response = await fetch(`${url}${path}`, {
      method,
      headers: { authorization: `Bearer ${manager.token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await response.text();
    if (!response.ok) throw new Error(`${method} ${path}: ${response.status} ${text}`);
    return text ? JSON.parse(text) : null;
  };
  if (options.terms) await asManager('POST', '/api/practice/terms', { text: options.terms });

  return {
    gateway,
    url,
    odsCode,
    credentials,
    demo,
    patientCode: demo.patientInvitation.code,
    databaseUrl: database?.url ?? null,
    manager,
    clinician,
    asManager,
    close: async () => {
      await Promise.allSettled([manager.session.close(), clinician.session.close()]);
      await gateway.stop();
      await database?.drop();
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}

/** Invites one more patient from the clinician's client, as the staff app does, and answers the code it made. */
export async function invitePatient(practice: TestPractice, patient: { displayName: string; nhsNumber: string; dateOfBirth: string }): Promise<string> {
  const member = practice.demo.staff.find((candidate) => candidate.userId === practice.clinician.userId);
  if (!member) throw new Error('the demo has no clinician');
  const issued = await createPatientInvitation({
    baseUrl: practice.url,
    token: practice.clinician.token,
    practice: practice.odsCode,
    device: member.device,
    pinnedRoot: practice.demo.practice.root.signPublicKey,
    patient,
  });
  return issued.code;
}

/** Resolves once `check` holds, polling (real sockets and a real browser take their time on a busy machine). */
export async function eventually(check: () => boolean | Promise<boolean>, what: string, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
