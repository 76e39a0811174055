import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fromBase64, generatePassphrase, ready, TEST_KDF_PARAMS } from '@parley/crypto';
import { activatePatient, certifyPatientAccount, ChatSession, openRecordKeys, signIn, type ChatEntry } from '@parley/sdk';
import type { FeedEntry } from '@parley/client';

const REPOSITORY = join(import.meta.dirname, '..', '..', '..', '..');

/** Turns the demo keys file's base64 strings back into key bytes where the SDK expects them. */
const keyPair = (keys: Record<string, string>) => Object.fromEntries(Object.entries(keys).map(([name, value]) => [name, fromBase64(value)])) as never;

describe('npm start demo (scripts/start.mjs on the embedded database)', () => {
  let dataDir: string;
  let start: ChildProcess;
  let output = '';

  beforeAll(async () => {
    await ready();
    dataDir = await mkdtemp(join(tmpdir(), 'parley-demo-'));
    start = spawn(process.execPath, [join(REPOSITORY, 'scripts/start.mjs')], { env: { ...process.env, DATA_DIR: dataDir, PORT: '0', LOG_LEVEL: 'warn' } });
    start.stdout?.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
    start.stderr?.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
    const deadline = Date.now() + 60_000;
    while (!output.includes('readable by you only')) {
      if (Date.now() > deadline || start.exitCode !== null) throw new Error(`demo did not come up:\n${output}`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  });

  afterAll(async () => {
    if (start.exitCode === null) {
      start.kill('SIGTERM');
      await new Promise((resolve) => start.once('exit', resolve));
    }
    await rm(dataDir, { recursive: true, force: true });
  });

  it('lets the demo patient activate and a demo clinician read their message at once, with real keys', async () => {
    const url = output.match(/Health:\s+(http:\/\/\S+)\/health\/ready/)![1]!;
    const credentials = JSON.parse(await readFile(join(dataDir, 'demo-credentials.json'), 'utf8'));
    const demo = JSON.parse(await readFile(join(dataDir, 'demo-keys.json'), 'utf8'));
    const practice = credentials.practice.odsCode as string;
    const root = fromBase64(demo.practice.root.signPublicKey);
    const staffDevice = (email: string) => {
      const member = demo.staff.find((candidate: { email: string }) => candidate.email === email);
      return { member, device: { deviceId: member.device.deviceId as string, keys: keyPair(member.device.keys) } };
    };

    const patient = await activatePatient({
      baseUrl: url, practice, code: credentials.patient.invitationCode, dateOfBirth: credentials.patient.dateOfBirth,
      passphrase: generatePassphrase(), deviceLabel: 'test phone', kdf: TEST_KDF_PARAMS,
    });
    const manager = staffDevice('manager@demo.parley.test');
    const managerSession = await signIn({ baseUrl: url, practice, login: manager.member.email, passphrase: manager.member.passphrase, deviceLabel: 'x', device: manager.device });
    await certifyPatientAccount({
      baseUrl: url, token: managerSession.session.token, patientId: patient.session.user.id,
      secrets: { odsCode: practice, root: { signPublicKey: root, signSecretKey: fromBase64(demo.practice.root.signSecretKey) }, recordKeys: [] },
      signPublicKey: patient.accountKeys!.signPublicKey, boxPublicKey: patient.accountKeys!.boxPublicKey,
    });
    const doctor = staffDevice('dr.morgan@demo.parley.test');
    const doctorSignedIn = await signIn({ baseUrl: url, practice, login: doctor.member.email, passphrase: doctor.member.passphrase, deviceLabel: 'x', device: doctor.device });
    const recordKeys = await openRecordKeys({ baseUrl: url, token: doctorSignedIn.session.token, odsCode: practice, device: doctor.device, pinnedRoot: root });
    const patientChat = await ChatSession.start({ baseUrl: url, signedIn: patient, pinnedRoot: fromBase64(patient.invitation.practice.rootSignPublicKey!) });
    const doctorChat = await ChatSession.start({ baseUrl: url, signedIn: doctorSignedIn, pinnedRoot: root, recordKeys });
    const conversation = await patientChat.openConversation('test-results');
    const received: FeedEntry<ChatEntry>[] = [];
    await patientChat.follow(conversation.id, () => undefined);
    await doctorChat.follow(conversation.id, (entry) => received.push(entry));
    await patientChat.send(conversation.id, 'Are my blood test results back?');
    while (received.length < 3) await new Promise((resolve) => setTimeout(resolve, 20));
    await patientChat.close();
    await doctorChat.close();

    expect(output).toContain(`security code (root key fingerprint) ${demo.rootFingerprint}`);
    expect(patient.invitation.practice.rootSignPublicKey).toBe(demo.practice.root.signPublicKey);
    expect(received[2]).toMatchObject({ ok: true, value: { kind: 'message', body: 'Are my blood test results back?', senderRole: 'patient', senderName: 'Chris Taylor' } });
  });

  it('stops cleanly on SIGTERM, gateway and embedded database included', async () => {
    start.kill('SIGTERM');
    const code = await new Promise((resolve) => start.once('exit', resolve));

    expect(code).toBe(0);
  });
});
