import { randomUUID } from 'node:crypto';
import { ready } from '@parley/crypto';
import type { CodeIssued, OffboardingProgress } from '@parley/protocol';
import { admitStaffDevice, rotateRecordKey } from '@parley/sdk';
import { startTestApp, type TestApp } from '../app.js';
import { follow, patientChat, type Chatter } from '../chat.js';
import { activatePatient, activateStaff, api, apiOk, createPracticeWithStaff, type TestPatient, type TestPractice, type TestStaff } from '../factories.js';

describe('leavers: what is left of an offboarding, as the manager’s checklist reads it (in-process gateway, real PostgreSQL, real sockets)', () => {
  let gateway: TestApp;
  let practice: TestPractice;
  let leaver: TestStaff;
  let patient: TestPatient;
  const chats: Chatter[] = [];

  const managerDevice = () => ({ deviceId: practice.manager.deviceId, keys: practice.manager.device });
  const progressOf = (userId: string, token = practice.manager.token) =>
    apiOk<OffboardingProgress>(gateway.url, 'GET', `/api/staff/${userId}/offboarding`, { token });

  beforeAll(async () => {
    await ready();
    gateway = await startTestApp();
    practice = await createPracticeWithStaff(gateway, { name: 'Leavers Surgery' });
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
      secrets: { odsCode: practice.odsCode, root: practice.root, recordKeys: [practice.recordKey] },
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

    await rotateRecordKey({ baseUrl: gateway.url, token: practice.manager.token, odsCode: practice.odsCode, root: practice.root, granter: managerDevice() });
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
});
