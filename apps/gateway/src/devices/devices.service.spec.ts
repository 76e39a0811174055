import { Logger } from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import { mockOf } from '../../test/mocks.js';
import { aClinician, aManager, aPatient } from '../../test/factories.js';
import type { AuditService } from '../audit/audit.service.js';
import type { Actor } from '../common/actor.js';
import { DomainError } from '../common/domain-error.js';
import { rooms } from '../common/rooms.js';
import type { DevicesRepository, PracticeDevice } from './devices.repository.js';
import { DevicesService } from './devices.service.js';
import type { SessionEventsGateway } from '../sessions/session-events.gateway.js';

const CERTIFICATE = Buffer.alloc(64, 1);

describe(DevicesService.name, () => {
  beforeAll(() => Logger.overrideLogger(false));

  let devices: jest.Mocked<DevicesRepository>;
  let events: jest.Mocked<SessionEventsGateway>;
  let sut: DevicesService;
  const practiceId = randomUUID();
  const deviceOf = (owner: Actor, overrides: Partial<PracticeDevice> = {}): PracticeDevice => ({
    id: randomUUID(),
    userId: owner.userId,
    ownerRoles: [...owner.roles],
    ownerDisplayName: owner.displayName,
    hasCertificate: false,
    isRevoked: false,
    ...overrides,
  });

  beforeEach(() => {
    devices = mockOf<DevicesRepository>();
    events = mockOf<SessionEventsGateway>();
    sut = new DevicesService(devices, events, mockOf<AuditService>());
    devices.certifyPatientDevice.mockResolvedValue(true);
    devices.certifyStaffDevice.mockResolvedValue(true);
  });

  describe('certify', () => {
    it.each([
      ['a patient, their own device', aPatient({ practiceId }), 'own-patient', null],
      ['a manager, a clinician’s device', aManager({ practiceId }), 'clinician', null],
      ['a manager, their own device', aManager({ practiceId }), 'own-manager', null],
      ['a clinician, their own device', aClinician({ practiceId }), 'own-clinician', 'forbidden'],
      ['a manager, a patient’s device', aManager({ practiceId }), 'patient', 'forbidden'],
      ['a patient, another patient’s device', aPatient({ practiceId }), 'patient', 'not_found'],
      ['a clinician, a colleague’s device', aClinician({ practiceId }), 'clinician', 'not_found'],
    ])('lets %s be certified or refuses it (%s → %s)', async (_case, actor, whose, refusal) => {
      const owner = whose.startsWith('own') ? actor : whose === 'patient' ? aPatient({ practiceId }) : aClinician({ practiceId });
      const device = deviceOf(owner);
      devices.findInPractice.mockResolvedValue(device);
      const isStaffDevice = !owner.roles.includes('patient');
      const certifiedAs = isStaffDevice ? { displayName: owner.displayName, roles: owner.roles as ('clinician' | 'manager')[] } : undefined;

      const result = sut.certify(actor, device.id, CERTIFICATE, certifiedAs);

      if (refusal) {
        await expect(result).rejects.toMatchObject({ code: refusal });
        expect(devices.certifyPatientDevice).not.toHaveBeenCalled();
        expect(devices.certifyStaffDevice).not.toHaveBeenCalled();
      } else if (isStaffDevice) {
        await expect(result).resolves.toBeUndefined();
        expect(devices.certifyStaffDevice).toHaveBeenCalledWith(device.id, CERTIFICATE, certifiedAs);
      } else {
        await expect(result).resolves.toBeUndefined();
        expect(devices.certifyPatientDevice).toHaveBeenCalledWith(device.id, CERTIFICATE);
      }
    });

    it.each([
      ['no name and roles', undefined],
      ['another name', { displayName: 'Dr Someone Else', roles: ['clinician' as const] }],
      ['other roles', { displayName: 'Dr Alex Morgan', roles: ['clinician' as const, 'manager' as const] }],
    ])('refuses a staff device certificate with %s', async (_case, certifiedAs) => {
      devices.findInPractice.mockResolvedValue(deviceOf(aClinician({ practiceId })));

      await expect(sut.certify(aManager({ practiceId }), randomUUID(), CERTIFICATE, certifiedAs)).rejects.toMatchObject({ code: 'invalid_payload' });
      expect(devices.certifyStaffDevice).not.toHaveBeenCalled();
    });

    it('refuses a patient device certificate that names a person', async () => {
      const actor = aPatient();
      devices.findInPractice.mockResolvedValue(deviceOf(actor));

      await expect(sut.certify(actor, randomUUID(), CERTIFICATE, { displayName: 'Dr Alex Morgan', roles: ['clinician'] })).rejects.toMatchObject({
        code: 'invalid_payload',
      });
    });

    it('replaces a staff device certificate (re-admission), but never one of a revoked device', async () => {
      const clinician = aClinician({ practiceId });
      const certifiedAs = { displayName: clinician.displayName, roles: ['clinician' as const] };
      devices.findInPractice
        .mockResolvedValueOnce(deviceOf(clinician, { hasCertificate: true }))
        .mockResolvedValueOnce(deviceOf(clinician, { isRevoked: true }));

      await expect(sut.certify(aManager({ practiceId }), randomUUID(), CERTIFICATE, certifiedAs)).resolves.toBeUndefined();
      await expect(sut.certify(aManager({ practiceId }), randomUUID(), CERTIFICATE, certifiedAs)).rejects.toMatchObject({ code: 'conflict' });
      expect(devices.certifyStaffDevice).toHaveBeenCalledTimes(1);
    });

    it('answers not_found for a device outside the caller’s practice', async () => {
      devices.findInPractice.mockResolvedValue(null);

      await expect(sut.certify(aManager(), randomUUID(), CERTIFICATE, undefined)).rejects.toEqual(new DomainError('not_found'));
    });

    it('refuses to certify a patient device twice or a revoked one', async () => {
      const actor = aPatient();
      devices.findInPractice.mockResolvedValueOnce(deviceOf(actor, { hasCertificate: true })).mockResolvedValueOnce(deviceOf(actor, { isRevoked: true }));

      await expect(sut.certify(actor, randomUUID(), CERTIFICATE, undefined)).rejects.toMatchObject({ code: 'conflict' });
      await expect(sut.certify(actor, randomUUID(), CERTIFICATE, undefined)).rejects.toMatchObject({ code: 'conflict' });
      expect(devices.certifyPatientDevice).not.toHaveBeenCalled();
    });
  });

  describe('revoke', () => {
    it('closes the sockets of the revoked device', async () => {
      const actor = aPatient();
      const deviceId = randomUUID();
      devices.revokeOfUser.mockResolvedValue(true);

      await sut.revoke(actor, deviceId);

      expect(devices.revokeOfUser).toHaveBeenCalledWith(actor.userId, deviceId);
      expect(events.ended).toHaveBeenCalledWith(rooms.device(deviceId), 'device_revoked');
    });

    it("answers not_found for a device that is not the caller's and tells no socket", async () => {
      devices.revokeOfUser.mockResolvedValue(false);

      await expect(sut.revoke(aPatient(), randomUUID())).rejects.toEqual(new DomainError('not_found'));
      expect(events.ended).not.toHaveBeenCalled();
    });
  });
});
