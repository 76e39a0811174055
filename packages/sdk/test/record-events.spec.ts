import type { ConversationSummary, RecordSystemEvent } from '@parley/protocol';
import {
  applySystemEvent,
  describeSystemEvent,
  parseSystemEvent,
  type SystemEvent,
  type SystemEventAudience,
  type SystemEventWording,
} from '../src/record-events.js';

const clinicianId = '6f1c2a9e-3b4d-4e5f-8a6b-7c8d9e0f1a2b';
const colleagueId = '0b9a8c7d-6e5f-4a3b-9c2d-1e0f9a8b7c6d';
const NOW = '2026-12-05T09:30:00.000Z';

/** Every event the gateway writes, with the data it writes (apps/gateway: conversations, lifecycle, queue services). */
const written: Record<RecordSystemEvent['event'], RecordSystemEvent> = {
  opened: { event: 'opened', data: { topic: 'repeat-prescription' } },
  acknowledged: { event: 'acknowledged', data: { text: 'Thank you. Your practice has received your message.' } },
  assigned: { event: 'assigned', data: { clinicianId, how: 'auto' } },
  transferred: { event: 'transferred', data: { fromClinicianId: clinicianId, clinicianId: colleagueId } },
  requeued: { event: 'requeued', data: { fromClinicianId: clinicianId, reason: 'disconnected' } },
  held: { event: 'held', data: { clinicianId } },
  resumed: { event: 'resumed', data: { clinicianId } },
  closed: { event: 'closed', data: { outcome: 'follow_up' } },
  'practice.closed': { event: 'practice.closed', data: { nextOpening: '2026-12-07T08:00:00.000Z' } },
  marked_urgent: { event: 'marked_urgent', data: {} },
  'keys.epoch': { event: 'keys.epoch', data: { epoch: 2, reason: 'device-revoked' } },
  'attachment.requested': { event: 'attachment.requested', data: { kind: 'photo', clinicianId } },
};
const unrecognised: SystemEvent = { event: 'unrecognised', data: { name: 'consulted' } };

const wording: SystemEventWording = {
  nameOf: (userId) => (userId === clinicianId ? 'Dr Asha Patel' : undefined),
  topicLabel: (topic) => (topic === 'repeat-prescription' ? 'a repeat prescription' : topic),
  formatTime: (iso) => `at <${iso}>`,
};

const assignedTo = (id: string): Pick<ConversationSummary, 'status' | 'assignedClinicianId' | 'urgentAt'> => ({
  status: 'assigned',
  assignedClinicianId: id,
  urgentAt: null,
});
const waiting = (): Pick<ConversationSummary, 'status' | 'assignedClinicianId' | 'urgentAt'> => ({
  status: 'waiting',
  assignedClinicianId: null,
  urgentAt: null,
});

describe(parseSystemEvent.name, () => {
  it.each(Object.values(written))('reads $event with the data the gateway writes', (event) => {
    expect(parseSystemEvent(event)).toEqual(event);
  });

  it('reads the optional fields as the gateway writes them: a requeue by staff has no reason, a first transfer no previous clinician, a closing no next opening', () => {
    const forms = [
      { event: 'requeued', data: { fromClinicianId: clinicianId } },
      { event: 'transferred', data: { fromClinicianId: null, clinicianId } },
      { event: 'practice.closed', data: { nextOpening: null } },
      { event: 'assigned', data: { clinicianId, how: 'claim' } },
    ];

    for (const form of forms) expect(parseSystemEvent(form)).toEqual(form);
  });

  it('calls an event this version does not know unrecognised, by its name', () => {
    expect(parseSystemEvent({ event: 'consulted', data: { clinicianId } })).toEqual(unrecognised);
  });

  it.each([
    ['a missing field', { event: 'closed', data: {} }],
    ['a field of the wrong type', { event: 'assigned', data: { clinicianId: 42, how: 'auto' } }],
    ['a value outside its set', { event: 'closed', data: { outcome: 'shrugged' } }],
    ['an id that is not a UUID', { event: 'held', data: { clinicianId: 'someone' } }],
    ['a field the event does not have', { event: 'marked_urgent', data: { by: clinicianId } }],
    ['a time that is not ISO', { event: 'practice.closed', data: { nextOpening: 'Monday morning' } }],
    ['data that is not an object', { event: 'opened', data: 'admin' }],
    ['no data at all', { event: 'opened', data: undefined }],
  ])('calls a known event with %s unrecognised, without throwing', (_, raw) => {
    expect(parseSystemEvent(raw)).toEqual({ event: 'unrecognised', data: { name: raw.event } });
  });
});

