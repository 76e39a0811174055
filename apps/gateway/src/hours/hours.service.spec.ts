import { Logger, type ArgumentsHost } from '@nestjs/common';
import { DateTime } from 'luxon';
import { aClinician, aManager } from '../../test/factories.js';
import { mockOf } from '../../test/mocks.js';
import type { AuditService } from '../audit/audit.service.js';
import { FakeClock } from '../common/clock.js';
import { DomainError } from '../common/domain-error.js';
import { HttpErrorFilter } from '../common/http-error.filter.js';
import type { RealtimePublisher } from '../common/realtime.publisher.js';
import { WsErrorFilter } from '../common/ws-error.filter.js';
import type { HoursRepository, StoredHours } from './hours.repository.js';
import { HoursService } from './hours.service.js';

const jestObject = (import.meta as unknown as { jest: typeof jest }).jest;
const london = (local: string) => DateTime.fromISO(local, { zone: 'Europe/London' }).toJSDate();
const PRACTICE_ID = '6f1c1e9e-4a8e-4c39-9d55-2b1f4a7d2c01';
const stored = (overrides: Partial<StoredHours> = {}): StoredHours => ({
  practiceId: PRACTICE_ID,
  timeZone: 'Europe/London',
  cutoffMinutes: 15,
  closingSoonMinutes: 15,
  replyWindow: 'end_of_day',
  observesBankHolidays: true,
  weekly: [1, 2, 3, 4, 5].map((weekday) => ({ weekday, start: 480, end: 1110 })),
  exceptions: [],
  ...overrides,
});

