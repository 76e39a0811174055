import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fromBase64, generatePassphrase, ready, TEST_KDF_PARAMS } from '@parley/crypto';
import { activatePatient, ChatSession, openInvitation, openRecordKeys, signIn, type ChatEntry } from '@parley/sdk';
import type { FeedEntry } from '@parley/client';
import { followConversation } from '../chat.js';
import { waitUntil } from '../wait.js';

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
    await waitUntil(
      () => output.includes('readable by you only') || start.exitCode !== null,
      () => `the demo to come up:\n${output}`,
      60_000,
    );
    if (start.exitCode !== null) throw new Error(`the demo exited (${start.exitCode}):\n${output}`);
  });

  afterAll(async () => {
    if (start.exitCode === null) {
      start.kill('SIGTERM');
      await new Promise((resolve) => start.once('exit', resolve));
    }
    await rm(dataDir, { recursive: true, force: true });
  });

  it('lets the demo patient activate with the printed code and a demo clinician read and answer their first message, with no manager step', async () => {
    const url = output.match(/Health:\s+(http:\/\/\S+)\/health\/ready/)![1]!;
    const credentials = JSON.parse(await readFile(join(dataDir, 'demo-credentials.json'), 'utf8'));
    const demo = JSON.parse(await readFile(join(dataDir, 'demo-keys.json'), 'utf8'));
    const practice = credentials.practice.odsCode as string;
    const root = fromBase64(demo.practice.root.signPublicKey);
    const staffDevice = (email: string) => {
      const member = demo.staff.find((candidate: { email: string }) => candidate.email === email);
      return { member, device: { deviceId: member.device.deviceId as string, keys: keyPair(member.device.keys) } };
    };
    // What a newcomer reads off the banner: the code, the date of birth and the link that carries the code.
    const code = output.match(/invitation code (\w{4}-\w{4}-\w{5}), date of birth/)![1]!;
    const link = output.match(/invitation link (\S+)/)![1]!;

    const invitation = await openInvitation({ baseUrl: url, practice, code, dateOfBirth: credentials.patient.dateOfBirth });
    const patient = await activatePatient({
      baseUrl: url,
      invitation,
      dateOfBirth: credentials.patient.dateOfBirth,
      passphrase: generatePassphrase(),
      deviceLabel: 'test phone',
      kdf: TEST_KDF_PARAMS,
    });
    const doctor = staffDevice('dr.morgan@demo.parley.test');
    const doctorSignedIn = await signIn({
      baseUrl: url,
      practice,
      login: doctor.member.email,
      passphrase: doctor.member.passphrase,
      deviceLabel: 'x',
      device: doctor.device,
    });
    const recordKeys = await openRecordKeys({ baseUrl: url, token: doctorSignedIn.session.token, odsCode: practice, device: doctor.device, pinnedRoot: root });
    const patientChat = await ChatSession.start({ baseUrl: url, signedIn: patient, pinnedRoot: patient.pinnedRoot, epochKeys: patient.epochKeys });
    const doctorChat = await ChatSession.start({ baseUrl: url, signedIn: doctorSignedIn, pinnedRoot: root, recordKeys });
    // Demo clinicians start offline; the doctor says they are ready for work, so the new conversation is routed to them.
    await doctorChat.setAvailability('available');
    const conversation = await patientChat.openConversation('test-results');
    const atPatient: FeedEntry<ChatEntry>[] = [];
    const atDoctor: FeedEntry<ChatEntry>[] = [];
    await followConversation(patientChat, conversation.id, (entry) => atPatient.push(entry));
    await followConversation(doctorChat, conversation.id, (entry) => atDoctor.push(entry));
    await patientChat.conversation(conversation.id).send('Are my blood test results back?');
    const bodies = (entries: FeedEntry<ChatEntry>[]) => entries.flatMap((entry) => (entry.ok && entry.value.kind === 'message' ? [entry.value] : []));
    await waitUntil(() => bodies(atDoctor).length >= 1, "the patient's message at the doctor");
    await doctorChat.conversation(conversation.id).send('Yes, they are normal.');
    await waitUntil(() => bodies(atPatient).length >= 2, "the doctor's answer at the patient");
    await patientChat.close();
    await doctorChat.close();

    expect(output).toContain(`security code (root key fingerprint) ${demo.rootFingerprint}`);
    expect(link).toContain(`#practice=${practice}&code=${code}`);
    expect(Buffer.from(patient.pinnedRoot).toString('base64')).toBe(demo.practice.root.signPublicKey);
    expect(bodies(atDoctor)[0]).toMatchObject({ body: 'Are my blood test results back?', senderRole: 'patient', senderName: 'Chris Taylor' });
    expect(bodies(atPatient)[1]).toMatchObject({ body: 'Yes, they are normal.', senderRole: 'clinician', senderName: doctor.member.displayName });
  });

  it('stops cleanly on SIGTERM, gateway and embedded database included', async () => {
    start.kill('SIGTERM');
    const code = await new Promise((resolve) => start.once('exit', resolve));

    expect(code).toBe(0);
  });
});
