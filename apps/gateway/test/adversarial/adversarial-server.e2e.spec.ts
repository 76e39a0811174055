/**
 * The adversarial-server suite (issue #13, docs/threat-model.md): the server is the attacker. Each test
 * tampers with the database as a malicious operator would (triggers off, rows injected or rewritten) and
 * then drives the real client code (@parley/sdk) against it. Every attack must be refused by the client,
 * and nothing may be sealed to a key the attacker holds. The Chromium half is
 * apps/patient/test/adversarial.browser.spec.ts.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import type { FeedEntry } from '@parley/client';
import {
  certifyDevice,
  certifyPatientAccountKey,
  certifyRecordKey,
  createRecordKey,
  generateDeviceKeys,
  generatePatientAccountKeys,
  generatePracticeRootKey,
  keyId,
  openEpochKey,
  ready,
  signRecordKeyCurrent,
  TEST_KDF_PARAMS,
} from '@parley/crypto';
import { ChatSession, openInvitation, rotateRecordKey, signIn, type ChatEntry, type PatientSignedIn } from '@parley/sdk';
import { newSessionToken } from '../../src/sessions/session-token.js';
import { startTestApp, type TestApp } from '../app.js';
import { follow, followConversation, patientChat, staffChat, type Chatter } from '../chat.js';
import { activatePatient, apiOk, createPracticeWithStaff, invitePatient, type TestPatient, type TestPractice } from '../factories.js';
import { attackLedger, attackerOf } from './attacker.js';

const b64 = (bytes: Uint8Array): string => Buffer.from(bytes).toString('base64');

const { ledger, attack } = attackLedger();

describe('adversarial server: the client refuses what a malicious server offers', () => {
  let gateway: TestApp;
  let practice: TestPractice;
  let patient: TestPatient;
  const opened: Chatter[] = [];

  beforeAll(async () => {
    await ready();
    gateway = await startTestApp();
    practice = await createPracticeWithStaff(gateway);
    patient = await activatePatient(gateway.url, practice);
    // Each attack opens a conversation for the one patient: lift the per-patient limits (patient-limits.e2e tests them).
    await apiOk(
      gateway.url,
      'PUT',
      '/api/practice/patient-limits',
      { token: practice.manager.token, body: { maxOpenPerPatient: null, maxNewPerPatientPerDay: null } },
      200,
    );
  });

  afterAll(async () => {
    for (const chatter of opened) await chatter.session.close().catch(() => undefined);
    await gateway.close();
    process.stdout.write(`adversarial-server (sdk): ${ledger.attacks} attacks, ${ledger.refused} refused\n`);
  });

  const { tamper, injectDevice } = attackerOf(() => gateway.dataSource);

  const envelopeKeyIds = async (conversationId: string): Promise<string[]> =>
    (await gateway.dataSource.query(`SELECT recipient_key_id FROM conversation_envelopes WHERE conversation_id = $1`, [conversationId])).map(
      (row: { recipient_key_id: Buffer }) => row.recipient_key_id.toString('base64'),
    );

  const chat = async (make: () => Promise<Chatter>) => {
    const chatter = await make();
    opened.push(chatter);
    return chatter;
  };

  /** The patient opens a conversation from their first device; answers the envelopes' recipient key ids. */
  const openAsPatient = async () => {
    const alice = await chat(() => patientChat(gateway.url, practice, patient));
    const conversation = await alice.session.openConversation('repeat-prescription');
    return { alice, conversationId: conversation.id, keyIds: await envelopeKeyIds(conversation.id) };
  };

  /** Waits until `count` message entries (opened or refused) reached the chatter. */
  const waitForMessages = async (who: Chatter, count: number, timeoutMs = 15_000) => {
    const deadline = Date.now() + timeoutMs;
    while (who.entries.filter((entry) => entry.entry?.kind === 'message').length < count) {
      if (Date.now() > deadline) throw new Error(`only ${who.entries.length} entries arrived`);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  };

  const refusedCodes = (entries: FeedEntry<ChatEntry>[]) =>
    entries.flatMap((entry) => (!entry.ok && entry.entry ? [(entry.error.cause as { code?: string } | undefined)?.code ?? entry.error.code] : []));

  it.each([
    ['with no certificate', async () => null],
    ['with a garbage certificate', async () => randomBytes(64)],
    [
      'with another device’s certificate',
      async () => (await gateway.dataSource.query(`SELECT certificate FROM devices WHERE id = $1`, [patient.deviceId]))[0].certificate as Buffer,
    ],
  ])('seals nothing to a device row the server injects for the patient %s', async (_kind, certificate) => {
    const injected = await injectDevice(patient.userId, await certificate());

    await attack(async () => {
      const { keyIds } = await openAsPatient();

      expect(keyIds).not.toContain(b64(keyId(injected.keys.boxPublicKey)));
      expect(keyIds).toContain(b64(keyId(patient.device.boxPublicKey)));
    });
    await tamper(`UPDATE devices SET revoked_at = now() WHERE id = $1`, [injected.id]);
  });

  it('seals to its own device key from its own store when the server swaps that key, and to no other device whose key was swapped', async () => {
    const second = await signIn({
      baseUrl: gateway.url,
      practice: practice.odsCode,
      login: patient.nhsNumber,
      passphrase: patient.passphrase,
      deviceLabel: 'tablet',
      kdf: TEST_KDF_PARAMS,
    });
    const attackerKeys = generateDeviceKeys();
    await tamper(`UPDATE devices SET box_public_key = $2, sign_public_key = $3 WHERE id = ANY($1)`, [
      [patient.deviceId, second.device.deviceId],
      Buffer.from(attackerKeys.boxPublicKey),
      Buffer.from(attackerKeys.signPublicKey),
    ]);

    await attack(async () => {
      const { keyIds } = await openAsPatient();

      expect(keyIds).toContain(b64(keyId(patient.device.boxPublicKey)));
      expect(keyIds).not.toContain(b64(keyId(attackerKeys.boxPublicKey)));
      expect(keyIds).not.toContain(b64(keyId(second.device.keys.boxPublicKey)));
    });
    await tamper(`UPDATE devices SET box_public_key = $2, sign_public_key = $3 WHERE id = $1`, [
      patient.deviceId,
      Buffer.from(patient.device.boxPublicKey),
      Buffer.from(patient.device.signPublicKey),
    ]);
    await tamper(`UPDATE devices SET revoked_at = now() WHERE id = $1`, [second.device.deviceId]);
  });

  it('refuses an invitation whose root key the server swapped, before anything is sent', async () => {
    const invitation = await invitePatient(gateway.url, practice.clinician, practice);
    const attackerRoot = generatePracticeRootKey();
    await tamper(`UPDATE practices SET root_sign_public_key = $2 WHERE id = $1`, [practice.id, Buffer.from(attackerRoot.signPublicKey)]);

    await attack(async () => {
      await expect(
        openInvitation({
          baseUrl: gateway.url,
          practice: practice.odsCode,
          code: invitation.code,
          dateOfBirth: invitation.dateOfBirth,
          kdf: { ...TEST_KDF_PARAMS },
        }),
      ).rejects.toMatchObject({ code: 'untrusted_invitation' });
    });
    await tamper(`UPDATE practices SET root_sign_public_key = $2 WHERE id = $1`, [practice.id, Buffer.from(practice.root.signPublicKey)]);
  });

  it('pins the root from the key backup on a new device, not the server’s, and so never seals to a record key the server’s root certified', async () => {
    const attackerRoot = generatePracticeRootKey();
    const attackerRecordKey = createRecordKey(7);
    const now = Date.now();
    const fields = { practiceId: practice.odsCode, version: 7, publicKey: attackerRecordKey.boxPublicKey };
    await tamper(`UPDATE practices SET root_sign_public_key = $2 WHERE id = $1`, [practice.id, Buffer.from(attackerRoot.signPublicKey)]);
    await tamper(
      `INSERT INTO record_keys (practice_id, version, box_public_key, valid_from, certificate, current_issued_at, current_signature) VALUES ($1, 7, $2, $3, $4, $3, $5)`,
      [
        practice.id,
        Buffer.from(attackerRecordKey.boxPublicKey),
        now,
        Buffer.from(certifyRecordKey({ ...fields, validFrom: now }, attackerRoot.signSecretKey).signature),
        Buffer.from(signRecordKeyCurrent({ ...fields, issuedAt: now }, attackerRoot.signSecretKey)),
      ],
    );

    await attack(async () => {
      const onNewDevice = (await signIn({
        baseUrl: gateway.url,
        practice: practice.odsCode,
        login: patient.nhsNumber,
        passphrase: patient.passphrase,
        deviceLabel: 'new phone',
        kdf: TEST_KDF_PARAMS,
      })) as PatientSignedIn;
      const session = await ChatSession.start({
        baseUrl: gateway.url,
        signedIn: onNewDevice,
        pinnedRoot: onNewDevice.pinnedRoot,
        epochKeys: onNewDevice.epochKeys,
      });
      opened.push({ session } as Chatter);
      const conversation = await session.openConversation('repeat-prescription');
      const keyIds = await envelopeKeyIds(conversation.id);

      expect(b64(onNewDevice.pinnedRoot)).toBe(b64(practice.root.signPublicKey));
      expect(keyIds).not.toContain(b64(keyId(attackerRecordKey.boxPublicKey)));
      expect(keyIds).toContain(b64(keyId(practice.recordKey.boxPublicKey)));
    });
    await tamper(`DELETE FROM record_keys WHERE practice_id = $1 AND version = 7`, [practice.id]);
    await tamper(`UPDATE practices SET root_sign_public_key = $2 WHERE id = $1`, [practice.id, Buffer.from(practice.root.signPublicKey)]);
  });

  it('refuses a forged account key the server serves to staff, with or without a forged root certificate, and reads nothing from its devices', async () => {
    const { alice, conversationId } = await openAsPatient();
    await follow(alice, conversationId);
    await alice.session.conversation(conversationId).send('Is my prescription ready?');
    const attackerAccount = generatePatientAccountKeys();
    const attackerRoot = generatePracticeRootKey();
    await tamper(
      `UPDATE account_keys SET sign_public_key = $2, box_public_key = $3, certificate = $4, certified_by = $5, certified_at = now() WHERE user_id = $1`,
      [
        patient.userId,
        Buffer.from(attackerAccount.signPublicKey),
        Buffer.from(attackerAccount.boxPublicKey),
        Buffer.from(
          certifyPatientAccountKey(
            { patientId: patient.userId, signPublicKey: attackerAccount.signPublicKey, boxPublicKey: attackerAccount.boxPublicKey },
            attackerRoot.signSecretKey,
          ).signature,
        ),
        practice.manager.userId,
      ],
    );
    // The attacker re-certifies the patient's real device with its own account key, so the device chains to the forged key.
    await tamper(`UPDATE devices SET certificate = $2 WHERE id = $1`, [
      patient.deviceId,
      Buffer.from(
        certifyDevice(
          { userId: patient.userId, deviceId: patient.deviceId, signPublicKey: patient.device.signPublicKey, boxPublicKey: patient.device.boxPublicKey },
          attackerAccount.signSecretKey,
        ).signature,
      ),
    ]);

    await attack(async () => {
      const clinician = await chat(() => staffChat(gateway.url, practice, practice.clinician));
      await follow(clinician, conversationId);
      await waitForMessages(clinician, 1);

      expect(clinician.bodies()).toEqual([]);
      expect(refusedCodes(clinician.entries)).toContain('untrusted_sender');
    });
    await attack(async () => {
      // The same without the forged root certificate: only the invitation chain, which the forged key cannot have.
      await tamper(`UPDATE account_keys SET certificate = NULL, certified_by = NULL, certified_at = NULL WHERE user_id = $1`, [patient.userId]);
      const manager = await chat(() => staffChat(gateway.url, practice, practice.manager));
      await follow(manager, conversationId);
      await waitForMessages(manager, 1);

      expect(manager.bodies()).toEqual([]);
      expect(refusedCodes(manager.entries)).toContain('untrusted_sender');
    });
    await tamper(`UPDATE account_keys SET sign_public_key = $2, box_public_key = $3 WHERE user_id = $1`, [
      patient.userId,
      Buffer.from(patient.account.signPublicKey),
      Buffer.from(patient.account.boxPublicKey),
    ]);
    await tamper(`UPDATE devices SET certificate = $2 WHERE id = $1`, [
      patient.deviceId,
      Buffer.from(
        certifyDevice(
          { userId: patient.userId, deviceId: patient.deviceId, signPublicKey: patient.device.signPublicKey, boxPublicKey: patient.device.boxPublicKey },
          patient.account.signSecretKey,
        ).signature,
      ),
    ]);
  });

  it('refuses an envelope the server substituted, and a first-epoch envelope made by a staff device', async () => {
    const { alice, conversationId } = await openAsPatient();
    await follow(alice, conversationId);
    await alice.session.conversation(conversationId).send('A question about my results.');
    const recordKeyId = Buffer.from(keyId(practice.recordKey.boxPublicKey));
    const original = (
      await gateway.dataSource.query(
        `SELECT sealed_key, signature, creator_device_id FROM conversation_envelopes WHERE conversation_id = $1 AND recipient_key_id = $2`,
        [conversationId, recordKeyId],
      )
    )[0];
    const { sealEpochKey, createEpochKey } = await import('@parley/crypto');
    const attackerEpochKey = createEpochKey();
    const bySealing = sealEpochKey({
      conversationId,
      epoch: 1,
      epochKey: attackerEpochKey,
      recipientBoxPublicKey: practice.recordKey.boxPublicKey,
      creatorSignSecretKey: practice.clinician.device.signSecretKey,
    });

    await attack(async () => {
      // A new sealed key under the patient device's old signature.
      await tamper(`UPDATE conversation_envelopes SET sealed_key = $3 WHERE conversation_id = $1 AND recipient_key_id = $2`, [
        conversationId,
        recordKeyId,
        Buffer.from(bySealing.sealedKey),
      ]);
      const clinician = await chat(() => staffChat(gateway.url, practice, practice.clinician));
      await follow(clinician, conversationId);
      await waitForMessages(clinician, 1);

      expect(clinician.bodies()).toEqual([]);
      expect(refusedCodes(clinician.entries)).toContain('bad_signature');
    });
    await attack(async () => {
      // A whole envelope, validly signed by a staff device (an old one whose keys leaked): epoch 1 comes only from the patient's devices.
      await tamper(
        `UPDATE conversation_envelopes SET sealed_key = $3, signature = $4, creator_device_id = $5 WHERE conversation_id = $1 AND recipient_key_id = $2`,
        [conversationId, recordKeyId, Buffer.from(bySealing.sealedKey), Buffer.from(bySealing.signature), practice.clinician.deviceId],
      );
      const manager = await chat(() => staffChat(gateway.url, practice, practice.manager));
      await follow(manager, conversationId);
      await waitForMessages(manager, 1);

      expect(manager.bodies()).toEqual([]);
      expect(refusedCodes(manager.entries)).toContain('not_member');
    });
    await tamper(
      `UPDATE conversation_envelopes SET sealed_key = $3, signature = $4, creator_device_id = $5 WHERE conversation_id = $1 AND recipient_key_id = $2`,
      [conversationId, recordKeyId, original.sealed_key, original.signature, original.creator_device_id],
    );
  });

  it('refuses a message from a device whose certificate chains to neither the account key nor the root', async () => {
    const { alice, conversationId } = await openAsPatient();
    await follow(alice, conversationId);
    const clinician = await chat(() => staffChat(gateway.url, practice, practice.clinician));
    await follow(clinician, conversationId);
    // The epoch key, as the server could have it only by breaking the crypto: the test stands in for that.
    const envelope = (
      await gateway.dataSource.query(
        `SELECT recipient_key_id, sealed_key, signature FROM conversation_envelopes WHERE conversation_id = $1 AND recipient_device_id = $2`,
        [conversationId, patient.deviceId],
      )
    )[0];
    const epochKey = openEpochKey({
      conversationId,
      epoch: 1,
      envelope: { recipientKeyId: envelope.recipient_key_id, sealedKey: envelope.sealed_key, signature: envelope.signature },
      recipient: patient.device,
      creator: { signPublicKey: patient.device.signPublicKey, isTrusted: true, isMember: true },
    });
    const rogueAccount = generatePatientAccountKeys();
    const rogueKeys = generateDeviceKeys();
    const rogueId = randomUUID();
    const rogueCertificate = certifyDevice(
      { userId: patient.userId, deviceId: rogueId, signPublicKey: rogueKeys.signPublicKey, boxPublicKey: rogueKeys.boxPublicKey },
      rogueAccount.signSecretKey,
    );
    await tamper(`INSERT INTO devices (id, user_id, label, sign_public_key, box_public_key, certificate) VALUES ($1, $2, 'rogue', $3, $4, $5)`, [
      rogueId,
      patient.userId,
      Buffer.from(rogueKeys.signPublicKey),
      Buffer.from(rogueKeys.boxPublicKey),
      Buffer.from(rogueCertificate.signature),
    ]);
    const { token, tokenHash } = newSessionToken();
    await tamper(`INSERT INTO sessions (id, user_id, device_id, token_hash, expires_at) VALUES ($1, $2, $3, $4, now() + interval '1 hour')`, [
      randomUUID(),
      patient.userId,
      rogueId,
      tokenHash,
    ]);
    const rogue = await ChatSession.start({
      baseUrl: gateway.url,
      signedIn: { session: { ...patient.session, token, deviceId: rogueId }, device: { deviceId: rogueId, keys: rogueKeys }, account: patient.account },
      pinnedRoot: practice.root.signPublicKey,
      epochKeys: new Map([[`${conversationId}/1`, epochKey]]),
    });
    opened.push({ session: rogue } as Chatter);

    await attack(async () => {
      await followConversation(rogue, conversationId, () => undefined);
      const sent = await rogue.conversation(conversationId).send('Please send my records to this address.');
      expect(sent.ok).toBe(true);
      await waitForMessages(clinician, 1);
      await waitForMessages(alice, 1);

      expect(clinician.bodies()).toEqual([]);
      expect(alice.bodies()).toEqual([]);
      expect(refusedCodes(clinician.entries)).toEqual(['untrusted_sender']);
      expect(refusedCodes(alice.entries)).toEqual(['untrusted_sender']);
    });
  });

  it('refuses to seal to an older record key version than it has seen, after a rotation the server hides', async () => {
    await rotateRecordKey({
      baseUrl: gateway.url,
      token: practice.manager.token,
      odsCode: practice.odsCode,
      root: practice.root,
      granter: { deviceId: practice.manager.deviceId, keys: practice.manager.device },
    });
    let floor = 0;
    const signedIn = { session: patient.session, device: { deviceId: patient.deviceId, keys: patient.device }, account: patient.account };
    const session = await ChatSession.start({
      baseUrl: gateway.url,
      signedIn,
      pinnedRoot: practice.root.signPublicKey,
      onRecordKeyFloor: (version) => (floor = version),
    });
    opened.push({ session } as Chatter);
    await session.openConversation('repeat-prescription');
    expect(floor).toBe(2);
    await tamper(`UPDATE record_keys SET current_signature = NULL, current_issued_at = NULL WHERE practice_id = $1 AND version = 2`, [practice.id]);

    await attack(async () => {
      const later = await ChatSession.start({ baseUrl: gateway.url, signedIn, pinnedRoot: practice.root.signPublicKey, recordKeyFloor: floor });
      opened.push({ session: later } as Chatter);

      await expect(later.openConversation('repeat-prescription')).rejects.toMatchObject({ code: 'untrusted_record_key' });
    });
  });

  it('counted every attack as refused', () => {
    expect(ledger.attacks).toBe(12);
    expect(ledger.refused).toBe(ledger.attacks);
  });
});
