/**
 * The world a staff browser test runs in: a real gateway process (on a fresh database of
 * TEST_DATABASE_URL's server when set, else its own embedded PostgreSQL), the demo practice's staff
 * activated and admitted with real keys (the demo set-up client, default Argon2 cost so a browser can
 * sign in as them), a key backup file per member of staff for the browser to restore, and patients
 * invited by a clinician's client and driven through `@parley/sdk` (no manager step anywhere).
 */
import { createRequire } from 'node:module';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { HttpApi, type FeedEntry } from '@parley/client';
import { generatePassphrase, ready, TEST_KDF_PARAMS, type KdfParams } from '@parley/crypto';
import {
  activatePatient,
  ChatSession,
  createPatientInvitation,
  openInvitation,
  sealStaffKeyBackup,
  setUpDemoPractice,
  signIn,
  type ChatEntry,
  type DemoPatient,
  type DemoSetup,
  type DemoStaffCode,
} from '@parley/sdk';
import { createTestDatabase, startGatewayProcess, type GatewayProcess } from '@parley/testing';
import type { Page } from 'playwright-core';

const GATEWAY_ENTRY = createRequire(import.meta.url).resolve('@parley/gateway');

/** A member of staff as the browser signs in: login, passphrase and their key backup file's text. */
export interface StaffLogin {
  email: string;
  displayName: string;
  userId: string;
  passphrase: string;
  keyBackup: string;
  roles: string[];
  /** The test's own session as this person (a second connection of the same device). */
  session: ChatSession;
  token: string;
}

/** A patient chatting through the real SDK; decrypted entries land in `entries`. */
export interface TestPatient {
  name: string;
  userId: string;
  chat: ChatSession;
  entries: FeedEntry<ChatEntry>[];
  conversationId?: string;
}

export interface StaffWorld {
  url: string;
  odsCode: string;
  demo: DemoSetup;
  manager: StaffLogin;
  clinicians: StaffLogin[];
  gateway: GatewayProcess;
  /** The patient the demo seed names (identity only: the demo set-up invited them from a clinician's client). */
  demoPatient: DemoPatient;
  /** A clinician's client invites a patient (test-cost Argon2), who activates with the code and accepts the terms if asked. */
  patient(name: string): Promise<TestPatient>;
  /**
   * A patient activates with an invitation code someone gave them (read off a screen, say), as the
   * patient app does: checks the invitation against the code, activates, accepts the terms if asked.
   * `kdf` must be what the invitation was made with (the real cost unless a test chose otherwise).
   */
  activatePatient(input: { name: string; code: string; dateOfBirth: string; kdf?: Readonly<KdfParams> }): Promise<TestPatient>;
  close(): Promise<void>;
}

/** Starts the gateway and sets up the demo practice with real keys. */
export async function startStaffWorld(): Promise<StaffWorld> {
  await ready();
  const dataDir = await mkdtemp(join(tmpdir(), 'parley-staff-'));
  const serverUrl = process.env['TEST_DATABASE_URL'];
  const database = serverUrl ? await createTestDatabase(serverUrl) : null;
  const gateway = await startGatewayProcess({
    entry: GATEWAY_ENTRY,
    env: { DATA_DIR: dataDir, ...(database ? { DATABASE_URL: database.url, DEMO_SEED: 'true' } : {}) },
  });
  try {
    return await setUpWorld(gateway, dataDir, database);
  } catch (error) {
    // A set-up that fails after the gateway started must not leave it running: jest would wait for it for ever.
    await gateway.stop();
    await database?.drop();
    await rm(dataDir, { recursive: true, force: true });
    throw error;
  }
}

