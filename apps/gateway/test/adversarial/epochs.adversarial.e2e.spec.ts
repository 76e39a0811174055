/**
 * The adversarial-server suite's lifecycle attacks on new epochs (issue #17; docs/threat-model.md): the server, as the
 * attacker with the database, tampers with epochs and envelopes, and the real @parley/sdk must refuse. Same style as
 * adversarial-server.e2e.spec.ts (its `tamper` and `injectDevice`, copied minimally).
 */
import { randomUUID } from 'node:crypto';
import { certifyDevice, generateDeviceKeys, generatePatientAccountKeys, keyId, ready, sealEpochKey, createEpochKey } from '@parley/crypto';
import { startTestApp, type TestApp } from '../app.js';
import { follow, patientChat, staffChat, waitForAssignment, type Chatter } from '../chat.js';
import { activatePatient, createPracticeWithStaff, type TestPatient, type TestPractice } from '../factories.js';
import { waitUntil } from '../wait.js';
import { attackerOf } from './attacker.js';

const b64 = (bytes: Uint8Array): string => Buffer.from(bytes).toString('base64');

describe('adversarial server: new epochs', () => {
  let gateway: TestApp;
  let practice: TestPractice;
  let clinician: Chatter;
  const opened: Chatter[] = [];

  beforeAll(async () => {
    await ready();
    gateway = await startTestApp();
    practice = await createPracticeWithStaff(gateway);
    clinician = await staffChat(gateway.url, practice, practice.clinician);
    opened.push(clinician);
  });

  afterAll(async () => {
    for (const chatter of opened) await chatter.session.close().catch(() => undefined);
    await gateway.close();
  });

  const { tamper, injectDevice } = attackerOf(() => gateway.dataSource);

  /** A patient in a conversation assigned to the clinician, both following it. */
  async function aConversation(): Promise<{ patient: TestPatient; alice: Chatter; id: string }> {
    const patient = await activatePatient(gateway.url, practice);
    const alice = await patientChat(gateway.url, practice, patient);
    opened.push(alice);
    const id = (await alice.session.openConversation('admin')).id;
    await follow(alice, id);
    await follow(clinician, id);
    await waitForAssignment(clinician);
    return { patient, alice, id };
  }

  const keyIdsOf = async (conversationId: string, epoch: number): Promise<string[]> =>
    (
      await gateway.dataSource.query(`SELECT recipient_key_id FROM conversation_envelopes WHERE conversation_id = $1 AND epoch = $2`, [conversationId, epoch])
    ).map((row: { recipient_key_id: Buffer }) => row.recipient_key_id.toString('base64'));

  it('refuses an old epoch’s envelopes the server replays as a newer epoch, and keeps the first key it saw for an epoch', async () => {
    const { patient, alice, id } = await aConversation();
    await clinician.session.conversation(id).startEpoch('handover');
    await alice.session.conversation(id).send('Under epoch 2.');
    await waitUntil(() => clinician.bodies().includes('Under epoch 2.'), 'the epoch-2 message');

    // Replay: epoch 1's envelopes (whose keys a leaver may hold) listed again as epoch 3, the current one.
    await tamper(
      `INSERT INTO conversation_envelopes (conversation_id, epoch, recipient_kind, recipient_device_id, recipient_user_id, recipient_record_version, recipient_key_id, sealed_key, signature, creator_device_id)
       SELECT conversation_id, 3, recipient_kind, recipient_device_id, recipient_user_id, recipient_record_version, recipient_key_id, sealed_key, signature, creator_device_id
         FROM conversation_envelopes WHERE conversation_id = $1 AND epoch = 1`,
      [id],
    );
    await tamper(`UPDATE conversations SET current_epoch = 3 WHERE id = $1`, [id]);
    const fresh = await patientChat(gateway.url, practice, patient);
    opened.push(fresh);
    await follow(fresh, id);
    const replayed = fresh.session.conversation(id).send('Must not go under a replayed key.');

    await expect(replayed).rejects.toMatchObject({ code: 'bad_signature' });
    expect(await gateway.dataSource.query(`SELECT 1 FROM record_entries WHERE conversation_id = $1 AND epoch = 3`, [id])).toEqual([]);

    // Swap: epoch 2's envelope to the patient's device replaced by epoch 1's; the device that opened epoch 2 keeps its key.
    await tamper(`UPDATE conversations SET current_epoch = 2 WHERE id = $1`, [id]);
    await tamper(`DELETE FROM conversation_envelopes WHERE conversation_id = $1 AND epoch = 3`, [id]);
    await tamper(
      `UPDATE conversation_envelopes e2 SET sealed_key = e1.sealed_key, signature = e1.signature
         FROM conversation_envelopes e1
        WHERE e2.conversation_id = $1 AND e2.epoch = 2 AND e1.conversation_id = $1 AND e1.epoch = 1 AND e2.recipient_device_id = $2 AND e1.recipient_device_id = $2`,
      [id, patient.deviceId],
    );
    const kept = await alice.session.conversation(id).send('Still under the epoch-2 key I opened first.');
    await waitUntil(() => clinician.bodies().includes('Still under the epoch-2 key I opened first.'), 'the message under the kept key');

    expect(kept).toMatchObject({ ok: true });
    expect(alice.entries.filter((entry) => !entry.ok)).toEqual([]);
  });

  it('refuses a new epoch whose envelopes a device that is no trusted member created, and sends nothing under its key', async () => {
    const { patient, alice, id } = await aConversation();
    const rogueAccount = generatePatientAccountKeys();
    const rogueKeys = generateDeviceKeys();
    const rogueId = randomUUID();
    const rogueCertificate = certifyDevice(
      { userId: patient.userId, deviceId: rogueId, signPublicKey: rogueKeys.signPublicKey, boxPublicKey: rogueKeys.boxPublicKey },
      rogueAccount.signSecretKey,
    );
    await tamper(`INSERT INTO devices (id, user_id, label, sign_public_key, box_public_key, certificate) VALUES ($1, $2, 'attacker', $3, $4, $5)`, [
      rogueId,
      patient.userId,
      Buffer.from(rogueKeys.signPublicKey),
      Buffer.from(rogueKeys.boxPublicKey),
      Buffer.from(rogueCertificate.signature),
    ]);
    // The server's own epoch 2, complete (the device, the account key, the record key): a key it knows, "signed" by its rogue device.
    const epochKey = createEpochKey();
    const recipients: [string, string | null, string | null, number | null, Uint8Array][] = [
      ['device', patient.deviceId, null, null, patient.device.boxPublicKey],
      ['account', null, patient.userId, null, patient.account.boxPublicKey],
      ['record', null, null, 1, practice.recordKey.boxPublicKey],
    ];
    for (const [kind, deviceId, userId, version, boxPublicKey] of recipients) {
      const sealed = sealEpochKey({
        conversationId: id,
        epoch: 2,
        epochKey,
        recipientBoxPublicKey: boxPublicKey,
        creatorSignSecretKey: rogueKeys.signSecretKey,
      });
      await tamper(
        `INSERT INTO conversation_envelopes (conversation_id, epoch, recipient_kind, recipient_device_id, recipient_user_id, recipient_record_version, recipient_key_id, sealed_key, signature, creator_device_id)
         VALUES ($1, 2, $2, $3, $4, $5, $6, $7, $8, $9)`,
        [id, kind, deviceId, userId, version, Buffer.from(sealed.recipientKeyId), Buffer.from(sealed.sealedKey), Buffer.from(sealed.signature), rogueId],
      );
    }
    await tamper(`UPDATE conversations SET current_epoch = 2 WHERE id = $1`, [id]);

    const send = alice.session.conversation(id).send('Must not go under the server’s key.');

    await expect(send).rejects.toMatchObject({ code: 'untrusted_creator' });
    expect(await gateway.dataSource.query(`SELECT 1 FROM record_entries WHERE conversation_id = $1 AND kind = 'message'`, [id])).toEqual([]);
  });

  it('seals a new epoch to no attacker key the server lists: not a device it injects for the patient, nor an account key it swaps in', async () => {
    const { patient, alice, id } = await aConversation();
    const injected = await injectDevice(patient.userId, null);
    const injectedKeyId = b64(keyId(injected.keys.boxPublicKey));

    const byPatient = await alice.session.conversation(id).startEpoch('device-added');
    const byClinician = await clinician.session.conversation(id).startEpoch('age');

    expect([byPatient, byClinician]).toEqual([2, 3]);
    for (const epoch of [2, 3]) expect(await keyIdsOf(id, epoch)).not.toContain(injectedKeyId);
    const devices = await gateway.dataSource.query(
      `SELECT DISTINCT recipient_device_id FROM conversation_envelopes WHERE conversation_id = $1 AND epoch > 1 AND recipient_kind = 'device'`,
      [id],
    );
    expect(devices).toEqual([{ recipient_device_id: patient.deviceId }]);

    // The account key swapped for the attacker's: the clinician's client finds it does not chain to the root and seals nothing.
    const attacker = generatePatientAccountKeys();
    const [original] = await gateway.dataSource.query(`SELECT sign_public_key, box_public_key FROM account_keys WHERE user_id = $1`, [patient.userId]);
    await tamper(`UPDATE account_keys SET sign_public_key = $2, box_public_key = $3 WHERE user_id = $1`, [
      patient.userId,
      Buffer.from(attacker.signPublicKey),
      Buffer.from(attacker.boxPublicKey),
    ]);
    const swapped = clinician.session.conversation(id).startEpoch('age');

    await expect(swapped).rejects.toMatchObject({ code: 'untrusted_account_key' });
    expect(await keyIdsOf(id, 4)).toEqual([]);
    await tamper(`UPDATE account_keys SET sign_public_key = $2, box_public_key = $3 WHERE user_id = $1`, [
      patient.userId,
      original.sign_public_key,
      original.box_public_key,
    ]);
  });
});
