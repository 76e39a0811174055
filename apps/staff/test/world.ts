/**
 * The world a staff browser test runs in: a real gateway process on its own embedded PostgreSQL, the
 * demo practice's staff activated and admitted with real keys (the demo set-up client, default
 * Argon2 cost so a browser can sign in as them), a key backup file per member of staff for the
 * browser to restore, and patients driven through `@parley/sdk`.
 */
import { createRequire } from 'node:module';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { HttpApi, type FeedEntry } from '@parley/client';
import { generatePassphrase, ready, TEST_KDF_PARAMS } from '@parley/crypto';
import {
  activatePatient,
  certifyPatientAccount,
  ChatSession,
  sealStaffKeyBackup,
  setUpDemoPractice,
  signIn,
  type ChatEntry,
  type DemoSetup,
  type DemoStaffCode,
} from '@parley/sdk';
import { startGatewayProcess, type GatewayProcess } from '@parley/testing';
import type { Page } from 'playwright-core';

const GATEWAY_ENTRY = createRequire(import.meta.url).resolve('@parley/gateway');

/** A member of staff as the browser signs in: login, passphrase and their key backup file's text. */
export interface StaffLogin {
  email: string;
  displayName: string;
  userId: string;
  passphrase: string;
  keyBackup: string;
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
  /** Invites, activates and (unless told not to) certifies a patient, who accepts the terms if asked. */
  patient(name: string, options?: { isCertified?: boolean }): Promise<TestPatient>;
  close(): Promise<void>;
}

/** Starts the gateway and sets up the demo practice with real keys. */
export async function startStaffWorld(): Promise<StaffWorld> {
  await ready();
  const dataDir = await mkdtemp(join(tmpdir(), 'parley-staff-'));
  const gateway = await startGatewayProcess({ entry: GATEWAY_ENTRY, env: { DATA_DIR: dataDir } });
  const credentials = JSON.parse(await readFile(join(dataDir, 'demo-credentials.json'), 'utf8')) as { practice: { odsCode: string }; staff: DemoStaffCode[] };
  const odsCode = credentials.practice.odsCode;
  const demo = await setUpDemoPractice({ baseUrl: gateway.url, odsCode, staff: credentials.staff });
  const sessions: ChatSession[] = [];
  const logins = await Promise.all(
    demo.staff.map(async (member): Promise<StaffLogin> => {
      const isManager = member.roles.includes('manager');
      const keyBackup = await sealStaffKeyBackup({
        odsCode,
        login: member.email,
        userId: member.userId,
        device: member.device,
        pinnedRoot: demo.practice.root.signPublicKey,
        ...(isManager ? { root: demo.practice.root } : {}),
        passphrase: member.passphrase,
      });
      // A second device for the test's own hands (the browser holds the first one, restored from the file).
      const signedIn = await signIn({ baseUrl: gateway.url, practice: odsCode, login: member.email, passphrase: member.passphrase, deviceLabel: 'test', device: member.device });
      const session = await ChatSession.start({ baseUrl: gateway.url, signedIn, pinnedRoot: demo.practice.root.signPublicKey, requestTimeoutMs: 10_000 });
      sessions.push(session);
      return { email: member.email, displayName: member.displayName, userId: member.userId, passphrase: member.passphrase, keyBackup, session, token: signedIn.session.token };
    }),
  );
  const manager = logins.find((login) => demo.staff.find((m) => m.email === login.email)?.roles.includes('manager'))!;
  const managerApi = new HttpApi({ baseUrl: gateway.url, token: manager.token });
  let nhs = 9_990_000_100;

  return {
    url: gateway.url,
    odsCode,
    demo,
    manager,
    clinicians: logins.filter((login) => login !== manager),
    gateway,
    async patient(name, options = {}) {
      const invitation = await managerApi.createInvitation({ displayName: name, nhsNumber: String((nhs += 7)), dateOfBirth: '1980-02-03' });
      if (!invitation.ok) throw new Error(`invitation: ${invitation.error.code}`);
      const activated = await activatePatient({
        baseUrl: gateway.url,
        practice: odsCode,
        code: invitation.data.code,
        dateOfBirth: '1980-02-03',
        passphrase: generatePassphrase(),
        deviceLabel: 'phone',
        kdf: TEST_KDF_PARAMS,
      });
      if (options.isCertified !== false) await certifyPatientAccount({
        baseUrl: gateway.url,
        token: manager.token,
        secrets: demo.practice,
        patientId: activated.session.user.id,
        signPublicKey: activated.accountKeys!.signPublicKey,
        boxPublicKey: activated.accountKeys!.boxPublicKey,
      });
      const api = new HttpApi({ baseUrl: gateway.url, token: activated.session.token });
      const terms = await api.getTerms();
      if (terms.ok && terms.data.needsConsent && terms.data.terms) await api.acceptTerms({ version: terms.data.terms.version });
      const chat = await ChatSession.start({ baseUrl: gateway.url, signedIn: activated, pinnedRoot: demo.practice.root.signPublicKey, requestTimeoutMs: 10_000 });
      sessions.push(chat);
      return { name, userId: activated.session.user.id, chat, entries: [] };
    },
    async close() {
      for (const session of sessions) await session.close().catch(() => undefined);
      await gateway.stop();
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}

/** The patient opens a conversation and follows it. */
export async function openConversation(patient: TestPatient, topic = 'admin'): Promise<string> {
  const summary = await patient.chat.openConversation(topic);
  patient.conversationId = summary.id;
  await patient.chat.follow(summary.id, (entry) => patient.entries.push(entry));
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