describe(applySystemEvent.name, () => {
  it('assigns on assigned and on transferred, to the clinician the event names', () => {
    expect(applySystemEvent(waiting(), written.assigned, NOW)).toEqual({ status: 'assigned', assignedClinicianId: clinicianId, urgentAt: null });
    expect(applySystemEvent(assignedTo(clinicianId), written.transferred, NOW)).toEqual({
      status: 'assigned',
      assignedClinicianId: colleagueId,
      urgentAt: null,
    });
  });

  it('puts a requeued conversation back to waiting with no assignee', () => {
    expect(applySystemEvent(assignedTo(clinicianId), written.requeued, NOW)).toEqual(waiting());
  });

  it('holds and resumes, keeping the assignee', () => {
    const held = applySystemEvent(assignedTo(clinicianId), written.held, NOW);

    expect(held).toEqual({ status: 'on_hold', assignedClinicianId: clinicianId, urgentAt: null });
    expect(applySystemEvent(held, written.resumed, NOW)).toEqual(assignedTo(clinicianId));
  });

  it('closes, keeping who had it', () => {
    expect(applySystemEvent(assignedTo(clinicianId), written.closed, NOW)).toEqual({ status: 'closed', assignedClinicianId: clinicianId, urgentAt: null });
  });

  it('marks urgent at the entry time, and a later mark never moves the first', () => {
    const marked = applySystemEvent(waiting(), written.marked_urgent, NOW);

    expect(marked).toEqual({ ...waiting(), urgentAt: NOW });
    expect(applySystemEvent(marked, written.marked_urgent, '2026-12-05T10:00:00.000Z')).toBe(marked);
  });

  it('moves the current epoch forward on keys.epoch, never back, and leaves facts without an epoch alone', () => {
    const atEpoch = (currentEpoch: number) => ({ ...assignedTo(clinicianId), currentEpoch });

    expect(applySystemEvent(atEpoch(1), written['keys.epoch'], NOW)).toEqual(atEpoch(2));
    expect(applySystemEvent(atEpoch(3), written['keys.epoch'], NOW)).toEqual(atEpoch(3));
    expect(applySystemEvent(assignedTo(clinicianId), written['keys.epoch'], NOW)).toEqual(assignedTo(clinicianId));
  });

  it('keeps the other fields of the facts it is given', () => {
    const summary = { ...waiting(), id: 'c1', topic: 'admin' };

    expect(applySystemEvent(summary, written.assigned, NOW)).toEqual({
      id: 'c1',
      topic: 'admin',
      status: 'assigned',
      assignedClinicianId: clinicianId,
      urgentAt: null,
    });
  });

  it.each([written.opened, written.acknowledged, written['practice.closed'], unrecognised])(
    'changes nothing on $event: the same object comes back',
    (event) => {
      const facts = assignedTo(clinicianId);

      expect(applySystemEvent(facts, event, NOW)).toBe(facts);
    },
  );

  it('returns the same object when the event states what the facts already say', () => {
    const facts = assignedTo(clinicianId);

    expect(applySystemEvent(facts, written.assigned, NOW)).toBe(facts);
  });
});

