import { randomUUID } from 'node:crypto';
import { ParleyClient } from '@parley/client';
import { ready } from '@parley/crypto';
import type { AuditPage, CodeIssued, OffboardResult, PracticeKeys, SessionEnded, StaffMember } from '@parley/protocol';
import { admitStaffDevice, openRecordKeys, rotateRecordKey, staffDeviceTrust } from '@parley/sdk';
import { startTestApp, type TestApp } from '../app.js';
import { follow, patientChat, staffChat, type Chatter } from '../chat.js';
import {
  activatePatient,
  activateStaff,
  api,
  apiOk,
  connectAs,
  createPracticeWithManager,
  createPracticeWithStaff,
  derivedKeysFor,
  signIn,
  type TestPatient,
  type TestPractice,
  type TestStaff,
} from '../factories.js';
import { waitUntil } from '../wait.js';

/** Resolves with the reason of the next `session:ended` the client receives. */
const sessionEnded = (client: ParleyClient) => new Promise<SessionEnded['reason']>((resolve) => client.on('session:ended', (fact) => resolve(fact.reason)));

describe('staff management: listing, revoking a colleague’s device, offboarding and record key rotation (in-process gateway, real PostgreSQL, real sockets)', () => {
  let gateway: TestApp;
  let practice: TestPractice;
  /** A second clinician, admitted like the first (certificate + record key v1): the one offboarded. */
  let leaver: TestStaff;
  let patient: TestPatient;
  let otherManager: TestStaff;
  const chats: Chatter[] = [];
  const sockets: ParleyClient[] = [];

  const staffList = (token = practice.manager.token) => apiOk<StaffMember[]>(gateway.url, 'GET', '/api/staff', { token });
  const secrets = () => ({ odsCode: practice.odsCode, root: practice.root, recordKeys: [practice.recordKey] });
  const managerDevice = () => ({ deviceId: practice.manager.deviceId, keys: practice.manager.device });

  beforeAll(async () => {
    await ready();
    gateway = await startTestApp();
    practice = await createPracticeWithStaff(gateway, { name: 'Riverside Surgery' });
    const email = `leaver.${randomUUID().slice(0, 8)}@test.parley`;
    const issued = await apiOk<CodeIssued>(
      gateway.url,
      'POST',
      '/api/staff',
      { token: practice.manager.token, body: { displayName: 'Dr Leaving', email, roles: ['clinician'] } },
      201,
    );
    leaver = await activateStaff(gateway.url, practice.odsCode, issued.code, { userId: issued.userId, email, roles: ['clinician'] });
    await admitStaffDevice({
      baseUrl: gateway.url,
      token: practice.manager.token,
      secrets: secrets(),
      granter: managerDevice(),
      device: {
        userId: leaver.userId,
        deviceId: leaver.deviceId,
        signPublicKey: leaver.device.signPublicKey,
        boxPublicKey: leaver.device.boxPublicKey,
        certifiedAs: { displayName: 'Dr Leaving', roles: ['clinician'] },
      },
    });
    patient = await activatePatient(gateway.url, practice);
    otherManager = (await createPracticeWithManager(gateway, { name: 'Hillside Surgery' })).manager;
  });

  afterAll(async () => {
    for (const chat of chats) await chat.session.close();
    for (const socket of sockets) socket.close();
    await gateway.close();
  });

  it('lists the practice’s staff with roles, capacity and devices, whose certificates a manager’s client verifies against the root', async () => {
    const staff = await staffList();

    expect(staff.map((member) => [member.displayName, member.roles])).toEqual([
      ['Dr Alex Morgan', ['clinician']],
      ['Dr Leaving', ['clinician']],
      ['Sam Patel', ['manager']],
    ]);
    const alex = staff[0]!;
    expect(alex).toMatchObject({
      userId: practice.clinician.userId,
      isActivated: true,
      deactivatedAt: null,
      capacity: { availability: 'offline', maxConcurrent: 3, dailyMax: null, active: 0 },
    });
    expect(staff[2]!.capacity).toBeNull();
    expect(alex.devices).toEqual([expect.objectContaining({ id: practice.clinician.deviceId, label: 'Surgery PC', revokedAt: null, grantedVersions: [1] })]);
    for (const member of staff) {
      for (const device of member.devices)
        expect(staffDeviceTrust(member, device, practice.odsCode, practice.root.signPublicKey)).toMatchObject({
          isTrusted: true,
          state: 'trusted',
          fingerprint: expect.any(String),
        });
    }
    // A device that claims another member's certificate does not verify.
    expect(staffDeviceTrust(staff[1]!, alex.devices[0]!, practice.odsCode, practice.root.signPublicKey).state).toBe('untrusted');
  });

  it('lets a manager revoke a colleague’s device: its sockets close at once, its sessions and grants end, audited', async () => {
    const second = await signIn(gateway.url, { practice: practice.odsCode, login: practice.clinician.email, label: 'Laptop' });
    const socket = await connectAs(gateway.url, second, 10_000);
    sockets.push(socket);
    const ended = sessionEnded(socket);

    await apiOk(gateway.url, 'POST', `/api/staff/${practice.clinician.userId}/devices/${second.session.deviceId}/revoke`, { token: practice.manager.token });

    expect(await ended).toBe('device_revoked');
    await waitUntil(() => !socket.isConnected, 'the revoked device’s socket to close');
    expect(await api(gateway.url, 'GET', '/api/devices', { token: second.token })).toMatchObject({ status: 401 });
    expect(await api(gateway.url, 'GET', '/api/devices', { token: practice.clinician.token })).toMatchObject({ status: 200 });
    const listed = (await staffList()).find((member) => member.userId === practice.clinician.userId)!;
    expect(listed.devices.map((device) => [device.label, device.revokedAt === null])).toEqual([
      ['Surgery PC', true],
      ['Laptop', false],
    ]);
    const { events } = await apiOk<AuditPage>(gateway.url, 'GET', '/api/audit?action=device.revoked', { token: practice.manager.token });
    expect(events[0]).toMatchObject({
      actorUserId: practice.manager.userId,
      data: { deviceId: second.session.deviceId, ownerUserId: practice.clinician.userId },
    });
  });

  it('refuses patients and clinicians, answers another practice’s manager not_found, and changes nothing', async () => {
    const before = await gateway.dataSource.query(`SELECT id, revoked_at FROM devices ORDER BY id`);
    const users = await gateway.dataSource.query(`SELECT id, deactivated_at FROM users ORDER BY id`);
    const revokePath = `/api/staff/${leaver.userId}/devices/${leaver.deviceId}/revoke`;
    const offboardPath = `/api/staff/${leaver.userId}/offboard`;

    for (const who of [patient, practice.clinician]) {
      for (const [method, path] of [
        ['GET', '/api/staff'],
        ['POST', revokePath],
        ['POST', offboardPath],
      ] as const) {
        expect(await api(gateway.url, method, path, { token: who.token })).toMatchObject({ status: 403, body: { error: { code: 'forbidden' } } });
      }
    }
    const foreign = [
      await api(gateway.url, 'POST', revokePath, { token: otherManager.token }),
      await api(gateway.url, 'POST', offboardPath, { token: otherManager.token }),
    ];
    const patientDevice = await api(gateway.url, 'POST', `/api/staff/${patient.userId}/devices/${patient.deviceId}/revoke`, { token: practice.manager.token });
    const wrongOwner = await api(gateway.url, 'POST', `/api/staff/${practice.clinician.userId}/devices/${leaver.deviceId}/revoke`, {
      token: practice.manager.token,
    });
    const offboardPatient = await api(gateway.url, 'POST', `/api/staff/${patient.userId}/offboard`, { token: practice.manager.token });
    const self = await api(gateway.url, 'POST', `/api/staff/${practice.manager.userId}/offboard`, { token: practice.manager.token });
    const malformed = await api(gateway.url, 'POST', `/api/staff/not-a-uuid/offboard`, { token: practice.manager.token });

    for (const answer of [...foreign, patientDevice, wrongOwner, offboardPatient])
      expect(answer).toMatchObject({ status: 404, body: { error: { code: 'not_found' } } });
    expect(self).toMatchObject({ status: 409, body: { error: { code: 'conflict' } } });
    expect(malformed).toMatchObject({ status: 400, body: { error: { code: 'invalid_payload' } } });
    expect((await staffList(otherManager.token)).map((member) => member.userId)).toEqual([otherManager.userId]);
    expect(await gateway.dataSource.query(`SELECT id, revoked_at FROM devices ORDER BY id`)).toEqual(before);
    expect(await gateway.dataSource.query(`SELECT id, deactivated_at FROM users ORDER BY id`)).toEqual(users);
  });

  it('offboards a clinician and rotates the record key: the leaver is locked out with no grants, their work is back in the queue, and a remaining clinician reads old and new conversations', async () => {
    const leaverChat = await staffChat(gateway.url, practice, leaver);
    chats.push(leaverChat);
    const patientOld = await patientChat(gateway.url, practice, patient, 10_000);
    chats.push(patientOld);
    const old = await patientOld.session.openConversation('admin');
    await follow(patientOld, old.id);
    await patientOld.session.conversation(old.id).send('Written before the rotation.');
    await waitUntil(
      async () =>
        (await gateway.dataSource.query(`SELECT assigned_clinician_id FROM conversations WHERE id = $1`, [old.id]))[0].assigned_clinician_id === leaver.userId,
      'the leaver to hold the conversation',
    );
    const ended = sessionEnded(leaverChat.session.client);

    const result = await apiOk<OffboardResult>(gateway.url, 'POST', `/api/staff/${leaver.userId}/offboard`, { token: practice.manager.token }, 200);

    expect(result).toEqual({ userId: leaver.userId, devicesRevoked: 1, grantsRevoked: 1, sessionsEnded: 1, conversationsHandedBack: 1 });
    expect(await ended).toBe('revoked');
    expect(await gateway.dataSource.query(`SELECT status, assigned_clinician_id FROM conversations WHERE id = $1`, [old.id])).toEqual([
      { status: 'waiting', assigned_clinician_id: null },
    ]);
    await waitUntil(
      () =>
        patientOld.entries.some(
          (entry) => entry.ok && entry.value.kind === 'system' && entry.value.event === 'requeued' && entry.value.data['reason'] === 'offboarded',
        ),
      'the patient to see the hand-back',
    );
    const passphraseKeys = await derivedKeysFor(gateway.url, practice.odsCode, leaver.email, leaver.passphrase);
    const signInAgain = await api(gateway.url, 'POST', '/api/auth/sign-in', {
      body: {
        practice: practice.odsCode,
        login: leaver.email,
        authKey: Buffer.from(passphraseKeys.authKey).toString('base64'),
        device: { deviceId: leaver.deviceId },
      },
    });
    expect(signInAgain).toMatchObject({ status: 401, body: { error: { code: 'unauthorized' } } });
    await expect(ParleyClient.connect({ url: gateway.url, token: leaver.token })).rejects.toMatchObject({ code: 'unauthorized' });
    expect(
      await gateway.dataSource.query(
        `SELECT count(*)::int AS n FROM record_key_grants g JOIN devices d ON d.id = g.device_id WHERE d.user_id = $1 AND g.revoked_at IS NULL`,
        [leaver.userId],
      ),
    ).toEqual([{ n: 0 }]);
    expect(await apiOk(gateway.url, 'POST', `/api/staff/${leaver.userId}/offboard`, { token: practice.manager.token }, 409)).toMatchObject({
      error: { code: 'conflict' },
    });

    const rotation = await rotateRecordKey({
      baseUrl: gateway.url,
      token: practice.manager.token,
      odsCode: practice.odsCode,
      root: practice.root,
      granter: managerDevice(),
    });

    expect(rotation.recordKey.version).toBe(2);
    expect(rotation.grantedDeviceIds.sort()).toEqual([practice.manager.deviceId, practice.clinician.deviceId].sort());
    expect(rotation.skipped).toEqual([]);
    const patientKeys = await apiOk<PracticeKeys>(gateway.url, 'GET', '/api/practice/keys', { token: patient.token });
    expect(patientKeys.recordKeys.map((key) => key.version)).toEqual([1, 2]);

    const newcomer = await patientChat(gateway.url, practice, await activatePatient(gateway.url, practice), 10_000);
    chats.push(newcomer);
    const fresh = await newcomer.session.openConversation('admin');
    await follow(newcomer, fresh.id);
    await newcomer.session.conversation(fresh.id).send('Written after the rotation.');
    expect(
      await gateway.dataSource.query(
        `SELECT recipient_record_version AS version FROM conversation_envelopes WHERE conversation_id = $1 AND recipient_kind = 'record'`,
        [fresh.id],
      ),
    ).toEqual([{ version: 2 }]);

    const remainingKeys = await openRecordKeys({
      baseUrl: gateway.url,
      token: practice.clinician.token,
      odsCode: practice.odsCode,
      device: { deviceId: practice.clinician.deviceId, keys: practice.clinician.device },
      pinnedRoot: practice.root.signPublicKey,
    });
    expect([...remainingKeys.keys()]).toEqual([1, 2]);
    const remaining = await staffChat(gateway.url, practice, practice.clinician);
    chats.push(remaining);
    await follow(remaining, old.id);
    await follow(remaining, fresh.id);
    await waitUntil(() => remaining.bodies().length >= 2, 'the remaining clinician to read both conversations', 20_000);
    expect(remaining.entries.filter((entry) => !entry.ok)).toEqual([]);
    expect(remaining.bodies()).toEqual(expect.arrayContaining(['Written before the rotation.', 'Written after the rotation.']));

    const { events } = await apiOk<AuditPage>(gateway.url, 'GET', '/api/audit?action=staff.offboarded', { token: practice.manager.token });
    expect(events).toEqual([
      expect.objectContaining({
        actorUserId: practice.manager.userId,
        data: { staffUserId: leaver.userId, devicesRevoked: 1, grantsRevoked: 1, sessionsEnded: 1, conversationsHandedBack: 1 },
      }),
    ]);
    const added = await apiOk<AuditPage>(gateway.url, 'GET', '/api/audit?action=record-key.added', { token: practice.manager.token });
    expect(added.events.map((event) => [event.actorUserId, event.data])).toEqual([
      [practice.manager.userId, { version: 2 }],
      [practice.manager.userId, { version: 1 }],
    ]);
    const staff = await staffList();
    expect(staff.find((member) => member.userId === leaver.userId)).toMatchObject({
      deactivatedAt: expect.any(String),
      devices: [expect.objectContaining({ revokedAt: expect.any(String), grantedVersions: [] })],
    });
  }, 60_000);
});
