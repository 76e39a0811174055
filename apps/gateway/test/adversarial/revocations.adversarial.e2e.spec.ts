/**
 * The adversarial-server suite, revocation part (issue #17, docs/threat-model.md): the server re-lists a revoked
 * device, rolls the revocation list back or signs one itself, and the real client code (@parley/sdk) must refuse.
 * Helpers as in adversarial-server.e2e.spec.ts: the attacker tampers with the database with row triggers off.
 */
import { randomUUID } from 'node:crypto';
import { HttpApi, type FeedEntry } from '@parley/client';
import { generatePracticeRootKey, keyId, ready, signRevocationList, TEST_KDF_PARAMS } from '@parley/crypto';
import { ChatSession, publishRevocations, RevocationState, signIn, type ChatEntry, type PatientSignedIn } from '@parley/sdk';
import { newSessionToken } from '../../src/sessions/session-token.js';
import { startTestApp, type TestApp } from '../app.js';
import { follow, type Chatter } from '../chat.js';
import { activatePatient, apiOk, createPracticeWithStaff, type TestPatient, type TestPractice } from '../factories.js';
import { attackLedger, attackerOf } from './attacker.js';

const b64 = (bytes: Uint8Array): string => Buffer.from(bytes).toString('base64');

const { ledger, attack } = attackLedger();

