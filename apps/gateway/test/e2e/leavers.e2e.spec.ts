import { randomUUID } from 'node:crypto';
import { HttpApi } from '@parley/client';
import { decryptMessage, openEpochKey, ready, type BoxKeys, type RecordKey } from '@parley/crypto';
import type { CodeIssued, OffboardingProgress } from '@parley/protocol';
import { admitStaffDevice, finishOffboarding, rotateRecordKey } from '@parley/sdk';
import { startTestApp, type TestApp } from '../app.js';
import { follow, patientChat, staffChat, type Chatter } from '../chat.js';
import { activatePatient, activateStaff, api, apiOk, createPracticeWithStaff, type TestPatient, type TestPractice, type TestStaff } from '../factories.js';
import { waitUntil } from '../wait.js';

describe('leavers: what is left of an offboarding, as the manager’s checklist reads it (in-process gateway, real PostgreSQL, real sockets)', () => {
  let gateway: TestApp;
  let practice: TestPractice;
  let leaver: TestStaff;
  let patient: TestPatient;
  const chats: Chatter[] = [];
  /** Every record key version made so far (a rotation adds one): what an admitted member of staff holds. */
  const recordKeys: RecordKey[] = [];
  const newestRecordKey = () => recordKeys[recordKeys.length - 1]!;
  const rotate = async () => {
    const rotation = await rotateRecordKey({
      baseUrl: gateway.url,
      token: practice.manager.token,
      odsCode: practice.odsCode,
      root: practice.root,
      granter: managerDevice(),
    });
    recordKeys.push(rotation.recordKey);
  };

  const managerDevice = () => ({ deviceId: practice.manager.deviceId, keys: practice.manager.device });
  const progressOf = (userId: string, token = practice.manager.token) =>
    apiOk<OffboardingProgress>(gateway.url, 'GET', `/api/staff/${userId}/offboarding`, { token });

  /** A clinician admitted like the others (certificate + record key v1): the one who leaves. */
  const admitLeaver = async (displayName: string): Promise<TestStaff> => {
    const email = `leaver.${randomUUID().slice(0, 8)}@test.parley`;
    const issued = await apiOk<CodeIssued>(
      gateway.url,
      'POST',
      '/api/staff',
      { token: practice.manager.token, body: { displayName, email, roles: ['clinician'] } },
      201,
    );
    const member = await activateStaff(gateway.url, practice.odsCode, issued.code, { userId: issued.userId, email, roles: ['clinician'] });
    await admitStaffDevice({
      baseUrl: gateway.url,
      token: practice.manager.token,
      secrets: { odsCode: practice.odsCode, root: practice.root, recordKeys },
      granter: managerDevice(),
      device: {
        userId: member.userId,
        deviceId: member.deviceId,
        signPublicKey: member.device.signPublicKey,
        boxPublicKey: member.device.boxPublicKey,
        certifiedAs: { displayName, roles: ['clinician'] },
      },
    });
    return member;
  };

  beforeAll(async () => {
    await ready();
    gateway = await startTestApp();
    practice = await createPracticeWithStaff(gateway, { name: 'Leavers Surgery' });
    recordKeys.push(practice.recordKey);
    leaver = await admitLeaver('Dr Leaving');
    patient = await activatePatient(gateway.url, practice);
    // The patient opens several conversations here: lift the per-patient limits (patient-limits.e2e tests them).
    await apiOk(
      gateway.url,
      'PUT',
      '/api/practice/patient-limits',
      { token: practice.manager.token, body: { maxOpenPerPatient: null, maxNewPerPatientPerDay: null } },
      200,
    );
  });

  afterAll(async () => {
    for (const chat of chats) await chat.session.close();
    await gateway.close();
  });

  it('reports nothing to do for an active member, then the rotation and every open conversation whose epoch predates the offboarding; closed ones are not listed', async () => {
    const alice = await patientChat(gateway.url, practice, patient, 10_000);
    chats.push(alice);
    const open = await alice.session.openConversation('admin');
    const closed = await alice.session.openConversation('admin');
    await follow(alice, open.id);
    await gateway.dataSource.query(`UPDATE conversations SET status = 'closed', assigned_clinician_id = NULL WHERE id = $1`, [closed.id]);

    expect(await progressOf(leaver.userId)).toEqual({
      userId: leaver.userId,
      offboardedAt: null,
      recordKey: { isRotated: false, newestVersion: 1 },
      conversationsToRenew: [],
      conversationsToRenewCount: 0,
    });

    await apiOk(gateway.url, 'POST', `/api/staff/${leaver.userId}/offboard`, { token: practice.manager.token }, 200);

    const after = await progressOf(leaver.userId);
    expect(after).toEqual({
      userId: leaver.userId,
      offboardedAt: expect.any(String),
      recordKey: { isRotated: false, newestVersion: 1 },
      conversationsToRenew: [open.id],
      conversationsToRenewCount: 1,
    });

    await rotate();
    expect((await progressOf(leaver.userId)).recordKey).toEqual({ isRotated: true, newestVersion: 2 });

    // A conversation opened after the offboarding is sealed to keys the leaver never held: nothing to renew.
    const later = await alice.session.openConversation('admin');
    expect((await progressOf(leaver.userId)).conversationsToRenew).not.toContain(later.id);
  });

  it('answers managers only, not_found for a patient or another practice’s member, and invalid_payload for a malformed id', async () => {
    expect((await api(gateway.url, 'GET', `/api/staff/${leaver.userId}/offboarding`, { token: practice.clinician.token })).status).toBe(403);
    expect((await api(gateway.url, 'GET', `/api/staff/${leaver.userId}/offboarding`, { token: patient.token })).status).toBe(403);
    expect(await api(gateway.url, 'GET', `/api/staff/${patient.userId}/offboarding`, { token: practice.manager.token })).toMatchObject({
      status: 404,
      body: { error: { code: 'not_found' } },
    });
    expect(await api(gateway.url, 'GET', `/api/staff/${randomUUID()}/offboarding`, { token: practice.manager.token })).toMatchObject({ status: 404 });
    expect(await api(gateway.url, 'GET', `/api/staff/not-a-uuid/offboarding`, { token: practice.manager.token })).toMatchObject({
      status: 400,
      body: { error: { code: 'invalid_payload' } },
    });
  });

  it('finishes an offboarding from the manager’s client: after it, a message in an open conversation opens with neither the leaver’s epoch key nor their record key, and the others read on', async () => {
    const second = await admitLeaver('Dr Second Leaver');
    const alice = await patientChat(gateway.url, practice, patient, 10_000);
    const manager = await staffChat(gateway.url, practice, practice.manager);
    const colleague = await staffChat(gateway.url, practice, practice.clinician);
    chats.push(alice, manager, colleague);
    const { id } = await alice.session.openConversation('admin');
    await follow(alice, id);
    await alice.session.conversation(id).send('Before the leaver left.');
    // The leaver's copy, as they could have kept it: their newest record key opens the first epoch's record envelope.
    const leaverRecordKey = newestRecordKey();
    const leaverEpochKey = openWith(id, await envelopeRows(id, 1), leaverRecordKey);
    expect(leaverEpochKey).not.toBeNull();

    await apiOk(gateway.url, 'POST', `/api/staff/${second.userId}/offboard`, { token: practice.manager.token }, 200);
    const seen: OffboardingProgress[] = [];
    const outcome = await finishOffboarding({
      api: new HttpApi({ baseUrl: gateway.url, token: practice.manager.token }),
      session: manager.session,
      userId: second.userId,
      rotate,
      onProgress: (progress) => seen.push(progress),
    });

    expect(outcome).toMatchObject({ isComplete: true, failed: [], progress: { recordKey: { isRotated: true }, conversationsToRenewCount: 0 } });
    expect(seen[0]).toMatchObject({ recordKey: { isRotated: false }, conversationsToRenew: expect.arrayContaining([id]) });
    const [{ current_epoch: epoch }] = await gateway.dataSource.query(`SELECT current_epoch FROM conversations WHERE id = $1`, [id]);
    expect(epoch).toBeGreaterThan(1);
    const newest = await envelopeRows(id, epoch);
    const newestVersion = Math.max(...newest.flatMap((row) => (row.recipient_record_version ? [row.recipient_record_version] : [])));
    expect(newest.filter((row) => row.recipient_kind === 'record').map((row) => row.recipient_record_version)).toEqual([newestVersion]);
    expect(newestVersion).toBeGreaterThan(leaverRecordKey.version);

    await alice.session.conversation(id).send('After the leaver left.');
    const [after] = await gateway.dataSource.query(
      `SELECT e.epoch, e.ciphertext, e.nonce, e.sender_user_id, e.sender_device_id, e.sender_role, e.sender_device_seq, e.client_message_id, e.content_type
         FROM record_entries e WHERE e.conversation_id = $1 AND e.kind = 'message' ORDER BY e.seq DESC LIMIT 1`,
      [id],
    );
    // The patient's client writes under the manager's new epoch: nothing made it start another.
    const renewals = await gateway.dataSource.query(
      `SELECT system_data AS data FROM record_entries WHERE conversation_id = $1 AND system_event = 'keys.epoch' ORDER BY seq`,
      [id],
    );
    expect({ epoch: after.epoch, renewals }).toEqual({ epoch, renewals: [{ data: { epoch, reason: 'offboarding' } }] });
    // Neither the leaver's record key nor their copy of the old epoch key opens what was written afterwards.
    for (const key of recordKeys.filter((candidate) => candidate.version <= leaverRecordKey.version)) expect(openWith(id, newest, key)).toBeNull();
    expect(() =>
      decryptMessage(
        {
          practiceId: practice.odsCode,
          conversationId: id,
          patientId: patient.userId,
          epoch: after.epoch,
          senderUserId: after.sender_user_id,
          senderDeviceId: after.sender_device_id,
          senderRole: after.sender_role,
          senderDeviceSeq: Number(after.sender_device_seq),
          clientMsgId: after.client_message_id,
          contentType: after.content_type,
        },
        after.ciphertext,
        after.nonce,
        leaverEpochKey!,
        patient.device.signPublicKey,
      ),
    ).toThrow();
    // The colleague (granted the new version by the rotation) reads both, with no gap.
    const refreshed = await staffChat(gateway.url, practice, practice.clinician);
    chats.push(refreshed);
    await follow(refreshed, id);
    await waitUntil(() => refreshed.bodies().length >= 2, 'the colleague to read both messages', 20_000);
    expect(refreshed.entries.filter((entry) => !entry.ok)).toEqual([]);
    expect(refreshed.bodies()).toEqual(['Before the leaver left.', 'After the leaver left.']);
  });

  /** The envelopes of an epoch as stored. */
  const envelopeRows = (conversationId: string, epoch: number) =>
    gateway.dataSource.query(
      `SELECT e.epoch, e.recipient_kind, e.recipient_record_version, e.recipient_key_id, e.sealed_key, e.signature, d.sign_public_key AS creator_sign_public_key
         FROM conversation_envelopes e JOIN devices d ON d.id = e.creator_device_id WHERE e.conversation_id = $1 AND e.epoch = $2`,
      [conversationId, epoch],
    ) as Promise<EnvelopeRow[]>;

  /** The epoch key an envelope holds for these keys, or null when it does not open with them. */
  const openWith = (conversationId: string, rows: EnvelopeRow | EnvelopeRow[], keys: BoxKeys): Uint8Array | null => {
    for (const row of Array.isArray(rows) ? rows : [rows]) {
      try {
        return openEpochKey({
          conversationId,
          epoch: row.epoch,
          envelope: { recipientKeyId: row.recipient_key_id, sealedKey: row.sealed_key, signature: row.signature },
          recipient: keys,
          creator: { signPublicKey: row.creator_sign_public_key, isTrusted: true, isMember: true },
        });
      } catch {
        // Sealed to another key: try the next.
      }
    }
    return null;
  };
});

interface EnvelopeRow {
  epoch: number;
  recipient_kind: 'device' | 'account' | 'record';
  recipient_record_version: number | null;
  recipient_key_id: Buffer;
  sealed_key: Buffer;
  signature: Buffer;
  creator_sign_public_key: Buffer;
}
