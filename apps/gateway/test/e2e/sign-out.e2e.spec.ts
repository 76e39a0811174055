import { ParleyClient } from '@parley/client';
import { ready } from '@parley/crypto';
import type { DeviceInfo } from '@parley/protocol';
import { startTestApp, type TestApp } from '../app.js';
import { activatePatient, api, apiOk, connectAs, createPracticeWithStaff, sessionEnded, signIn, stopped, type TestPractice } from '../factories.js';

// Issue #17: a patient's sign-out revokes the device, not only the session (docs/patient-client.md, "Privacy controls").
describe('sign-out revokes a patient device (in-process gateway, real PostgreSQL and sockets)', () => {
  let gateway: TestApp;
  let practice: TestPractice;
  const clients: ParleyClient[] = [];
  const connect = async (signedIn: { token: string }) => {
    const client = await connectAs(gateway.url, signedIn);
    clients.push(client);
    return client;
  };
  const devicesOf = (token: string) => apiOk<DeviceInfo[]>(gateway.url, 'GET', '/api/devices', { token });

  beforeAll(async () => {
    await ready();
    gateway = await startTestApp();
    practice = await createPracticeWithStaff(gateway);
  });

  afterAll(async () => {
    for (const client of clients) client.close();
    await gateway.close();
  });

  it("closes the device's sockets, refuses its tokens and the device itself afterwards, and leaves the patient's other device alone", async () => {
    const patient = await activatePatient(gateway.url, practice);
    const sameDevice = await signIn(gateway.url, { practice: practice.odsCode, login: patient.nhsNumber, deviceId: patient.deviceId });
    const other = await signIn(gateway.url, { practice: practice.odsCode, login: patient.nhsNumber });
    const [signingOut, alsoOnDevice, onOther] = [await connect(patient), await connect(sameDevice), await connect(other)];
    const reasons = [sessionEnded(signingOut), sessionEnded(alsoOnDevice)];

    const response = await api(gateway.url, 'POST', '/api/auth/sign-out', { token: patient.token });

    expect(response.status).toBe(204);
    expect(await Promise.all(reasons)).toEqual(['signed_out', 'device_revoked']);
    await Promise.all([stopped(signingOut), stopped(alsoOnDevice)]);
    expect([signingOut.isConnected, alsoOnDevice.isConnected]).toEqual([false, false]);
    for (const token of [patient.token, sameDevice.token]) {
      await expect(ParleyClient.connect({ url: gateway.url, token })).rejects.toMatchObject({ code: 'unauthorized' });
      expect((await api(gateway.url, 'GET', '/api/devices', { token })).status).toBe(401);
    }
    const again = await api(gateway.url, 'POST', '/api/auth/sign-in', {
      body: {
        practice: practice.odsCode,
        login: patient.nhsNumber,
        authKey: Buffer.from(patient.passphraseKeys.authKey).toString('base64'),
        device: { deviceId: patient.deviceId },
      },
    });
    expect(again.status).toBe(401);
    expect((await onOther.request('system:ping', {})).ok).toBe(true);
    const listed = await devicesOf(other.token);
    expect(listed.find((device) => device.id === patient.deviceId)?.revokedAt).toEqual(expect.any(String));
    expect(listed.find((device) => device.id === other.session.deviceId)?.revokedAt).toBeNull();
  });

  it('lets the patient sign in again as a new device after signing out', async () => {
    const patient = await activatePatient(gateway.url, practice);
    await apiOk(gateway.url, 'POST', '/api/auth/sign-out', { token: patient.token });

    const fresh = await signIn(gateway.url, { practice: practice.odsCode, login: patient.nhsNumber });
    const socket = await connect(fresh);

    expect(fresh.session.deviceId).not.toBe(patient.deviceId);
    expect((await socket.request('system:ping', {})).ok).toBe(true);
  });

  it("revokes every device of a patient who signs out everywhere, and none of a member of staff's", async () => {
    const patient = await activatePatient(gateway.url, practice);
    const second = await signIn(gateway.url, { practice: practice.odsCode, login: patient.nhsNumber });
    const onFirst = await connect(patient);
    const ended = sessionEnded(onFirst);

    await apiOk(gateway.url, 'POST', '/api/auth/sign-out-everywhere', { token: second.token });

    expect(await ended).toBe('signed_out');
    const fresh = await signIn(gateway.url, { practice: practice.odsCode, login: patient.nhsNumber });
    const listed = await devicesOf(fresh.token);
    expect(listed.filter((device) => device.revokedAt === null).map((device) => device.id)).toEqual([fresh.session.deviceId]);
  });

  it("ends a member of staff's session at sign-out and keeps their device, which a manager admitted", async () => {
    const { clinician } = practice;
    const session = await signIn(gateway.url, { practice: practice.odsCode, login: clinician.email, deviceId: clinician.deviceId });

    await apiOk(gateway.url, 'POST', '/api/auth/sign-out', { token: session.token });
    const again = await signIn(gateway.url, { practice: practice.odsCode, login: clinician.email, deviceId: clinician.deviceId });

    expect((await api(gateway.url, 'GET', '/api/devices', { token: session.token })).status).toBe(401);
    expect(again.session.deviceId).toBe(clinician.deviceId);
    expect((await devicesOf(again.token)).find((device) => device.id === clinician.deviceId)?.revokedAt).toBeNull();
  });
});