describe(HoursService.name, () => {
  // Each test gets its own mocks, clock and service: the service remembers the practices it has seen and the
  // mocks their calls, so sharing them would make a test's outcome depend on the ones that ran before it.
  let repository: jest.Mocked<HoursRepository>;
  let realtime: jest.Mocked<RealtimePublisher>;
  let audit: jest.Mocked<AuditService>;
  let clock: FakeClock;
  let sut: HoursService;

  beforeAll(() => Logger.overrideLogger(false));

  beforeEach(() => {
    repository = mockOf<HoursRepository>();
    realtime = mockOf<RealtimePublisher>();
    audit = mockOf<AuditService>();
    clock = new FakeClock(london('2026-11-23T18:00'));
    sut = new HoursService(repository, clock, realtime, audit, { events: [], dates: new Set() });
    repository.hoursOf.mockResolvedValue(stored());
    repository.allHours.mockResolvedValue([stored()]);
    repository.claimClosing.mockResolvedValue(true);
  });

  it('remembers a practice it sees for the first time, then announces only changes, and each closing once', async () => {
    const closings: unknown[] = [];
    const unsubscribe = sut.onClosing((closing) => void closings.push(closing));

    clock.set(london('2026-11-23T18:00'));
    const firstNext = await sut.refreshAll();
    const publishedAtFirstSight = realtime.publish.mock.calls.length;
    clock.set(london('2026-11-23T18:31'));
    await sut.refreshAll();
    await sut.refreshAll();
    unsubscribe();

    expect(firstNext).toEqual(london('2026-11-23T18:15'));
    expect(publishedAtFirstSight).toBe(0);
    expect(realtime.publish).toHaveBeenCalledTimes(1);
    expect(realtime.publish).toHaveBeenCalledWith(`patients:${PRACTICE_ID}`, 'hours:status', expect.objectContaining({ state: 'closed' }));
    expect(repository.claimClosing).toHaveBeenCalledWith(PRACTICE_ID, london('2026-11-23T18:30'));
    expect(closings).toEqual([
      { practiceId: PRACTICE_ID, closedAt: london('2026-11-23T18:30'), nextOpening: london('2026-11-24T08:00'), timeZone: 'Europe/London' },
    ]);
  });

  it('refuses a non-manager every change before touching the schedule', async () => {
    await expect(sut.replaceWeekly(aClinician({ practiceId: PRACTICE_ID }), { intervals: [] })).rejects.toEqual(new DomainError('forbidden'));
    await expect(sut.updateSettings(aClinician({ practiceId: PRACTICE_ID }), { cutoffMinutes: 0 })).rejects.toEqual(new DomainError('forbidden'));

    expect(repository.replaceWeekly).not.toHaveBeenCalled();
    expect(repository.updateSettings).not.toHaveBeenCalled();
  });

  it('audits a manager change with codes only and publishes the new status', async () => {
    const manager = aManager({ practiceId: PRACTICE_ID });
    clock.set(london('2026-11-23T10:00'));

    await sut.setException(manager, '2026-12-24', { label: 'Early close for the staff party', intervals: [{ start: '08:00', end: '12:00' }] });

    expect(repository.setException).toHaveBeenCalledWith(PRACTICE_ID, {
      date: '2026-12-24',
      label: 'Early close for the staff party',
      intervals: [{ start: 480, end: 720 }],
    });
    expect(audit.record).toHaveBeenCalledWith(manager, 'hours.changed', { data: { what: 'exception_set', date: '2026-12-24', intervals: 1 } });
    expect(realtime.publish).toHaveBeenLastCalledWith(`patients:${PRACTICE_ID}`, 'hours:status', expect.objectContaining({ state: 'open' }));
  });

  it('sends the next opening of an outside_hours refusal to the client, on the ack and in the HTTP body', async () => {
    clock.set(london('2026-11-23T19:00'));
    const refusal = (await sut.assertOpenForNewConversation(PRACTICE_ID).catch((error: unknown) => error)) as DomainError;
    const acks: unknown[] = [];
    const wsHost = { getArgs: () => [{ id: 'socket-1' }, {}, (answer: unknown) => acks.push(answer), 'conversation:open'] } as unknown as ArgumentsHost;
    const bodies: unknown[] = [];
    const response = { status: () => response, json: (body: unknown) => bodies.push(body) };
    const httpHost = { switchToHttp: () => ({ getResponse: () => response }) } as unknown as ArgumentsHost;

    new WsErrorFilter().catch(refusal, wsHost);
    new HttpErrorFilter().catch(refusal, httpHost);

    const error = {
      code: 'outside_hours',
      message: expect.stringContaining('Tuesday 24 November at 08:00'),
      details: { nextOpening: '2026-11-24T08:00:00.000Z', state: 'closed' },
    };
    expect(acks).toEqual([{ ok: false, error }]);
    expect(bodies).toEqual([{ error }]);
  });

  it("answers the patients' sockets from one read of the hours a second; the clock still moves the status, an edit here shows at once", async () => {
    jestObject.useFakeTimers({ doNotFake: ['nextTick', 'setImmediate', 'queueMicrotask'] });
    try {
      clock.set(london('2026-11-23T18:00'));
      const states = [];
      for (let socket = 0; socket < 5; socket += 1) states.push((await sut.status(PRACTICE_ID)).state);
      clock.set(london('2026-11-23T18:31'));
      const afterClosing = (await sut.status(PRACTICE_ID)).state;
      const readsWithinASecond = repository.hoursOf.mock.calls.length;
      jestObject.advanceTimersByTime(1_500);
      await sut.status(PRACTICE_ID);
      const readsAfterASecond = repository.hoursOf.mock.calls.length;
      repository.hoursOf.mockResolvedValue(stored({ weekly: [] }));
      repository.replaceWeekly.mockResolvedValue(undefined);
      await sut.replaceWeekly(aManager({ practiceId: PRACTICE_ID }), { intervals: [] });
      const afterEdit = (await sut.status(PRACTICE_ID)).state;

      expect(states).toEqual(['open', 'open', 'open', 'open', 'open']);
      expect(afterClosing).toBe('closed');
      expect(readsWithinASecond).toBe(1);
      expect(readsAfterASecond).toBe(2);
      expect(afterEdit).toBe('open');
    } finally {
      jestObject.useRealTimers();
    }
  });

  it('answers the checks from the last good read when the next read fails, but never from one older than an edit here', async () => {
    jestObject.useFakeTimers({ doNotFake: ['nextTick', 'setImmediate', 'queueMicrotask'] });
    try {
      clock.set(london('2026-11-23T10:00'));
      await sut.assertOpenForNewConversation(PRACTICE_ID);
      jestObject.advanceTimersByTime(1_500);
      repository.hoursOf.mockRejectedValue(new DomainError('rate_limited', 'busy'));
      const whileBusy = await sut.assertOpenForNewConversation(PRACTICE_ID).then(
        () => 'open',
        (error: DomainError) => error.code,
      );
      const readsWhileBusy = repository.hoursOf.mock.calls.length;
      repository.replaceWeekly.mockResolvedValue(undefined);
      const edited = await sut.replaceWeekly(aManager({ practiceId: PRACTICE_ID }), { intervals: [] }).then(
        () => 'edited',
        (error: DomainError) => error.code,
      );
      const afterEdit = await sut.assertOpenForNewConversation(PRACTICE_ID).then(
        () => 'open',
        (error: DomainError) => error.code,
      );

      expect(readsWhileBusy).toBe(2); // the good read, then the failed one it stood in for
      expect(whileBusy).toBe('open');
      expect(edited).toBe('rate_limited'); // the edit's own status read fails too: the edit is stored, its announcement not
      expect(afterEdit).toBe('rate_limited');
    } finally {
      jestObject.useRealTimers();
    }
  });
});
