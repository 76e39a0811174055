import { FakeClock } from '../common/clock.js';
import type { RealtimePublisher } from '../common/realtime.publisher.js';
import type { RecordService } from '../record/record.service.js';
import type { NewEntry, StoredOutcome } from '../record/record.types.js';
import { mockOf } from '../../test/mocks.js';
import type { NotificationChannel } from './notification-channel.js';
import { isNoticeWorthy, NotificationDispatcher } from './notification-dispatcher.js';
import type { NoticeContext, NotificationsRepository } from './notifications.repository.js';

const CONVERSATION = '6f1c7a52-3b8e-4b8f-9a51-0f7d2c1e9b11';
const PATIENT = '0c5c2f9a-1d0b-4c43-8d5f-7d1b8a3f4e21';

const message = (senderRole: 'patient' | 'clinician' | 'manager'): NewEntry => ({
  conversationId: CONVERSATION,
  message: {
    epoch: 1,
    senderUserId: PATIENT,
    senderDeviceId: PATIENT,
    senderRole,
    senderDeviceSeq: 1,
    clientMessageId: CONVERSATION,
    contentType: 'text',
    ciphertext: Buffer.alloc(40),
    nonce: Buffer.alloc(24),
  },
});

describe(isNoticeWorthy.name, () => {
  it("tells the patient of staff's messages, not of their own", () => {
    expect(isNoticeWorthy(message('clinician'))).toBe(true);
    expect(isNoticeWorthy(message('manager'))).toBe(true);
    expect(isNoticeWorthy(message('patient'))).toBe(false);
  });

  it('tells of assignment, closing and a request for a file, not of bookkeeping', () => {
    const system = (system: NewEntry['system']) => ({ conversationId: CONVERSATION, system }) as NewEntry;

    expect(isNoticeWorthy(system({ event: 'assigned', data: { clinicianId: PATIENT, how: 'auto' } }))).toBe(true);
    expect(isNoticeWorthy(system({ event: 'closed', data: { outcome: 'resolved' } }))).toBe(true);
    expect(isNoticeWorthy(system({ event: 'attachment.requested', data: { kind: 'photo', clinicianId: PATIENT } }))).toBe(true);
    expect(isNoticeWorthy(system({ event: 'opened', data: { topic: 'admin' } }))).toBe(false);
    expect(isNoticeWorthy(system({ event: 'acknowledged', data: { text: 'Thank you' } }))).toBe(false);
    expect(isNoticeWorthy(system({ event: 'keys.epoch', data: { epoch: 2, reason: 'handover' } }))).toBe(false);
  });
});

describe(NotificationDispatcher.name, () => {
  const record = mockOf<RecordService>();
  const realtime = mockOf<RealtimePublisher>();
  const notices = mockOf<NotificationsRepository>();
  const clock = new FakeClock(new Date('2026-12-05T12:00:00Z'));
  const context: NoticeContext = {
    patientUserId: PATIENT,
    practiceId: CONVERSATION,
    practiceName: 'Riverside Surgery',
    timeZone: 'Europe/London',
    settings: { showPracticeName: false, quietHours: null },
  };
  let onStored: (entry: NewEntry, stored: StoredOutcome) => void;
  const stored: StoredOutcome = { status: 'stored', seq: 2, createdAt: clock.now(), hash: Buffer.alloc(32), patientId: PATIENT };
  const channel = (name: string, result: boolean | Error): jest.Mocked<NotificationChannel> => {
    const notify = mockOf<NotificationChannel>().notify;
    if (result instanceof Error) notify.mockRejectedValue(result);
    else notify.mockResolvedValue(result);
    return { name, notify } as jest.Mocked<NotificationChannel>;
  };
  const dispatcherWith = (channels: NotificationChannel[]) => {
    const sut = new NotificationDispatcher(record, realtime, notices, channels, clock);
    sut.onModuleInit();
    onStored = record.onEntryStored.mock.calls.at(-1)![0];
    return sut;
  };

  beforeEach(() => {
    realtime.isUserOnline.mockResolvedValue(false);
    notices.contextOf.mockResolvedValue(context);
    notices.claim.mockResolvedValue(true);
    notices.release.mockResolvedValue();
  });

  it('tries the next channel when one fails, and stops at the first that sends', async () => {
    const push = channel('push', new Error('push service down'));
    const notify = channel('notify', true);
    const sut = dispatcherWith([push, notify]);

    onStored(message('clinician'), stored);
    await sut.onModuleDestroy();

    expect(notify.notify).toHaveBeenCalledWith({ practiceId: CONVERSATION, patientUserId: PATIENT, conversationId: CONVERSATION, practiceName: null });
    expect(notices.release).not.toHaveBeenCalled();
  });

  it('releases the claim when no channel sends, so the next message tries again', async () => {
    const sut = dispatcherWith([channel('push', false)]);

    onStored(message('clinician'), stored);
    await sut.onModuleDestroy();

    expect(notices.release).toHaveBeenCalledWith(PATIENT, CONVERSATION);
  });

  it("sends nothing when the entry's patient (from its outcome) is connected, and reads and claims nothing", async () => {
    const push = channel('push', true);
    realtime.isUserOnline.mockResolvedValue(true);
    notices.claim.mockClear();
    notices.contextOf.mockClear();
    const sut = dispatcherWith([push]);

    onStored(message('clinician'), stored);
    await sut.onModuleDestroy();

    expect(realtime.isUserOnline).toHaveBeenCalledWith(PATIENT);
    expect(push.notify).not.toHaveBeenCalled();
    expect(notices.contextOf).not.toHaveBeenCalled();
    expect(notices.claim).not.toHaveBeenCalled();
  });

  it('sends nothing when another node claimed the notice', async () => {
    const push = channel('push', true);
    notices.claim.mockResolvedValue(false);
    const sut = dispatcherWith([push]);

    onStored(message('clinician'), stored);
    await sut.onModuleDestroy();

    expect(push.notify).not.toHaveBeenCalled();
  });
});
