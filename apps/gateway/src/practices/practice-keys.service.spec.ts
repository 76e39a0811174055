import { Logger } from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import type { AddRecordKeyGrantRequest } from '@parley/protocol';
import { mockOf } from '../../test/mocks.js';
import { aClinician, aManager, aPatient } from '../../test/factories.js';
import type { AuditService } from '../audit/audit.service.js';
import type { DevicesService } from '../devices/devices.service.js';
import { DomainError } from '../common/domain-error.js';
import type { PracticeKeysRepository } from './practice-keys.repository.js';
import { PracticeKeysService } from './practice-keys.service.js';

const aGrant = (): AddRecordKeyGrantRequest => ({
  version: 1,
  deviceId: randomUUID(),
  sealedSeed: Buffer.alloc(80).toString('base64'),
  signature: Buffer.alloc(64).toString('base64'),
});

describe(PracticeKeysService.name, () => {
  beforeAll(() => Logger.overrideLogger(false));

  let keys: jest.Mocked<PracticeKeysRepository>;
  let devices: jest.Mocked<DevicesService>;
  let sut: PracticeKeysService;

  beforeEach(() => {
    keys = mockOf<PracticeKeysRepository>();
    devices = mockOf<DevicesService>();
    sut = new PracticeKeysService(keys, devices, mockOf<AuditService>());
  });

  it('lets only managers write keys', async () => {
    for (const actor of [aPatient(), aClinician()]) {
      await expect(sut.setRootKey(actor, Buffer.alloc(32))).rejects.toEqual(new DomainError('forbidden'));
      await expect(sut.addGrant(actor, aGrant())).rejects.toEqual(new DomainError('forbidden'));
    }
    expect(keys.setRootKey).not.toHaveBeenCalled();
    expect(keys.addGrant).not.toHaveBeenCalled();
  });

  it('pins the root key in the caller’s practice once', async () => {
    const manager = aManager();
    keys.setRootKey.mockResolvedValueOnce(true).mockResolvedValueOnce(false);

    await sut.setRootKey(manager, Buffer.alloc(32, 1));

    expect(keys.setRootKey).toHaveBeenCalledWith(manager.practiceId, Buffer.alloc(32, 1));
    await expect(sut.setRootKey(manager, Buffer.alloc(32, 2))).rejects.toMatchObject({ code: 'conflict' });
  });

  it('grants only to an active staff device of the practice, as the granting manager’s device', async () => {
    const manager = aManager();
    const grant = aGrant();
    devices.isActiveStaffDevice.mockResolvedValueOnce(false).mockResolvedValueOnce(true);
    keys.addGrant.mockResolvedValue(null);

    await expect(sut.addGrant(manager, grant)).rejects.toEqual(new DomainError('not_found'));
    await sut.addGrant(manager, grant);

    expect(devices.isActiveStaffDevice).toHaveBeenCalledWith(manager.practiceId, grant.deviceId);
    expect(keys.addGrant).toHaveBeenCalledTimes(1);
    expect(keys.addGrant).toHaveBeenCalledWith(expect.objectContaining({ practiceId: manager.practiceId, grantedByDeviceId: manager.deviceId }));
  });

  it('maps a missing version to not_found and a repeated grant to conflict', async () => {
    devices.isActiveStaffDevice.mockResolvedValue(true);
    keys.addGrant.mockResolvedValueOnce('no_such_version').mockResolvedValueOnce('already_granted');

    await expect(sut.addGrant(aManager(), aGrant())).rejects.toMatchObject({ code: 'not_found' });
    await expect(sut.addGrant(aManager(), aGrant())).rejects.toMatchObject({ code: 'conflict' });
  });
});
