import type { DeviceInfo } from '@parley/protocol';
import { Logger } from '@nestjs/common';
import { aClinician, aPatient } from '../../test/factories.js';
import { mockOf } from '../../test/mocks.js';
import type { DevicesService } from '../devices/devices.service.js';
import type { SessionsService } from '../sessions/sessions.service.js';
import { SignOutService } from './sign-out.service.js';

const aDevice = (id: string, revokedAt: string | null = null): DeviceInfo => ({
  id,
  userId: 'u',
  label: 'Web browser on Linux',
  signPublicKey: '',
  boxPublicKey: '',
  certificate: null,
  certifiedAs: null,
  createdAt: new Date(0).toISOString(),
  revokedAt,
});

describe(SignOutService.name, () => {
  beforeAll(() => Logger.overrideLogger(false));

  let sessions: jest.Mocked<SessionsService>;
  let devices: jest.Mocked<DevicesService>;
  let sut: SignOutService;

  beforeEach(() => {
    sessions = mockOf<SessionsService>();
    devices = mockOf<DevicesService>();
    sut = new SignOutService(sessions, devices);
  });

  it("ends a patient's session, then revokes the device it was on", async () => {
    const patient = aPatient();

    await sut.signOut(patient);

    expect(sessions.signOut).toHaveBeenCalledWith(patient);
    expect(devices.revoke).toHaveBeenCalledWith(patient, patient.deviceId);
    expect(sessions.signOut.mock.invocationCallOrder[0]).toBeLessThan(devices.revoke.mock.invocationCallOrder[0]!);
  });

  it("ends a member of staff's session and keeps their device (a manager admitted it)", async () => {
    const clinician = aClinician();

    await sut.signOut(clinician);

    expect(sessions.signOut).toHaveBeenCalledWith(clinician);
    expect(devices.revoke).not.toHaveBeenCalled();
  });

  it('signs a patient out everywhere and revokes each of their devices not yet revoked', async () => {
    const patient = aPatient();
    devices.list.mockResolvedValue([aDevice('a'), aDevice('b', new Date().toISOString()), aDevice('c')]);

    await sut.signOutEverywhere(patient);

    expect(sessions.signOutEverywhere).toHaveBeenCalledWith(patient);
    expect(devices.revoke.mock.calls).toEqual([
      [patient, 'a'],
      [patient, 'c'],
    ]);
  });

  it('signs a member of staff out everywhere without revoking a device', async () => {
    await sut.signOutEverywhere(aClinician());

    expect(sessions.signOutEverywhere).toHaveBeenCalled();
    expect(devices.list).not.toHaveBeenCalled();
    expect(devices.revoke).not.toHaveBeenCalled();
  });
});
