import { randomUUID } from 'node:crypto';
import { Logger } from '@nestjs/common';
import { mockOf } from '../../test/mocks.js';
import { aClinician, aManager, aPatient } from '../../test/factories.js';
import type { AuditService } from '../audit/audit.service.js';
import { FakeClock } from '../common/clock.js';
import type { RealtimePublisher } from '../common/realtime.publisher.js';
import type { RecordService } from '../record/record.service.js';
import type { LifecycleConversation, LifecycleRepository } from './lifecycle.repository.js';
import { LifecycleService } from './lifecycle.service.js';
import type { RoutingService } from '../routing/routing.service.js';

const NOW = new Date('2025-03-04T10:00:00.000Z');

describe(LifecycleService.name, () => {
  let lifecycle: jest.Mocked<LifecycleRepository>;
  let queue: jest.Mocked<RoutingService>;
  let record: jest.Mocked<RecordService>;
  let realtime: jest.Mocked<RealtimePublisher>;
  let audit: jest.Mocked<AuditService>;
  let sut: LifecycleService;
  const clinician = aClinician();
  const colleagueId = randomUUID();
  const conversation: LifecycleConversation = {
    id: randomUUID(),
    practiceId: clinician.practiceId,
    practiceOdsCode: 'Y00001',
    patientId: randomUUID(),
    topic: 'admin',
    status: 'assigned',
    assignedClinicianId: clinician.userId,
    currentEpoch: 1,
    lastSeq: 3,
    createdAt: NOW,
    urgentAt: null,
  };
  const change = {
    practiceId: conversation.practiceId,
    conversationId: conversation.id,
    patientId: conversation.patientId,
    previousClinicianId: clinician.userId,
  };

  beforeAll(() => Logger.overrideLogger(false));

  beforeEach(() => {
    lifecycle = mockOf<LifecycleRepository>();
    queue = mockOf<RoutingService>();
    record = mockOf<RecordService>();
    realtime = mockOf<RealtimePublisher>();
    audit = mockOf<AuditService>();
    lifecycle.find.mockResolvedValue(conversation);
    lifecycle.timeZoneOf.mockResolvedValue('Europe/London');
    queue.route.mockResolvedValue([]);
    record.append.mockResolvedValue({ status: 'stored', seq: 4, createdAt: NOW, hash: Buffer.alloc(32), patientId: conversation.patientId });
    sut = new LifecycleService(lifecycle, queue, record, realtime, new FakeClock(NOW), audit);
  });

  it('refuses a patient before touching anything', async () => {
    await expect(sut.close(aPatient({ practiceId: clinician.practiceId }), { conversationId: conversation.id, outcome: 'resolved' })).rejects.toMatchObject({
      code: 'forbidden',
    });
    expect(lifecycle.find).not.toHaveBeenCalled();
  });

  it('refuses staff of another practice with forbidden', async () => {
    await expect(sut.transfer(aClinician(), { conversationId: conversation.id, to: 'queue' })).rejects.toMatchObject({ code: 'forbidden' });
    expect(lifecycle.requeue).not.toHaveBeenCalled();
  });

  it('maps a colleague at cap to at_capacity and tells nobody', async () => {
    lifecycle.transferTo.mockResolvedValue('at_cap');

    await expect(sut.transfer(clinician, { conversationId: conversation.id, to: { clinicianId: colleagueId } })).rejects.toMatchObject({ code: 'at_capacity' });
    expect(record.append).not.toHaveBeenCalled();
    expect(audit.record).not.toHaveBeenCalled();
    expect(realtime.publish).not.toHaveBeenCalled();
  });

  it('transfers as the assignee, then records, audits, tells the colleague and routes the freed slot', async () => {
    lifecycle.transferTo.mockResolvedValue(change);

    await sut.transfer(clinician, { conversationId: conversation.id, to: { clinicianId: colleagueId } });

    expect(lifecycle.transferTo).toHaveBeenCalledWith(
      conversation.practiceId,
      conversation.id,
      { kind: 'assignee', userId: clinician.userId },
      colleagueId,
      NOW,
      new Date('2025-03-04T00:00:00.000Z'),
    );
    expect(record.append).toHaveBeenCalledWith({
      conversationId: conversation.id,
      system: { event: 'transferred', data: { fromClinicianId: clinician.userId, clinicianId: colleagueId } },
    });
    expect(audit.record).toHaveBeenCalledWith(
      clinician,
      'conversation.transferred',
      expect.objectContaining({ conversationId: conversation.id, subjectUserId: conversation.patientId }),
    );
    expect(realtime.publish).toHaveBeenCalledWith(`user:${colleagueId}`, 'conversation:assigned', {
      conversationId: conversation.id,
      clinicianId: colleagueId,
      how: 'transfer',
    });
    expect(queue.route).toHaveBeenCalledWith(conversation.practiceId);
  });

  it('lets a manager act on any conversation of the practice', async () => {
    const manager = aManager({ practiceId: clinician.practiceId });
    lifecycle.close.mockResolvedValue({ ...change, followUpId: null });

    await sut.close(manager, { conversationId: conversation.id, outcome: 'appointment_booked' });

    expect(lifecycle.close).toHaveBeenCalledWith(conversation.practiceId, conversation.id, { kind: 'manager' }, 'appointment_booked', undefined, NOW);
    expect(record.append).toHaveBeenCalledWith({ conversationId: conversation.id, system: { event: 'closed', data: { outcome: 'appointment_booked' } } });
    expect(queue.route).toHaveBeenCalledWith(conversation.practiceId);
  });

  it('answers a hold already in place without a record entry or audit', async () => {
    lifecycle.setHold.mockResolvedValue('unchanged');

    await sut.hold(clinician, { conversationId: conversation.id, isOnHold: true });

    expect(record.append).not.toHaveBeenCalled();
    expect(audit.record).not.toHaveBeenCalled();
  });

  it('acknowledges a committed close even when routing afterwards fails', async () => {
    lifecycle.close.mockResolvedValue({ ...change, followUpId: null });
    queue.route.mockRejectedValue(new Error('database gone'));

    await expect(sut.close(clinician, { conversationId: conversation.id, outcome: 'resolved' })).resolves.toMatchObject({
      conversation: { id: conversation.id },
    });
  });

  it('lets only the owner or a manager mark a follow-up done', async () => {
    const followUp = {
      id: randomUUID(),
      practiceId: clinician.practiceId,
      conversationId: conversation.id,
      patientId: conversation.patientId,
      ownerId: colleagueId,
      dueDate: '2025-03-10',
      createdBy: clinician.userId,
      createdAt: NOW,
      doneAt: null,
      doneBy: null,
    };
    lifecycle.findFollowUp.mockResolvedValue(followUp);
    lifecycle.completeFollowUp.mockResolvedValue(true);

    await expect(sut.completeFollowUp(clinician, followUp.id)).rejects.toMatchObject({ code: 'forbidden' });
    await sut.completeFollowUp(aManager({ practiceId: clinician.practiceId }), followUp.id);

    expect(lifecycle.completeFollowUp).toHaveBeenCalledTimes(1);
    expect(audit.record).toHaveBeenCalledWith(
      expect.anything(),
      'follow-up.completed',
      expect.objectContaining({ data: { followUpId: followUp.id, ownerUserId: colleagueId } }),
    );
  });
});