describe('adversarial server: clients enforce the signed revocation list, whatever the server lists', () => {
  let gateway: TestApp;
  let practice: TestPractice;
  const sessions: ChatSession[] = [];

  beforeAll(async () => {
    await ready();
    gateway = await startTestApp();
    practice = await createPracticeWithStaff(gateway);
    await apiOk(
      gateway.url,
      'PUT',
      '/api/practice/patient-limits',
      { token: practice.manager.token, body: { maxOpenPerPatient: null, maxNewPerPatientPerDay: null } },
      200,
    );
  });

  afterAll(async () => {
    for (const session of sessions) await session.close().catch(() => undefined);
    await gateway.close();
    process.stdout.write(`adversarial-server (revocations): ${ledger.attacks} attacks, ${ledger.refused} refused\n`);
  });

  const { tamper } = attackerOf(() => gateway.dataSource);

  /** The practice's revocation list as a client verifies it, under the root it pinned. */
  const revocationState = (token: string, versionFloor = 0) =>
    new RevocationState({
      api: new HttpApi({ baseUrl: gateway.url, token }),
      practiceOdsCode: practice.odsCode,
      pinnedRoot: practice.root.signPublicKey,
      versionFloor,
    });

  /** The manager's client revokes a device in the practice's list, signing with the root it holds. */
  const publish = async (deviceId: string, revokedAt = Date.now()) => {
    const api = new HttpApi({ baseUrl: gateway.url, token: practice.manager.token });
    return publishRevocations({
      api,
      state: revocationState(practice.manager.token),
      practiceOdsCode: practice.odsCode,
      add: [{ deviceId, revokedAt }],
      signerSignPublicKey: practice.root.signPublicKey,
      signerSignSecretKey: practice.root.signSecretKey,
    });
  };

  const start = async (
    signedIn: PatientSignedIn | { session: TestPatient['session']; device: PatientSignedIn['device']; account: PatientSignedIn['account'] },
    revocations?: RevocationState,
  ) => {
    const session = await ChatSession.start({ baseUrl: gateway.url, signedIn, pinnedRoot: practice.root.signPublicKey, revocations });
    sessions.push(session);
    return session;
  };

  const asSignedIn = (patient: TestPatient) => ({
    session: patient.session,
    device: { deviceId: patient.deviceId, keys: patient.device },
    account: { signPublicKey: patient.account.signPublicKey, boxPublicKey: patient.account.boxPublicKey },
  });

  /** A patient with a second certified device (a phone that will be lost). */
  const patientWithPhone = async () => {
    const patient = await activatePatient(gateway.url, practice);
    const phone = (await signIn({
      baseUrl: gateway.url,
      practice: practice.odsCode,
      login: patient.nhsNumber,
      passphrase: patient.passphrase,
      deviceLabel: 'phone',
      kdf: TEST_KDF_PARAMS,
    })) as PatientSignedIn;
    return { patient, phone };
  };

  /** The patient's own client revokes the phone on the server, and the manager's client lists it. */
  const losePhone = async (patient: TestPatient, phone: PatientSignedIn) => {
    await apiOk(gateway.url, 'POST', `/api/devices/${phone.device.deviceId}/revoke`, { token: patient.token });
    const revokedAt = Date.now();
    await publish(phone.device.deviceId, revokedAt);
    return revokedAt;
  };

  /** A clinician's session with the record key, reading through the given revocation list. */
  const staffReader = async (revocations: RevocationState): Promise<Chatter> => {
    await revocations.refresh();
    const session = await ChatSession.start({
      baseUrl: gateway.url,
      signedIn: { session: practice.clinician.session, device: { deviceId: practice.clinician.deviceId, keys: practice.clinician.device } },
      pinnedRoot: practice.root.signPublicKey,
      recordKeys: new Map([[practice.recordKey.version, practice.recordKey]]),
      revocations,
    });
    sessions.push(session);
    const entries: FeedEntry<ChatEntry>[] = [];
    return {
      session,
      entries,
      bodies: () => entries.flatMap((entry) => (entry.ok && entry.value.kind === 'message' ? [entry.value.body] : [])),
      waitForEntries: async () => undefined,
    };
  };

  const envelopeKeyIds = async (conversationId: string): Promise<string[]> =>
    (await gateway.dataSource.query(`SELECT recipient_key_id FROM conversation_envelopes WHERE conversation_id = $1`, [conversationId])).map(
      (row: { recipient_key_id: Buffer }) => row.recipient_key_id.toString('base64'),
    );

  const refusedCodes = (entries: FeedEntry<ChatEntry>[]) =>
    entries.flatMap((entry) => (!entry.ok && entry.entry ? [(entry.error.cause as { code?: string } | undefined)?.code ?? entry.error.code] : []));

  const waitForMessages = async (who: Chatter, count: number, timeoutMs = 15_000) => {
    const deadline = Date.now() + timeoutMs;
    while (who.entries.filter((entry) => entry.entry?.kind === 'message').length < count) {
      if (Date.now() > deadline) throw new Error(`only ${who.entries.length} entries arrived`);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  };

  it('seals nothing to a lost phone the server re-lists as active, where a client without the list would', async () => {
    const { patient, phone } = await patientWithPhone();
    await losePhone(patient, phone);
    await tamper(`UPDATE devices SET revoked_at = NULL WHERE id = $1`, [phone.device.deviceId]);
    const unprotected = await start(asSignedIn(patient));
    const control = await unprotected.openConversation('repeat-prescription');
    // The attack is real: a client that believes the server's listing seals to the re-listed phone.
    expect(await envelopeKeyIds(control.id)).toContain(b64(keyId(phone.device.keys.boxPublicKey)));

    await attack(async () => {
      const protectedSession = await start(asSignedIn(patient), revocationState(patient.token));
      const conversation = await protectedSession.openConversation('repeat-prescription');

      const keyIds = await envelopeKeyIds(conversation.id);
      expect(keyIds).not.toContain(b64(keyId(phone.device.keys.boxPublicKey)));
      expect(keyIds).toContain(b64(keyId(patient.device.boxPublicKey)));
    });
  });

  it("reads a lost phone's messages from before its revocation and refuses those after it, when the server re-lists the phone", async () => {
    const { patient, phone } = await patientWithPhone();
    const alice = await start(asSignedIn(patient));
    const conversation = await alice.openConversation('repeat-prescription');
    const phoneSession = await start(phone);
    await phoneSession.conversation(conversation.id).open();
    expect((await phoneSession.conversation(conversation.id).send('Sent before the phone was lost.')).ok).toBe(true);
    await losePhone(patient, phone);
    // The server re-lists the phone and gives whoever holds it a session again.
    await tamper(`UPDATE devices SET revoked_at = NULL WHERE id = $1`, [phone.device.deviceId]);
    const { token, tokenHash } = newSessionToken();
    await tamper(`INSERT INTO sessions (id, user_id, device_id, token_hash, expires_at) VALUES ($1, $2, $3, $4, now() + interval '1 hour')`, [
      randomUUID(),
      patient.userId,
      phone.device.deviceId,
      tokenHash,
    ]);
    const thief = await start({ ...phone, session: { ...phone.session, token } });
    await thief.conversation(conversation.id).open();
    expect((await thief.conversation(conversation.id).send('Sent by whoever found the phone.')).ok).toBe(true);

    await attack(async () => {
      const clinician = await staffReader(revocationState(practice.clinician.token));
      await follow(clinician, conversation.id);
      await waitForMessages(clinician, 2);

      expect(clinician.bodies()).toEqual(['Sent before the phone was lost.']);
      expect(refusedCodes(clinician.entries)).toEqual(['untrusted_sender']);
    });
  });

  it('refuses a conversation a lost phone opens after its revocation: its envelopes are not accepted', async () => {
    const { patient, phone } = await patientWithPhone();
    await losePhone(patient, phone);
    await tamper(`UPDATE devices SET revoked_at = NULL WHERE id = $1`, [phone.device.deviceId]);
    const { token, tokenHash } = newSessionToken();
    await tamper(`INSERT INTO sessions (id, user_id, device_id, token_hash, expires_at) VALUES ($1, $2, $3, $4, now() + interval '1 hour')`, [
      randomUUID(),
      patient.userId,
      phone.device.deviceId,
      tokenHash,
    ]);
    const thief = await start({ ...phone, session: { ...phone.session, token } });
    const conversation = await thief.openConversation('repeat-prescription');

    // The attack is real: a client that believes the server's listing takes the phone's key and writes under it.
    const unprotected = await start(asSignedIn(patient));
    await unprotected.conversation(conversation.id).open();
    expect((await unprotected.conversation(conversation.id).send('Written under a key the thief made.')).ok).toBe(true);

    await attack(async () => {
      const alice = await start(asSignedIn(patient), revocationState(patient.token));
      await alice.conversation(conversation.id).open();

      await expect(alice.conversation(conversation.id).send('Never written under it.')).rejects.toMatchObject({ code: 'untrusted_creator' });
    });
  });

  it('refuses a revocation list older than one it has seen (a rollback), and none at all once it has seen one', async () => {
    const patient = await activatePatient(gateway.url, practice);
    const other = await activatePatient(gateway.url, practice);
    await publish(other.deviceId);
    const seen = revocationState(patient.token);
    const newest = await seen.refresh();
    await tamper(`DELETE FROM revocation_lists WHERE practice_id = $1 AND version = $2`, [practice.id, newest?.version]);

    await attack(async () => {
      const later = revocationState(patient.token, seen.version);
      await expect(later.refresh()).rejects.toMatchObject({ code: 'revocations_rolled_back' });
      await expect(start(asSignedIn(patient), revocationState(patient.token, seen.version))).rejects.toMatchObject({ code: 'revocations_rolled_back' });
      await tamper(`DELETE FROM revocation_lists WHERE practice_id = $1`, [practice.id]);
      await expect(revocationState(patient.token, seen.version).refresh()).rejects.toMatchObject({ code: 'revocations_rolled_back' });
    });
  });

  it.each([
    ['signed by a key of its own', () => generatePracticeRootKey(), (own: { signPublicKey: Uint8Array }) => own.signPublicKey],
    ['claiming the root as signer over its own signature', () => generatePracticeRootKey(), () => practice.root.signPublicKey],
  ])('refuses a list the server forges %s, which would un-revoke a device', async (_how, makeKey, signerOf) => {
    const { patient, phone } = await patientWithPhone();
    await losePhone(patient, phone);
    const before = revocationState(patient.token);
    await before.refresh();
    const forger = makeKey();
    const fields = { practiceId: practice.odsCode, version: before.version + 1, issuedAt: Date.now(), entries: [] };
    await tamper(
      `INSERT INTO revocation_lists (practice_id, version, issued_at, entries, signer_sign_public_key, signature, stored_by_user_id) VALUES ($1, $2, $3, '[]'::jsonb, $4, $5, $6)`,
      [
        practice.id,
        fields.version,
        fields.issuedAt,
        Buffer.from(signerOf(forger)),
        Buffer.from(signRevocationList(fields, forger.signSecretKey)),
        practice.manager.userId,
      ],
    );

    await attack(async () => {
      const state = revocationState(patient.token, before.version);
      await expect(state.refresh()).rejects.toMatchObject({ code: 'untrusted_revocations' });
      expect(state.isRevoked(phone.device.deviceId)).toBe(false);
      await expect(before.refresh()).rejects.toMatchObject({ code: 'untrusted_revocations' });
      expect(before.isRevoked(phone.device.deviceId)).toBe(true);
    });
    await tamper(`DELETE FROM revocation_lists WHERE practice_id = $1 AND version = $2`, [practice.id, fields.version]);
  });

  it('counted every attack as refused', () => {
    expect(ledger.attacks).toBe(6);
    expect(ledger.refused).toBe(ledger.attacks);
  });
});
