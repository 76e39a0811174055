import { Logger } from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import { mockOf } from '../../test/mocks.js';
import type { AuditService } from '../audit/audit.service.js';
import { FakeClock } from '../common/clock.js';
import type { RealtimePublisher } from '../common/realtime.publisher.js';
import type { HoursService } from '../hours/hours.service.js';
import type { RecordService } from '../record/record.service.js';
import type { RoutingRepository } from './routing.repository.js';
import { RoutingService } from './routing.service.js';

const jestObject = (import.meta as unknown as { jest: typeof jest }).jest;

describe(RoutingService.name, () => {
  const practiceId = randomUUID();
  let queue: jest.Mocked<RoutingRepository>;
  let hours: jest.Mocked<HoursService>;
  let sut: RoutingService;

  beforeEach(() => {
    jestObject.useFakeTimers();
    jestObject.spyOn(Logger.prototype, 'warn').mockImplementation(() => undefined);
    queue = mockOf<RoutingRepository>();
    queue.timeZoneOf.mockResolvedValue('Europe/London');
    hours = mockOf<HoursService>();
    hours.localDayStart.mockResolvedValue(new Date('2026-11-23T00:00:00Z'));
    sut = new RoutingService(
      queue,
      mockOf<RecordService>(),
      mockOf<RealtimePublisher>(),
      new FakeClock(new Date('2026-11-23T10:00:00Z')),
      mockOf<AuditService>(),
      hours,
    );
  });

  afterEach(() => {
    sut.onModuleDestroy();
    jestObject.useRealTimers();
    jestObject.restoreAllMocks();
  });

  it('tries a failed routing pass again shortly, so waiting patients are not left until the next event', async () => {
    queue.assignWaiting.mockRejectedValueOnce(new Error('timeout exceeded when trying to connect')).mockResolvedValue({ made: [], isRoomLeft: false });

    await expect(sut.route(practiceId)).rejects.toThrow('timeout exceeded');
    expect(queue.assignWaiting).toHaveBeenCalledTimes(1);
    await jestObject.advanceTimersByTimeAsync(1_000);

    expect(queue.assignWaiting).toHaveBeenCalledTimes(2);
  });

  it('routes again shortly after a pass that passed a waiting conversation over, until none is', async () => {
    queue.assignWaiting.mockResolvedValue({ made: [], isRoomLeft: true });
    queue.isRoutableWaiting.mockResolvedValueOnce(true).mockResolvedValue(false);

    await sut.route(practiceId);
    await jestObject.advanceTimersByTimeAsync(199);
    const beforeRetry = queue.assignWaiting.mock.calls.length;
    await jestObject.advanceTimersByTimeAsync(5_000);

    expect(beforeRetry).toBe(1);
    expect(queue.assignWaiting).toHaveBeenCalledTimes(2);
    expect(queue.isRoutableWaiting).toHaveBeenCalledTimes(2);
  });

  it('shares one read of the clinicians between the wait estimates after an assignment until its announcement reads them afresh; a clinician change is read at once', async () => {
    const clinician = {
      userId: randomUUID(),
      displayName: 'Dr A',
      availability: 'available' as const,
      isConnected: true,
      maxConcurrent: 3,
      dailyMax: null,
      active: 1,
      today: 1,
    };
    queue.clinicians.mockResolvedValue([clinician]);
    queue.handlingMinutes.mockResolvedValue({ median: 10, samples: 5 });
    hours.status.mockResolvedValue({ state: 'open', closesAt: null, nextOpening: null, timeZone: 'Europe/London' } as Awaited<
      ReturnType<HoursService['status']>
    >);
    queue.assignWaiting.mockResolvedValue({ made: [], isRoomLeft: false });
    queue.waiting.mockResolvedValue([]);
    queue.practiceLimits.mockResolvedValue({ maxQueue: null, maxNewPerDay: null, isIntakePaused: false });
    queue.waitingPatients.mockResolvedValue([]);

    await sut.replyTimeWriter(practiceId);
    await sut.route(practiceId); // a routing pass: the loads may have moved
    await sut.replyTimeWriter(practiceId);
    const beforeAnnouncement = queue.clinicians.mock.calls.length;
    await jestObject.advanceTimersByTimeAsync(100); // the pass's announcement
    const afterAnnouncement = queue.clinicians.mock.calls.length;
    await sut.replyTimeWriter(practiceId);
    const sharedWithAnnouncement = queue.clinicians.mock.calls.length;
    sut.cliniciansChanged(practiceId);
    await sut.replyTimeWriter(practiceId);

    expect([beforeAnnouncement, afterAnnouncement, sharedWithAnnouncement]).toEqual([1, 2, 2]);
    expect(queue.clinicians).toHaveBeenCalledTimes(3);
  });

  it('retries nothing once the module is stopping', async () => {
    queue.assignWaiting.mockRejectedValue(new Error('connection terminated'));

    await expect(sut.route(practiceId)).rejects.toThrow('connection terminated');
    sut.onModuleDestroy();
    await jestObject.advanceTimersByTimeAsync(5_000);

    expect(queue.assignWaiting).toHaveBeenCalledTimes(1);
  });
});