/** The demo practice's staff, their key files and sessions, and the patient factory, on a started gateway. */
async function setUpWorld(gateway: GatewayProcess, dataDir: string, database: Awaited<ReturnType<typeof createTestDatabase>> | null): Promise<StaffWorld> {
  const credentials = JSON.parse(await readFile(join(dataDir, 'demo-credentials.json'), 'utf8')) as {
    practice: { odsCode: string };
    staff: DemoStaffCode[];
    patient: DemoPatient;
  };
  const odsCode = credentials.practice.odsCode;
  const demo = await setUpDemoPractice({ baseUrl: gateway.url, odsCode, staff: credentials.staff, patient: credentials.patient });
  const sessions: ChatSession[] = [];
  // Sealed one after another before any request is in flight: Argon2id at the key file's cost holds this
  // process's event loop for a second or two, which would time out a request waiting beside it.
  const keyBackups = new Map<string, string>();
  for (const member of demo.staff) {
    const keyBackup = await sealStaffKeyBackup({
      odsCode,
      login: member.email,
      userId: member.userId,
      device: member.device,
      pinnedRoot: demo.practice.root.signPublicKey,
      ...(member.roles.includes('manager') ? { root: demo.practice.root } : {}),
      passphrase: member.passphrase,
    });
    keyBackups.set(member.userId, keyBackup);
  }
  // The seals held the event loop for seconds (over 5 s when the machine is busy: two test files at once), and the
  // gateway closes a keep-alive connection idle for 5 s. Until the loop turns, fetch's pool still holds such a
  // connection and a POST sent on it fails (UND_ERR_SOCKET, "could not be reached"): let it turn first.
  await new Promise((resolve) => setTimeout(resolve, 100));
  const logins = await Promise.all(
    demo.staff.map(async (member): Promise<StaffLogin> => {
      const keyBackup = keyBackups.get(member.userId)!;
      // A second device for the test's own hands (the browser holds the first one, restored from the file).
      const signedIn = await signIn({
        baseUrl: gateway.url,
        practice: odsCode,
        login: member.email,
        passphrase: member.passphrase,
        deviceLabel: 'test',
        device: member.device,
      });
      const session = await ChatSession.start({ baseUrl: gateway.url, signedIn, pinnedRoot: demo.practice.root.signPublicKey, requestTimeoutMs: 10_000 });
      sessions.push(session);
      return {
        email: member.email,
        displayName: member.displayName,
        userId: member.userId,
        roles: member.roles,
        passphrase: member.passphrase,
        keyBackup,
        session,
        token: signedIn.session.token,
      };
    }),
  );
  const manager = logins.find((login) => login.roles.includes('manager'))!;
  const inviter = logins.find((login) => login !== manager && login.roles.includes('clinician'))!;
  const inviterDevice = demo.staff.find((member) => member.userId === inviter.userId)!.device;
  let nhs = 9_990_000_100;

  const activate = async (input: { name: string; code: string; dateOfBirth: string; kdf?: Readonly<KdfParams> }): Promise<TestPatient> => {
    const invitation = await openInvitation({ baseUrl: gateway.url, practice: odsCode, code: input.code, dateOfBirth: input.dateOfBirth, kdf: input.kdf });
    const activated = await activatePatient({
      baseUrl: gateway.url,
      invitation,
      dateOfBirth: input.dateOfBirth,
      passphrase: generatePassphrase(),
      deviceLabel: 'phone',
      kdf: TEST_KDF_PARAMS,
    });
    const api = new HttpApi({ baseUrl: gateway.url, token: activated.session.token });
    const terms = await api.getTerms();
    if (terms.ok && terms.data.needsConsent && terms.data.terms) await api.acceptTerms({ version: terms.data.terms.version });
    // The patient's device pinned the root from the invitation code itself, never from a server answer.
    const chat = await ChatSession.start({
      baseUrl: gateway.url,
      signedIn: activated,
      pinnedRoot: activated.pinnedRoot,
      epochKeys: activated.epochKeys,
      requestTimeoutMs: 10_000,
    });
    sessions.push(chat);
    return { name: input.name, userId: activated.session.user.id, chat, entries: [] };
  };

  return {
    url: gateway.url,
    odsCode,
    demo,
    manager,
    clinicians: logins.filter((login) => login !== manager),
    gateway,
    demoPatient: credentials.patient,
    async patient(name) {
      const dateOfBirth = '1980-02-03';
      const issued = await createPatientInvitation({
        baseUrl: gateway.url,
        token: inviter.token,
        practice: odsCode,
        device: inviterDevice,
        pinnedRoot: demo.practice.root.signPublicKey,
        patient: { displayName: name, nhsNumber: String((nhs += 7)), dateOfBirth },
        kdf: TEST_KDF_PARAMS,
      });
      return activate({ name, code: issued.code, dateOfBirth, kdf: TEST_KDF_PARAMS });
    },
    activatePatient: activate,
    async close() {
      for (const session of sessions) await session.close().catch(() => undefined);
      await gateway.stop();
      await database?.drop();
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}

/** The patient opens a conversation and follows it. */
export async function openConversation(patient: TestPatient, topic = 'admin'): Promise<string> {
  const summary = await patient.chat.openConversation(topic);
  patient.conversationId = summary.id;
  const conversation = patient.chat.conversation(summary.id);
  if (conversation.isOpen) return summary.id;
  conversation.subscribe((change) => change.kind === 'entry' && patient.entries.push(change.entry));
  await conversation.open();
  return summary.id;
}

/** Polls until the check passes (generous: two cores are shared by many workers). */
export async function waitUntil(check: () => boolean | Promise<boolean>, what: string, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** Signs a member of staff in through the page, restoring their device from the key backup file. */
export async function signInThroughPage(page: Page, url: string, odsCode: string, who: StaffLogin): Promise<void> {
  await page.goto(`${url}/staff/`);
  await page.getByLabel('Practice code').fill(odsCode);
  await page.getByLabel('E-mail address').fill(who.email);
  await page.getByLabel('Passphrase').fill(who.passphrase);
  await page.getByLabel(/Key backup file/).setInputFiles({ name: 'parley-keys.json', mimeType: 'application/json', buffer: Buffer.from(who.keyBackup) });
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('navigation', { name: 'Console' }).waitFor({ timeout: 60_000 });
}
