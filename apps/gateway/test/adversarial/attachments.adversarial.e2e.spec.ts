/**
 * Attachments against an adversary (issue #18; docs/threat-model.md): a client that tries to attach another device's
 * upload, and the server, as the attacker with the database, swapping, changing or cutting a stored file. The
 * gateway refuses the first; the real @parley/sdk refuses to show anything of the others.
 */
import { randomBytes, randomInt, randomUUID } from 'node:crypto';
import { encryptFile, ready, type AttachmentDescriptor } from '@parley/crypto';
import type { Conversation } from '@parley/sdk';
import { startTestApp, type TestApp } from '../app.js';
import { follow, patientChat, staffChat, waitForAssignment, type Chatter } from '../chat.js';
import { activatePatient, api, apiOk, connectAs, createPracticeWithStaff, type TestPatient, type TestPractice } from '../factories.js';
import { waitUntil } from '../wait.js';
import { attackerOf, attackLedger } from './attacker.js';

describe('adversarial: attachments', () => {
  let gateway: TestApp;
  let practice: TestPractice;
  let clinician: Chatter;
  const opened: Chatter[] = [];
  const { ledger, attack } = attackLedger();

  beforeAll(async () => {
    await ready();
    gateway = await startTestApp();
    practice = await createPracticeWithStaff(gateway);
    clinician = await staffChat(gateway.url, practice, practice.clinician);
    opened.push(clinician);
    const manager = await connectAs(gateway.url, practice.manager);
    await manager.request('capacity:set-clinician', { clinicianId: practice.clinician.userId, maxConcurrent: 50, dailyMax: null });
    manager.close();
    await apiOk(
      gateway.url,
      'PUT',
      '/api/practice/attachment-settings',
      {
        token: practice.manager.token,
        body: {
          patientUploads: 'always',
          acceptedTypes: ['image/jpeg', 'application/pdf'],
          maxFileBytes: 10_485_760,
          maxConversationBytes: 52_428_800,
          maxPatientDailyBytes: 52_428_800,
        },
      },
      200,
    );
  });

  afterAll(async () => {
    for (const chatter of opened) await chatter.session.close().catch(() => undefined);
    await gateway.close();
    console.log(`attachments adversarial: ${ledger.attacks} attacks, ${ledger.refused} refused`);
  });

  const { tamper } = attackerOf(() => gateway.dataSource);

  /** A patient in a conversation assigned to the clinician, both following it. */
  async function aConversation(): Promise<{ patient: TestPatient; alice: Chatter; id: string; clinicianSide: Conversation }> {
    const patient = await activatePatient(gateway.url, practice);
    const alice = await patientChat(gateway.url, practice, patient);
    opened.push(alice);
    const id = (await alice.session.openConversation('admin')).id;
    await follow(alice, id);
    await follow(clinician, id);
    await waitForAssignment(alice);
    return { patient, alice, id, clinicianSide: clinician.session.conversation(id) };
  }

  /** The patient sends `bytes` as a photo through the SDK; resolves with the descriptor the clinician received. */
  async function sentPhoto(alice: Chatter, id: string, clinicianSide: Conversation, bytes: Uint8Array): Promise<AttachmentDescriptor> {
    expect(await alice.session.conversation(id).sendAttachments([{ bytes, type: 'image/jpeg', name: 'photo.jpg' }])).toMatchObject({ ok: true });
    let found: AttachmentDescriptor | undefined;
    await waitUntil(() => {
      found = clinicianSide.entries.flatMap((entry) => (entry.ok && entry.value.kind === 'message' ? entry.value.attachments : [])).at(-1);
      return found !== undefined;
    }, 'the photo on the clinician side');
    return found!;
  }

  it("refuses a message that claims another device's upload, and stores nothing", async () => {
    await attack(async () => {
      const victim = await aConversation();
      const mallory = await aConversation();
      const file = encryptFile(randomBytes(5_000));
      const created = await apiOk<{ uploadId: string }>(
        gateway.url,
        'POST',
        '/api/attachments/uploads',
        { token: victim.patient.token, body: { conversationId: victim.id, contentType: 'image/jpeg', cipherBytes: file.ciphertext.length } },
        201,
      );
      await api(gateway.url, 'PUT', `/api/attachments/uploads/${created.uploadId}/chunks/0`, {
        token: victim.patient.token,
        rawBody: file.ciphertext,
        headers: { 'content-type': 'application/octet-stream' },
      });
      await apiOk(gateway.url, 'POST', `/api/attachments/uploads/${created.uploadId}/complete`, { token: victim.patient.token }, 200);
      const count = async () => Number((await gateway.dataSource.query(`SELECT count(*)::int AS n FROM record_entries`))[0].n);
      const before = await count();
      const claim = (who: Chatter, conversationId: string) =>
        who.session.client.request('conversation:send', {
          conversationId,
          clientMessageId: randomUUID(),
          epoch: 1,
          senderDeviceSeq: 1_000_000 + randomInt(1_000_000),
          contentType: 'attachment',
          attachmentIds: [created.uploadId],
          ciphertext: randomBytes(300).toString('base64'),
          nonce: randomBytes(24).toString('base64'),
        });

      // Into Mallory's own conversation; into the victim's (not Mallory's to write in); and from the clinician's device.
      const answers = [await claim(mallory.alice, mallory.id), await claim(mallory.alice, victim.id), await claim(clinician, victim.id)];
      const [row] = await gateway.dataSource.query(`SELECT client_message_id FROM attachment_uploads WHERE id = $1`, [created.uploadId]);

      expect(answers.map((answer) => (answer.ok ? 'ok' : answer.error.code))).toEqual(['not_found', 'forbidden', 'not_found']);
      expect(row).toEqual({ client_message_id: null });
      expect(await count()).toBe(before);
    });
  });

  it('refuses a blob the server swapped, changed or cut short: the reader gets an error, never part of a file', async () => {
    const { alice, id, clinicianSide } = await aConversation();
    const original = randomBytes(140_000);
    const photo = await sentPhoto(alice, id, clinicianSide, original);
    const other = await sentPhoto(alice, id, clinicianSide, randomBytes(140_000));
    const parts = async (uploadId: string) =>
      (await gateway.dataSource.query(`SELECT idx, bytes FROM attachment_chunks WHERE upload_id = $1 ORDER BY idx`, [uploadId])) as {
        idx: number;
        bytes: Buffer;
      }[];
    const saved = await parts(photo.id);
    const restore = async () => {
      await tamper(`DELETE FROM attachment_chunks WHERE upload_id = $1`, [photo.id]);
      for (const part of saved) await tamper(`INSERT INTO attachment_chunks (upload_id, idx, bytes) VALUES ($1, $2, $3)`, [photo.id, part.idx, part.bytes]);
    };
    expect(Buffer.from(await clinicianSide.fetchAttachment(photo)).equals(original)).toBe(true);

    const tampered = [
      // Another file's parts served in its place (same length: the hash is what catches it).
      async () => {
        await tamper(`DELETE FROM attachment_chunks WHERE upload_id = $1`, [photo.id]);
        for (const part of await parts(other.id))
          await tamper(`INSERT INTO attachment_chunks (upload_id, idx, bytes) VALUES ($1, $2, $3)`, [photo.id, part.idx, part.bytes]);
      },
      // One byte flipped in the middle part.
      async () => tamper(`UPDATE attachment_chunks SET bytes = set_byte(bytes, 100, get_byte(bytes, 100) # 1) WHERE upload_id = $1 AND idx = 1`, [photo.id]),
      // The last part dropped, and the size on record shrunk to match: a truncated file.
      async () => {
        await tamper(`DELETE FROM attachment_chunks WHERE upload_id = $1 AND idx = 2`, [photo.id]);
        await tamper(`UPDATE attachment_uploads SET cipher_bytes = $2, chunk_count = 2 WHERE id = $1`, [photo.id, 2 * 65_553]);
      },
    ];
    for (const change of tampered) {
      await attack(async () => {
        await change();
        await expect(clinicianSide.fetchAttachment(photo)).rejects.toThrow();
        await tamper(`UPDATE attachment_uploads SET cipher_bytes = $2, chunk_count = 3 WHERE id = $1`, [
          photo.id,
          saved.reduce((sum, part) => sum + part.bytes.length, 0),
        ]);
        await restore();
      });
    }
    expect(Buffer.from(await clinicianSide.fetchAttachment(photo)).equals(original)).toBe(true);
    expect(ledger.refused).toBe(ledger.attacks);
  });
});
