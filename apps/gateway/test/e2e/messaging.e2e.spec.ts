import { randomUUID } from 'node:crypto';
import type { FeedEntry } from '@parley/client';
import { ready, TEST_KDF_PARAMS } from '@parley/crypto';
import { COMMAND_NAMES } from '@parley/protocol';
import { startTestApp, type TestApp } from '../app.js';
import { follow, followConversation, patientChat, staffChat, waitForAssignment, type Chatter } from '../chat.js';
import { ChatSession, isPatientSignedIn, signIn, type ChatEntry } from '@parley/sdk';
import { activatePatient, createPracticeWithStaff, type TestPatient, type TestPractice } from '../factories.js';
import { waitUntil } from '../wait.js';

describe('end-to-end-encrypted messaging (in-process gateway, real PostgreSQL, sockets and crypto)', () => {
  let gateway: TestApp;
  let practice: TestPractice;
  let patient: TestPatient;
  let alice: Chatter;
  let clinician: Chatter;
  let conversationId: string;

  beforeAll(async () => {
    await ready();
    gateway = await startTestApp();
    practice = await createPracticeWithStaff(gateway);
    patient = await activatePatient(gateway.url, practice);
    alice = await patientChat(gateway.url, practice, patient);
    clinician = await staffChat(gateway.url, practice, practice.clinician);
    conversationId = (await alice.session.openConversation('repeat-prescription')).id;
    await follow(alice, conversationId);
    await follow(clinician, conversationId);
    await waitForAssignment(clinician);
  });

  afterAll(async () => {
    await alice?.session.close();
    await clinician?.session.close();
    await gateway.close();
  });

  const count = async (table: string) => (await gateway.dataSource.query(`SELECT count(*)::int AS n FROM ${table}`))[0].n as number;

  it('relays a patient message to the clinician, who decrypts it with the record key, and the reply back', async () => {
    const clientMessageId = randomUUID();
    const sent = await alice.session.conversation(conversationId).send('I need my inhaler repeated, please.', { clientMessageId });
    await clinician.waitForEntries(4);
    const reply = await clinician.session.conversation(conversationId).send('Done: collect it from the pharmacy tomorrow.');
    await alice.waitForEntries(5);

    expect(sent).toMatchObject({ ok: true, data: { seq: 4, isDuplicate: false } });
    expect(reply).toMatchObject({ ok: true, data: { seq: 5 } });
    expect(clinician.bodies()).toEqual(['I need my inhaler repeated, please.', 'Done: collect it from the pharmacy tomorrow.']);
    expect(alice.bodies()).toEqual(clinician.bodies());
    expect(alice.entries.map((entry) => entry.seq)).toEqual([1, 2, 3, 4, 5]);
    expect(alice.entries[0]).toMatchObject({ ok: true, value: { kind: 'system', event: 'opened' } });
    expect(alice.entries[1]).toMatchObject({ ok: true, value: { kind: 'system', event: 'acknowledged', data: { text: expect.stringContaining('999') } } });
    expect(alice.entries[2]).toMatchObject({
      ok: true,
      value: { kind: 'system', event: 'assigned', data: { clinicianId: practice.clinician.userId, how: 'auto' } },
    });
    // The sender's own id comes back on both sides' copy: how the sending device matches its local copy.
    expect(alice.entries[3]).toMatchObject({ ok: true, value: { clientMessageId, isMine: true } });
    expect(clinician.entries[3]).toMatchObject({ ok: true, value: { clientMessageId, isMine: false } });
    expect(alice.entries[4]).toMatchObject({
      ok: true,
      value: { senderRole: 'clinician', senderName: practice.clinician.session.user.displayName, isMine: false },
    });
  });

  it('stores no plaintext anywhere: a unique marker is in no column of any table', async () => {
    const marker = `MARKER-${randomUUID()}`;
    await alice.session.conversation(conversationId).send(`my secret symptom ${marker}`);
    await clinician.waitForEntries(6);

    const tables: { table_name: string }[] = await gateway.dataSource.query(`SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'`);
    const dump: string[] = [];
    for (const { table_name } of tables) {
      const rows: { row: string }[] = await gateway.dataSource.query(`SELECT t::text AS row FROM ${table_name} t`);
      dump.push(...rows.map((r) => r.row));
    }
    const text = dump.join('\n');

    expect(clinician.bodies().at(-1)).toBe(`my secret symptom ${marker}`);
    expect(text.length).toBeGreaterThan(1000);
    expect(text).not.toContain(marker);
    expect(text).not.toContain(Buffer.from(marker).toString('hex'));
    expect(text).not.toContain(Buffer.from(marker).toString('base64').slice(0, 20));
  });

  it('tells the other side about typing and read receipts', async () => {
    const typing = new Promise((resolve) => clinician.session.client.on('conversation:typing', resolve));
    const receipt = new Promise((resolve) => alice.session.client.on('receipt:updated', (fact) => fact.kind === 'read' && resolve(fact)));

    await alice.session.conversation(conversationId).setTyping(true);
    await clinician.session.conversation(conversationId).markRead(4);

    expect(await typing).toEqual({ conversationId, userId: patient.userId, role: 'patient', isTyping: true });
    expect(await receipt).toMatchObject({ conversationId, userId: practice.clinician.userId, kind: 'read', upToSeq: 4 });
  });

  it("fans out to the patient's second device, which restored the account key from the backup", async () => {
    const second = await signIn({
      baseUrl: gateway.url,
      practice: practice.odsCode,
      login: patient.nhsNumber,
      passphrase: patient.passphrase,
      deviceLabel: 'tablet',
      kdf: TEST_KDF_PARAMS,
    });
    if (!isPatientSignedIn(second)) throw new Error('a patient signs in as a patient');
    // The tablet pinned the root from the backup and opened the earlier epoch keys with the account key at enrolment.
    const tablet = await ChatSession.start({ baseUrl: gateway.url, signedIn: second, pinnedRoot: second.pinnedRoot, epochKeys: second.epochKeys });
    const seen: FeedEntry<ChatEntry>[] = [];
    await followConversation(tablet, conversationId, (entry) => seen.push(entry));
    const before = seen.length;

    await clinician.session.conversation(conversationId).send('Seen on every device?');
    await waitUntil(() => seen.length > before, 'the message on the tablet');
    await tablet.close();

    expect(second.device.deviceId).not.toBe(patient.deviceId);
    expect(seen.filter((entry) => !entry.ok)).toEqual([]);
    expect(seen.at(-1)).toMatchObject({ ok: true, value: { body: 'Seen on every device?', senderRole: 'clinician' } });
  });

  it('tells the members when someone comes online and goes offline', async () => {
    const events: unknown[] = [];
    alice.session.client.on('presence:changed', (fact) => events.push(fact));
    const nurse = await staffChat(gateway.url, practice, practice.manager);

    await follow(nurse, conversationId);
    await nurse.session.close();
    await waitUntil(
      () => events.length >= 2,
      () => `two presence facts (${events.length} so far)`,
    );

    expect(events).toEqual([
      { conversationId, userId: practice.manager.userId, role: 'manager', isOnline: true },
      { conversationId, userId: practice.manager.userId, role: 'manager', isOnline: false },
    ]);
  });

  it('refuses another patient every command on this conversation, storing nothing', async () => {
    const other = await activatePatient(gateway.url, practice);
    const mallory = await patientChat(gateway.url, practice, other);
    const before = await count('record_entries');
    const c = mallory.session.client;

    const answers = await Promise.all([
      c.request('conversation:join', { conversationId }),
      c.request('conversation:sync', { conversationId, afterSeq: 0 }),
      c.request('conversation:send', {
        conversationId,
        clientMessageId: randomUUID(),
        epoch: 1,
        senderDeviceSeq: 1,
        contentType: 'text',
        ciphertext: Buffer.alloc(272).toString('base64'),
        nonce: Buffer.alloc(24).toString('base64'),
      }),
      c.request('conversation:receipt', { conversationId, kind: 'read', upToSeq: 1 }),
      c.request('conversation:typing', { conversationId, isTyping: true }),
    ]);
    const envelope = {
      recipient: { kind: 'account' as const, userId: other.userId },
      recipientKeyId: Buffer.alloc(16).toString('base64'),
      sealedKey: Buffer.alloc(80).toString('base64'),
      signature: Buffer.alloc(64).toString('base64'),
    };
    const hijack = await c.request('conversation:open', { conversationId, topic: 'repeat-prescription', envelopes: [envelope] });
    const listed = await c.request('conversation:list', {});

    expect(answers.map((answer) => (answer.ok ? 'ok' : answer.error.code))).toEqual(['forbidden', 'forbidden', 'forbidden', 'forbidden', 'forbidden']);
    expect(hijack).toMatchObject({ ok: false, error: { code: 'conflict' } });
    expect(listed).toEqual({ ok: true, data: { conversations: [] } });
    expect(await count('record_entries')).toBe(before);
    await mallory.session.close();
  });

  it('answers malformed, oversized, unknown-field and wrong-type payloads of every command with invalid_payload, and stays usable', async () => {
    const c = alice.session.client;
    const before = await count('record_entries');
    const bad: unknown[] = [null, 'text', 42, [], { conversationId: 'not-a-uuid' }, { conversationId, sneaky: true }];
    const oversized = {
      conversationId,
      clientMessageId: randomUUID(),
      epoch: 1,
      senderDeviceSeq: 99,
      contentType: 'text',
      ciphertext: Buffer.alloc(40_000).toString('base64'),
      nonce: Buffer.alloc(24).toString('base64'),
    };

    const answers = [];
    for (const event of COMMAND_NAMES.filter((name) => name !== 'system:ping' && name !== 'conversation:list')) {
      for (const payload of bad)
        answers.push(
          await c.requestRaw(event, payload).catch((error: Error) => {
            throw new Error(`${event} ${JSON.stringify(payload)}: ${error.message}`);
          }),
        );
    }
    answers.push(await c.requestRaw('conversation:send', oversized));
    answers.push(await c.requestRaw('conversation:list', { extra: 1 }));
    const after = await c.request('conversation:sync', { conversationId, afterSeq: 0 });

    expect(answers.every((answer) => (answer as { ok: boolean; error?: { code: string } }).error?.code === 'invalid_payload')).toBe(true);
    expect(answers.length).toBe((COMMAND_NAMES.length - 2) * 6 + 2);
    expect(after.ok).toBe(true);
    expect(await count('record_entries')).toBe(before);
  });

  it('verifies the whole record after the exchange', async () => {
    const { RecordService } = await import('../../src/record/record.service.js');
    const { RecordRepository } = await import('../../src/record/record.repository.js');

    const breaks = await new RecordService(new RecordRepository(gateway.dataSource)).verifyAll();

    expect(breaks).toEqual([]);
  });
});
