import { randomUUID } from 'node:crypto';
import type { AuditEvent } from '@parley/protocol';
import { mockOf } from '../../test/mocks.js';
import { aClinician, aManager, aPatient } from '../../test/factories.js';
import { FakeClock } from '../common/clock.js';
import { DomainError } from '../common/domain-error.js';
import type { AuditRepository } from './audit.repository.js';
import { AuditService, serverActor } from './audit.service.js';

const NOW = new Date('2025-03-04T10:00:00.000Z');

const anEvent = (id: number): AuditEvent => ({
  id: String(id),
  actorUserId: randomUUID(),
  actorDeviceId: randomUUID(),
  action: 'hours.changed',
  subjectUserId: null,
  conversationId: null,
  data: {},
  createdAt: NOW.toISOString(),
});

describe(AuditService.name, () => {
  let events: jest.Mocked<AuditRepository>;
  let sut: AuditService;

  beforeEach(() => {
    events = mockOf<AuditRepository>();
    sut = new AuditService(events, new FakeClock(NOW));
  });

  it('appends an event in the actor’s practice, timed by the clock', async () => {
    const manager = aManager();
    const conversationId = randomUUID();
    const patientId = randomUUID();

    await sut.record(manager, 'conversation.read', { conversationId, subjectUserId: patientId, data: { seq: 4 } });

    expect(events.append).toHaveBeenCalledWith({
      practiceId: manager.practiceId,
      actorUserId: manager.userId,
      actorDeviceId: manager.deviceId,
      action: 'conversation.read',
      subjectUserId: patientId,
      conversationId,
      data: { seq: 4 },
      createdAt: NOW,
    });
  });

  it('records what the server does by itself with no actor user or device', async () => {
    const practiceId = randomUUID();

    await sut.record(serverActor(practiceId), 'conversation.assigned', { conversationId: randomUUID() });

    expect(events.append).toHaveBeenCalledWith(expect.objectContaining({ practiceId, actorUserId: null, actorDeviceId: null, data: {} }));
  });

  it('lets only managers read the log', async () => {
    for (const actor of [aPatient(), aClinician()]) await expect(sut.query(actor, {})).rejects.toEqual(new DomainError('forbidden'));

    expect(events.find).not.toHaveBeenCalled();
  });

  it('reads the caller’s practice with the filters as given, and pages by the last id', async () => {
    const manager = aManager();
    const actorUserId = randomUUID();
    events.find.mockResolvedValue([anEvent(9), anEvent(8), anEvent(7)]);

    const page = await sut.query(manager, { actorUserId, action: 'hours.changed', from: '2025-03-01T00:00:00Z', before: '10', limit: 2 });

    expect(events.find).toHaveBeenCalledWith(
      manager.practiceId,
      {
        actorUserId,
        subjectUserId: undefined,
        conversationId: undefined,
        action: 'hours.changed',
        from: new Date('2025-03-01T00:00:00Z'),
        to: undefined,
        beforeId: '10',
      },
      3,
    );
    expect(page.events.map((event) => event.id)).toEqual(['9', '8']);
    expect(page.nextBefore).toBe('8');
  });

  it('says there is no next page when fewer events than asked for came back', async () => {
    const only = anEvent(2);
    events.find.mockResolvedValue([only]);
    events.names.mockResolvedValue({});

    const page = await sut.query(aManager(), {});

    expect(events.find).toHaveBeenCalledWith(expect.any(String), expect.any(Object), 51);
    expect(page).toEqual({ events: [only], nextBefore: null, people: {} });
  });

  it('names the people the page names: who acted, the patient, and user ids in the details', async () => {
    const manager = aManager();
    const event = { ...anEvent(3), subjectUserId: randomUUID(), data: { ownerUserId: randomUUID(), outcome: 'resolved', version: 2 } };
    events.find.mockResolvedValue([event]);
    events.names.mockResolvedValue({ [event.subjectUserId]: 'Priya Fairweather' });

    const page = await sut.query(manager, { subjectName: 'priya' });

    expect(events.find).toHaveBeenCalledWith(manager.practiceId, expect.objectContaining({ subjectName: 'priya' }), 51);
    expect(events.names).toHaveBeenCalledWith(manager.practiceId, [event.actorUserId, event.subjectUserId, event.data.ownerUserId]);
    expect(page.people).toEqual({ [event.subjectUserId]: 'Priya Fairweather' });
  });
});
