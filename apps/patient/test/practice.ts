import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { HttpApi, type FeedEntry } from '@parley/client';
import { TEST_KDF_PARAMS } from '@parley/crypto';
import { certifyPatientAccount, ChatSession, openRecordKeys, setUpDemoPractice, signIn, type ChatEntry, type DemoSetup } from '@parley/sdk';
import { fromBase64 } from '@parley/crypto';
import { createTestDatabase, startGatewayProcess, type GatewayProcess } from '@parley/testing';

const GATEWAY_ENTRY = createRequire(import.meta.url).resolve('@parley/gateway');

/** The demo seed's one-time codes (DATA_DIR/demo-credentials.json). */
interface DemoCredentials {
  practice: { odsCode: string; name: string };
  staff: { email: string; displayName: string; roles: string[]; code: string }[];
  patient: { displayName: string; nhsNumber: string; dateOfBirth: string; invitationCode: string };
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

/** A real gateway (own database and data folder) with the demo practice set up: keys, staff devices, terms. */
export interface TestPractice {
  gateway: GatewayProcess;
  url: string;
  odsCode: string;
  credentials: DemoCredentials;
  demo: DemoSetup;
  manager: StaffChat;
  clinician: StaffChat;
  /** An HTTP call as the manager (routes `HttpApi` has no method for), answering the parsed body. */
  asManager(method: 'GET' | 'PUT' | 'POST', path: string, body?: unknown): Promise<unknown>;
  /** Certifies a patient's account key as the practice (after identity checks), read from a conversation's join answer. */
  certifyPatientOf(conversationId: string): Promise<void>;
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
  const demo = await setUpDemoPractice({ baseUrl: url, odsCode, staff: credentials.staff, kdf: TEST_KDF_PARAMS });
  const root = demo.practice.root.signPublicKey;

  const staffChat = async (roles: (member: DemoSetup['staff'][number]) => boolean): Promise<StaffChat> => {
    const member = demo.staff.find(roles);
    if (!member) throw new Error('the demo has no such member of staff');
    const signedIn = await signIn({ baseUrl: url, practice: odsCode, login: member.email, passphrase: member.passphrase, deviceLabel: 'test', device: member.device, kdf: TEST_KDF_PARAMS });
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
    manager,
    clinician,
    asManager,
    certifyPatientOf: async (conversationId) => {
      const joined = await manager.session.client.request('conversation:join', { conversationId });
      if (!joined.ok || !joined.data.patientAccount) throw new Error(`cannot read the patient's account key: ${JSON.stringify(joined)}`);
      const account = joined.data.patientAccount;
      await certifyPatientAccount({
        baseUrl: url,
        token: manager.token,
        secrets: demo.practice,
        patientId: account.userId,
        signPublicKey: fromBase64(account.signPublicKey),
        boxPublicKey: fromBase64(account.boxPublicKey),
      });
    },
    close: async () => {
      await Promise.allSettled([manager.session.close(), clinician.session.close()]);
      await gateway.stop();
      await database?.drop();
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}

/** Invites one more patient (as the manager) and answers their one-time code. */
export async function invitePatient(practice: TestPractice, patient: { displayName: string; nhsNumber: string; dateOfBirth: string }): Promise<string> {
  const issued = await new HttpApi({ baseUrl: practice.url, token: practice.manager.token }).createInvitation(patient);
  if (!issued.ok) throw new Error(`invitation: ${issued.error.message}`);
  return issued.data.code;
}

/** Resolves once `check` holds, polling (real sockets and a real browser take their time on a busy machine). */
export async function eventually(check: () => boolean | Promise<boolean>, what: string, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
