import { randomBytes, randomUUID } from 'node:crypto';
import { readdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { ready } from '@parley/crypto';
import { DEFAULT_ATTACHMENT_SETTINGS } from '@parley/protocol';
import { startGatewayProcess, type GatewayProcess, type TestDatabase } from '@parley/testing';
import type { DataSource } from 'typeorm';
import { openDatabase } from '../../src/database/data-source.js';
import { follow, patientChat, staffChat, waitForAssignment, type Chatter } from '../chat.js';
import { bannerDatabaseUrl, freshDatabase } from '../database.js';
import { activatePatient, apiOk, connectAs, createPracticeWithStaff, signIn, type TestPatient, type TestPractice } from '../factories.js';
import { waitUntil } from '../wait.js';

const ENTRY = join(import.meta.dirname, '..', '..', 'dist', 'main.js');

/** Every way a secret could be written down: as it is, hex, base64 and base64url. */
function encodings(secret: Uint8Array | string): string[] {
  const bytes = typeof secret === 'string' ? Buffer.from(secret, 'utf8') : Buffer.from(secret);
  const forms = [bytes.toString('hex'), bytes.toString('base64').replace(/=+$/, ''), bytes.toString('base64url')];
  if (typeof secret === 'string') forms.push(secret);
  return forms;
}

/**
 * Makes every insert into `tables` whose row contains `marker` fail inside PostgreSQL, so the gateway logs a
 * QueryFailedError (or pg DatabaseError) whose query parameters carry the marker.
 */
async function failInsertsCarrying(dataSource: DataSource, marker: string, tables: readonly string[]): Promise<void> {
  await dataSource.query(`CREATE FUNCTION log_scan_forced_failure() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      IF position('${marker}' IN row_to_json(NEW)::text) > 0 THEN RAISE EXCEPTION 'forced failure for the log scan'; END IF;
      RETURN NEW;
    END $$`);
  for (const table of tables)
    await dataSource.query(`CREATE TRIGGER log_scan_forced_failure BEFORE INSERT ON ${table} FOR EACH ROW EXECUTE FUNCTION log_scan_forced_failure()`);
}

/** Each table's rows as JSON text (bytea as \x-hex): a full logical dump of the data, without needing pg_dump. */
async function dumpDatabase(dataSource: DataSource): Promise<string> {
  const tables = (await dataSource.query(
    `SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' AND table_type = 'BASE TABLE' ORDER BY 1`,
  )) as { table_name: string }[];
  const parts: string[] = [];
  for (const { table_name: table } of tables) {
    const rows = (await dataSource.query(`SELECT row_to_json(t)::text AS json FROM "${table}" t`)) as { json: string }[];
    parts.push(`-- ${table}\n${rows.map((row) => row.json).join('\n')}`);
  }
  return parts.join('\n');
}

describe('no plaintext (messages, files) and no private key in the logs (debug level) or the database', () => {
  let database: TestDatabase;
  let dataSource: DataSource;
  let gateway: GatewayProcess;
  let practice: TestPractice;
  let patient: TestPatient;
  const chats: Chatter[] = [];
  const marker = `PLAINTEXT-MARKER-${randomBytes(8).toString('hex')}`;
  // Where a client's value belongs in a query (a device label, a client message id, which must be a UUID).
  const queryMarker = randomUUID();
  // A photo's bytes: a JPEG start, a marker of its own, and random bytes (a slice of them is looked for too); its key once sent.
  const fileMarker = `FILE-MARKER-${randomBytes(8).toString('hex')}`;
  const photo = Buffer.concat([Buffer.from([0xff, 0xd8, 0xff, 0xe0]), Buffer.from(fileMarker), randomBytes(150_000), Buffer.from(fileMarker)]);
  let fileKey = Buffer.alloc(0);
  const attachmentsOf = (chat: Chatter) => chat.entries.flatMap((entry) => (entry.ok && entry.value.kind === 'message' ? entry.value.attachments : []));

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
    await patientSide.session.conversation(id).send(`${marker} from the patient`);
    await clinicianSide.session.conversation(id).send(`${marker} from the clinician`);
    await patientSide.session.conversation(id).setTyping(true);
    await waitUntil(() => patientSide.bodies().length === 2 && clinicianSide.bodies().length === 2, 'both messages on both sides', 20_000);
    await clinicianSide.session.conversation(id).markRead(clinicianSide.entries.at(-1)!.seq);
    // A photo (three secretstream chunks) through the SDK, and the clinician's download of it.
    await apiOk(
      gateway.url,
      'PUT',
      '/api/practice/attachment-settings',
      { token: practice.manager.token, body: { ...DEFAULT_ATTACHMENT_SETTINGS, patientUploads: 'always' } },
      200,
    );
    const sent = await patientSide.session.conversation(id).sendAttachments([{ bytes: photo, type: 'image/jpeg', name: `${fileMarker}.jpg` }]);
    expect(sent).toMatchObject({ ok: true });
    await waitUntil(() => attachmentsOf(clinicianSide).length === 1, 'the photo on the clinician side', 20_000);
    fileKey = Buffer.from(attachmentsOf(clinicianSide)[0]!.key, 'base64');
    expect(Buffer.from(await clinicianSide.session.conversation(id).fetchAttachment(attachmentsOf(clinicianSide)[0]!)).equals(photo)).toBe(true);
    // Refusals are what debug logging records: a payload carrying the marker where an id belongs, a bogus handshake.
    const raw = await connectAs(gateway.url, patient, 10_000);
    await raw.requestRaw('conversation:join', { conversationId: marker });
    await raw.requestRaw('conversation:send', {
      conversationId: id,
      clientMessageId: marker,
      epoch: 1,
      senderDeviceSeq: 1,
      contentType: 'text',
      ciphertext: Buffer.from(marker).toString('base64'),
      nonce: marker,
    });
    // A failed query over HTTP (a new device's label) and over a socket (the record's group-commit insert of a message).
    await failInsertsCarrying(dataSource, queryMarker, ['devices', 'record_entries']);
    const failedSignIn = await signIn(gateway.url, {
      practice: practice.odsCode,
      login: patient.nhsNumber,
      passphrase: patient.passphrase,
      label: queryMarker,
    }).catch((error: Error) => error);
    const failedSend = await raw.requestRaw('conversation:send', {
      conversationId: id,
      clientMessageId: queryMarker,
      epoch: 1,
      senderDeviceSeq: 1_000_000,
      contentType: 'text',
      ciphertext: randomBytes(64).toString('base64'),
      nonce: randomBytes(24).toString('base64'),
    });
    expect(String(failedSignIn)).toContain('answered 500');
    expect(failedSend).toMatchObject({ ok: false, error: { code: 'internal' } });
    raw.close();
    await connectAs(gateway.url, { token: marker }, 5_000).then(
      (client) => client.close(),
      () => undefined,
    );
  }, 120_000);

  afterAll(async () => {
    for (const chat of chats) await chat.session.close();
    await gateway?.stop();
    await dataSource?.destroy();
    await database?.drop();
  });

  const secrets = () => ({
    'message plaintext': [marker],
    'attachment plaintext and name': [fileMarker, photo.subarray(70_000, 70_048), photo.subarray(140_000, 140_048)],
    'attachment file key': [fileKey],
    'query parameters of a failed insert': [queryMarker],
    passphrase: [patient.passphrase, practice.clinician.passphrase],
    'backup key (passphrase-derived)': [patient.passphraseKeys.backupKey, practice.clinician.passphraseKeys.backupKey],
    'auth key (sent, stored only hashed)': [patient.passphraseKeys.authKey, practice.manager.passphraseKeys.authKey],
    'bearer token (stored only hashed)': [patient.token, practice.clinician.token],
    'device secret keys': [
      patient.device.signSecretKey,
      patient.device.boxSecretKey,
      practice.clinician.device.signSecretKey,
      practice.clinician.device.boxSecretKey,
    ],
    'patient account secret keys': [patient.account.signSecretKey, patient.account.boxSecretKey],
    'practice root secret key': [practice.root.signSecretKey],
    'record key secrets': [practice.recordKey.seed, practice.recordKey.boxSecretKey],
  });

  const findIn = (text: string) =>
    Object.entries(secrets()).flatMap(([what, values]) =>
      values.some((value) => encodings(value).some((form) => form.length >= 16 && text.includes(form))) ? [what] : [],
    );

  it('finds the plaintext marker in neither the database dump nor the debug log, and finds no secret key, passphrase or token either', async () => {
    const dump = await dumpDatabase(dataSource);
    const log = gateway.output();

    expect(dump).toContain('record_entries');
    // The photo's ciphertext is in the dump (three parts), so its absence as plaintext means something.
    expect(dump.match(/"upload_id":/g)).toHaveLength(3);
    expect(fileKey).toHaveLength(32);
    expect(log.length).toBeGreaterThan(1_000);
    expect(log).toMatch(/"level":20,.*"msg":"socket command refused"/);
    // The failed queries were logged, with what an operator needs: the error's class, its SQLSTATE and where it came from.
    for (const message of ['request failed', 'socket command failed', 'record batch failed']) {
      expect(log).toMatch(
        new RegExp(
          // TypeORM's QueryFailedError (transactions), or pg's own DatabaseError (queries sent straight to pg, database/sql.ts).
          `"err":\\{"type":"(?:QueryFailedError|DatabaseError)","message":"forced failure for the log scan","code":"P0001","stack":"(?:QueryFailedError|error): [^"]+\\\\n +at .*"msg":"${message}"`,
        ),
      );
    }
    expect(findIn(dump)).toEqual([]);
    expect(findIn(log)).toEqual([]);
  });
});

