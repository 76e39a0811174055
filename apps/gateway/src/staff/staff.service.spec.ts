import { Logger } from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import { aClinician, aManager, aPatient } from '../../test/factories.js';
import { mockOf } from '../../test/mocks.js';
import type { AuditService } from '../audit/audit.service.js';
import type { DevicesService } from '../devices/devices.service.js';
import { DomainError } from '../common/domain-error.js';
import type { CapacityService } from '../capacity/capacity.service.js';
import type { StaffRepository } from './staff.repository.js';
import { StaffService } from './staff.service.js';

const ENDED = { devicesRevoked: 2, grantsRevoked: 3, sessionsEnded: 1 };

describe(StaffService.name, () => {
  beforeAll(() => Logger.overrideLogger(false));

  let devices: jest.Mocked<DevicesService>;
  let queue: jest.Mocked<CapacityService>;
  let audit: jest.Mocked<AuditService>;
  let sut: StaffService;
  const manager = aManager();

  beforeEach(() => {
    devices = mockOf<DevicesService>();
    queue = mockOf<CapacityService>();
    audit = mockOf<AuditService>();
    sut = new StaffService(mockOf<StaffRepository>(), devices, queue, audit);
    devices.offboard.mockResolvedValue(ENDED);
    queue.releaseClinician.mockResolvedValue(4);
  });

  it('lets only managers offboard or list, changing nothing otherwise', async () => {
    for (const actor of [aPatient(), aClinician()]) {
      await expect(sut.offboard(actor, randomUUID())).rejects.toEqual(new DomainError('forbidden'));
      await expect(sut.list(actor)).rejects.toEqual(new DomainError('forbidden'));
    }
    expect(devices.offboard).not.toHaveBeenCalled();
  });

  it('refuses to offboard oneself, someone who is not staff here, or someone already offboarded', async () => {
    devices.staffMember.mockResolvedValueOnce(null).mockResolvedValueOnce({ isActive: false, roles: ['clinician'] });

    await expect(sut.offboard(manager, manager.userId)).rejects.toMatchObject({ code: 'conflict' });
    await expect(sut.offboard(manager, randomUUID())).rejects.toMatchObject({ code: 'not_found' });
    await expect(sut.offboard(manager, randomUUID())).rejects.toMatchObject({ code: 'conflict' });
    expect(devices.offboard).not.toHaveBeenCalled();
    expect(audit.record).not.toHaveBeenCalled();
  });

  it('ends a clinician’s access, hands their conversations back, and audits the counts', async () => {
    const leaver = randomUUID();
    devices.staffMember.mockResolvedValue({ isActive: true, roles: ['clinician'] });

    const result = await sut.offboard(manager, leaver);

    expect(result).toEqual({ userId: leaver, ...ENDED, conversationsHandedBack: 4 });
    expect(devices.offboard).toHaveBeenCalledWith(manager.practiceId, leaver);
    expect(queue.releaseClinician).toHaveBeenCalledWith(manager.practiceId, leaver);
    expect(audit.record).toHaveBeenCalledWith(manager, 'staff.offboarded', { data: { staffUserId: leaver, ...ENDED, conversationsHandedBack: 4 } });
  });

  it('hands nothing back for a manager who is not a clinician', async () => {
    devices.staffMember.mockResolvedValue({ isActive: true, roles: ['manager'] });

    const result = await sut.offboard(manager, randomUUID());

    expect(result.conversationsHandedBack).toBe(0);
    expect(queue.releaseClinician).not.toHaveBeenCalled();
  });
});
