import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { ready } from '@parley/crypto';
import { startGatewayProcess, type GatewayProcess, type TestDatabase } from '@parley/testing';
import type { DataSource } from 'typeorm';
import { openDatabase } from '../../src/database/data-source.js';
import { follow, patientChat, staffChat, waitForAssignment, type Chatter } from '../chat.js';
import { freshDatabase } from '../database.js';
import { activatePatient, connectAs, createPracticeWithStaff, type TestPatient, type TestPractice } from '../factories.js';
import { waitUntil } from '../wait.js';

const ENTRY = join(import.meta.dirname, '..', '..', 'dist', 'main.js');

/** Every way a secret could be written down: as it is, hex, base64 and base64url. */
function encodings(secret: Uint8Array | string): string[] {
  const bytes = typeof secret === 'string' ? Buffer.from(secret, 'utf8') : Buffer.from(secret);
  const forms = [bytes.toString('hex'), bytes.toString('base64').replace(/=+$/, ''), bytes.toString('base64url')];
  if (typeof secret === 'string') forms.push(secret);
  return forms;
}

/** Each table's rows as JSON text (bytea as \x-hex): a full logical dump of the data, without needing pg_dump. */
async function dumpDatabase(dataSource: DataSource): Promise<string> {
  const tables = (await dataSource.query(`SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' AND table_type = 'BASE TABLE' ORDER BY 1`)) as { table_name: string }[];
  const parts: string[] = [];
  for (const { table_name: table } of tables) {
    const rows = (await dataSource.query(`SELECT row_to_json(t)::text AS json FROM "${table}" t`)) as { json: string }[];
    parts.push(`-- ${table}\n${rows.map((row) => row.json).join('\n')}`);
  }
  return parts.join('\n');
}

describe('no plaintext and no private key in the logs (debug level) or the database', () => {
  let database: TestDatabase;
  let dataSource: DataSource;
  let gateway: GatewayProcess;
  let practice: TestPractice;
  let patient: TestPatient;
  const chats: Chatter[] = [];
  const marker = `PLAINTEXT-MARKER-${randomBytes(8).toString('hex')}`;

  beforeAll(async () => {
    await ready();
    database = await freshDatabase();
    dataSource = await openDatabase(database.url);
    gateway = await startGatewayProcess({ entry: ENTRY, env: { DATABASE_URL: database.url, LOG_LEVEL: 'trace' } });
    practice = await createPracticeWithStaff({ url: gateway.url, dataSource });
    patient = await activatePatient(gateway.url, practice);
    const patientSide = await patientChat(gateway.url, practice, patient);
    const clinicianSide = await staffChat(gateway.url, practice, practice.clinician);
    chats.push(patientSide, clinicianSide);
    const { id } = await patientSide.session.openConversation('admin');
    await follow(patientSide, id);
    await follow(clinicianSide, id);
    await waitForAssignment(clinicianSide);
    await patientSide.session.send(id, `${marker} from the patient`);
    await clinicianSide.session.send(id, `${marker} from the clinician`);
    await patientSide.session.typing(id, true);
    await waitUntil(() => patientSide.bodies().length === 2 && clinicianSide.bodies().length === 2, 'both messages on both sides', 20_000);
    await clinicianSide.session.markRead(id, clinicianSide.entries.at(-1)!.seq);
    // Refusals are what debug logging records: a payload carrying the marker where an id belongs, a bogus handshake.
    const raw = await connectAs(gateway.url, patient, 10_000);
    await raw.requestRaw('conversation:join', { conversationId: marker });
    await raw.requestRaw('conversation:send', { conversationId: id, clientMessageId: marker, epoch: 1, senderDeviceSeq: 1, contentType: 'text', ciphertext: Buffer.from(marker).toString('base64'), nonce: marker });
    raw.close();
    await connectAs(gateway.url, { token: marker }, 5_000).then((client) => client.close(), () => undefined);
  }, 120_000);

  afterAll(async () => {
    for (const chat of chats) await chat.session.close();
    await gateway?.stop();
    await dataSource?.destroy();
    await database?.drop();
  });

  const secrets = () => ({
    'message plaintext': [marker],
    passphrase: [patient.passphrase, practice.clinician.passphrase],
    'backup key (passphrase-derived)': [patient.passphraseKeys.backupKey, practice.clinician.passphraseKeys.backupKey],
    'auth key (sent, stored only hashed)': [patient.passphraseKeys.authKey, practice.manager.passphraseKeys.authKey],
    'bearer token (stored only hashed)': [patient.token, practice.clinician.token],
    'device secret keys': [patient.device.signSecretKey, patient.device.boxSecretKey, practice.clinician.device.signSecretKey, practice.clinician.device.boxSecretKey],
    'patient account secret keys': [patient.account.signSecretKey, patient.account.boxSecretKey],
    'practice root secret key': [practice.root.signSecretKey],
    'record key secrets': [practice.recordKey.seed, practice.recordKey.boxSecretKey],
  });

  const findIn = (text: string) =>
    Object.entries(secrets()).flatMap(([what, values]) => (values.some((value) => encodings(value).some((form) => form.length >= 16 && text.includes(form))) ? [what] : []));

  it('finds the plaintext marker in neither the database dump nor the debug log, and finds no secret key, passphrase or token either', async () => {
    const dump = await dumpDatabase(dataSource);
    const log = gateway.output();

    expect(dump).toContain('record_entries');
    expect(log.length).toBeGreaterThan(1_000);
    expect(log).toMatch(/"level":20,.*"msg":"socket command refused"/);
    expect(findIn(dump)).toEqual([]);
    expect(findIn(log)).toEqual([]);
  });
});