/** Every file under `folder`, recursively. */
async function filesUnder(folder: string): Promise<string[]> {
  const entries = await readdir(folder, { withFileTypes: true, recursive: true });
  return entries.filter((entry) => entry.isFile()).map((entry) => join(entry.parentPath, entry.name));
}

describe("no plaintext of a message or a photo in the data folder (the embedded PostgreSQL's files, write-ahead log included)", () => {
  const dataDir = join(import.meta.dirname, '..', '..', '..', '..', '.data', `plaintext-scan-${process.pid}`);
  let gateway: GatewayProcess;
  let dataSource: DataSource;
  const chats: Chatter[] = [];
  const marker = `PLAINTEXT-MARKER-${randomBytes(8).toString('hex')}`;
  const fileMarker = `FILE-MARKER-${randomBytes(8).toString('hex')}`;
  const photo = Buffer.concat([Buffer.from([0xff, 0xd8, 0xff, 0xe0]), Buffer.from(fileMarker), randomBytes(150_000)]);
  let fileKey = Buffer.alloc(0);

  beforeAll(async () => {
    await ready();
    gateway = await startGatewayProcess({ entry: ENTRY, env: { DATA_DIR: dataDir, DEMO_SEED: 'false' } });
    dataSource = await openDatabase(bannerDatabaseUrl(gateway));
    const practice = await createPracticeWithStaff({ url: gateway.url, dataSource });
    const patientSide = await patientChat(gateway.url, practice, await activatePatient(gateway.url, practice));
    const clinicianSide = await staffChat(gateway.url, practice, practice.clinician);
    chats.push(patientSide, clinicianSide);
    const { id } = await patientSide.session.openConversation('admin');
    await follow(patientSide, id);
    await follow(clinicianSide, id);
    await waitForAssignment(clinicianSide);
    await patientSide.session.conversation(id).send(`${marker} from the patient`);
    await apiOk(
      gateway.url,
      'PUT',
      '/api/practice/attachment-settings',
      { token: practice.manager.token, body: { ...DEFAULT_ATTACHMENT_SETTINGS, patientUploads: 'always' } },
      200,
    );
    expect(await patientSide.session.conversation(id).sendAttachments([{ bytes: photo, type: 'image/jpeg', name: `${fileMarker}.jpg` }])).toMatchObject({
      ok: true,
    });
    await waitUntil(
      () => clinicianSide.entries.some((entry) => entry.ok && entry.value.kind === 'message' && entry.value.attachments.length > 0),
      'the photo',
      20_000,
    );
    const [attachment] = clinicianSide.entries.flatMap((entry) => (entry.ok && entry.value.kind === 'message' ? entry.value.attachments : []));
    fileKey = Buffer.from(attachment!.key, 'base64');
    expect(Buffer.from(await clinicianSide.session.conversation(id).fetchAttachment(attachment!)).equals(photo)).toBe(true);
    // Everything written reaches the data files as well as the write-ahead log.
    await dataSource.query('CHECKPOINT');
  }, 120_000);

  afterAll(async () => {
    for (const chat of chats) await chat.session.close();
    await dataSource?.destroy();
    await gateway?.stop();
    await rm(dataDir, { recursive: true, force: true });
  });

  it('finds the ciphertext of the photo there, and no slice of its plaintext, its name, its key or the message', async () => {
    const [part] = (await dataSource.query(`SELECT bytes FROM attachment_chunks ORDER BY idx LIMIT 1`)) as { bytes: Buffer }[];
    const secrets: Record<string, Buffer[]> = {
      'message plaintext': [Buffer.from(marker)],
      'photo plaintext and name': [Buffer.from(fileMarker), photo.subarray(30_000, 30_048), photo.subarray(100_000, 100_048), photo.subarray(150_000, 150_048)],
      'photo file key': [fileKey],
    };
    const found = new Set<string>();
    let isCiphertextSeen = false;
    let scannedBytes = 0;

    for (const file of await filesUnder(dataDir)) {
      const bytes = await readFile(file);
      scannedBytes += bytes.length;
      if (bytes.includes(part!.bytes.subarray(1_000, 1_048))) isCiphertextSeen = true;
      for (const [what, values] of Object.entries(secrets)) if (values.some((value) => bytes.includes(value))) found.add(what);
    }

    expect(isCiphertextSeen).toBe(true);
    expect(scannedBytes).toBeGreaterThan(10_000_000);
    expect(fileKey).toHaveLength(32);
    expect([...found]).toEqual([]);
  });
});