describe(describeSystemEvent.name, () => {
  const line = (event: SystemEvent, audience: SystemEventAudience) => describeSystemEvent(event, audience, wording);
  const staffLines: Record<RecordSystemEvent['event'], ReturnType<typeof line>> = {
    opened: { text: 'conversation opened', tone: 'info' },
    acknowledged: { text: 'automatic acknowledgement sent', tone: 'acknowledgement' },
    assigned: { text: 'assigned to a clinician', tone: 'assignment' },
    transferred: { text: 'transferred to a colleague', tone: 'assignment' },
    requeued: { text: 'returned to the queue', tone: 'assignment' },
    held: { text: 'put on hold', tone: 'info' },
    resumed: { text: 'resumed', tone: 'info' },
    closed: { text: 'closed', tone: 'closing' },
    'practice.closed': { text: 'the practice closed for the day', tone: 'closing' },
    marked_urgent: { text: 'marked urgent by the patient’s device after the 999/111 advice; placed at the head of the queue', tone: 'urgent' },
    'keys.epoch': { text: 'security keys renewed (epoch 2, device-revoked)', tone: 'info' },
    'attachment.requested': { text: 'asked the patient for a photo', tone: 'request' },
  };
  const patientLines: Record<RecordSystemEvent['event'], ReturnType<typeof line>> = {
    opened: { text: 'You started a conversation about a repeat prescription.', tone: 'info' },
    acknowledged: { text: 'Thank you. Your practice has received your message.', tone: 'acknowledgement' },
    assigned: { text: 'Dr Asha Patel is now looking after your conversation.', tone: 'assignment' },
    // The colleague's name is not known yet (the join that names members has not answered).
    transferred: { text: 'Your conversation was passed to A clinician.', tone: 'assignment' },
    requeued: { text: 'Your conversation is back in the queue. The next available clinician will pick it up.', tone: 'assignment' },
    held: null,
    resumed: null,
    closed: { text: 'This conversation was closed: the practice will follow it up.', tone: 'closing' },
    'practice.closed': {
      text: 'The practice has now closed for online messages. It opens again at <2026-12-07T08:00:00.000Z>. If it is urgent, call 111, or 999 in an emergency.',
      tone: 'closing',
    },
    marked_urgent: null,
    'keys.epoch': { text: 'The security keys of this conversation were renewed.', tone: 'info' },
    'attachment.requested': { text: 'Dr Asha Patel asked you for a photo. Use the attach button below to send one.', tone: 'request' },
  };

  it.each(Object.values(written))('words $event for the patient', (event) => {
    expect(line(event, 'patient')).toEqual(patientLines[event.event]);
  });

  it.each(Object.values(written))('words $event for staff and the same for an export', (event) => {
    expect(line(event, 'staff')).toEqual(staffLines[event.event]);
    expect(line(event, 'export')).toEqual(staffLines[event.event]);
  });

  it('tells the patient each closing outcome in their words', () => {
    const outcomes = {
      resolved: 'resolved',
      appointment_booked: 'an appointment was booked',
      follow_up: 'the practice will follow it up',
      redirected_urgent: 'you were advised to get urgent care',
    } as const;

    for (const [outcome, words] of Object.entries(outcomes)) {
      expect(line({ event: 'closed', data: { outcome: outcome as keyof typeof outcomes } }, 'patient')?.text).toBe(`This conversation was closed: ${words}.`);
    }
  });

  it('tells the patient of a closing with no next opening without naming one', () => {
    expect(line({ event: 'practice.closed', data: { nextOpening: null } }, 'patient')?.text).toBe(
      'The practice has now closed for online messages. If it is urgent, call 111, or 999 in an emergency.',
    );
  });

  it('words a request for a document, naming no one the patient does not know', () => {
    const request: SystemEvent = { event: 'attachment.requested', data: { kind: 'document', clinicianId: colleagueId } };

    expect(line(request, 'patient')).toEqual({ text: 'A clinician asked you for a document. Use the attach button below to send one.', tone: 'request' });
    expect(line(request, 'staff')).toEqual({ text: 'asked the patient for a document', tone: 'request' });
  });

  it('shows staff and exports an unrecognised event by its name, and the patient nothing', () => {
    expect(line(unrecognised, 'staff')).toEqual({ text: 'consulted', tone: 'info' });
    expect(line(unrecognised, 'export')).toEqual({ text: 'consulted', tone: 'info' });
    expect(line(unrecognised, 'patient')).toBeNull();
  });
});
