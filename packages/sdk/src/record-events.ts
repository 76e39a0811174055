import { type AttachmentRequestKind, type CloseOutcome, type ConversationSummary, RecordSystemEvent } from '@parley/protocol';

/** A record entry's system event as apps see it: typed, or `unrecognised` for an event or data this version does not know. */
export type SystemEvent = RecordSystemEvent | { event: 'unrecognised'; data: { name: string } };

/**
 * Reads a record entry's system event against the protocol's schema. Never throws: an event this
 * version does not know, or known data in a shape it does not expect, becomes `unrecognised` with the
 * event's name, so a newer server's entry shows as something rather than breaking the feed.
 */
export function parseSystemEvent(raw: { event: string; data: unknown }): SystemEvent {
  const parsed = RecordSystemEvent.safeParse({ event: raw.event, data: raw.data });
  return parsed.success ? parsed.data : { event: 'unrecognised', data: { name: String(raw.event) } };
}

/** The conversation facts a system event changes (a subset of ConversationSummary). */
export interface ConversationFacts {
  status: ConversationSummary['status'];
  assignedClinicianId: string | null;
  urgentAt?: string | null;
  /** Moved by `keys.epoch`: the epoch a send must use next (never lowered). */
  currentEpoch?: number;
}

/**
 * The one reducer: what the event changes in the conversation's facts (returns a new object, or the
 * same one when nothing changes). The server writes an entry for every change of status and assignee,
 * so applying the record in order keeps a summary in step with it between joins.
 */
export function applySystemEvent<T extends ConversationFacts>(facts: T, event: SystemEvent, serverTime: string): T {
  const change = changeOf(facts, event, serverTime);
  const isSame = Object.entries(change).every(([key, value]) => facts[key as keyof ConversationFacts] === value);
  return isSame ? facts : { ...facts, ...change };
}

function changeOf(facts: ConversationFacts, { event, data }: SystemEvent, serverTime: string): Partial<ConversationFacts> {
  switch (event) {
    case 'assigned':
    case 'transferred':
      return { status: 'assigned', assignedClinicianId: data.clinicianId };
    case 'requeued':
      return { status: 'waiting', assignedClinicianId: null };
    case 'held':
      return { status: 'on_hold' };
    case 'resumed':
      return { status: 'assigned' };
    case 'closed':
      return { status: 'closed' };
    case 'marked_urgent':
      // The first mark counts (the server keeps it too): a repeated entry never moves urgentAt.
      return { urgentAt: facts.urgentAt ?? serverTime };
    case 'keys.epoch':
      // Only facts that carry an epoch move, and only forward: a replayed older entry changes nothing.
      return facts.currentEpoch === undefined ? {} : { currentEpoch: Math.max(facts.currentEpoch, data.epoch) };
    case 'opened':
    case 'acknowledged':
    case 'practice.closed':
    case 'attachment.requested':
    case 'unrecognised':
      return {};
  }
}

/** Who a system line is worded for: the patient's chat, the staff console, or an exported transcript. */
export type SystemEventAudience = 'patient' | 'staff' | 'export';

/** What the wording needs from the app: names it knows, its topic labels, and its way of writing a time. */
export interface SystemEventWording {
  /** A member's name, if the app knows it yet. */
  nameOf(userId: string): string | undefined;
  topicLabel(topic: string): string;
  formatTime(iso: string): string;
}

/** A system line's words and the look it takes. */
export interface SystemEventLine {
  text: string;
  /** `request`: the practice asks the patient for something (a photo or a document). */
  tone: 'acknowledgement' | 'assignment' | 'closing' | 'urgent' | 'request' | 'info';
}

/** What a closed conversation's outcome means, in the patient's words. */
const OUTCOME_FOR_PATIENT: Record<CloseOutcome, string> = {
  resolved: 'resolved',
  appointment_booked: 'an appointment was booked',
  follow_up: 'the practice will follow it up',
  redirected_urgent: 'you were advised to get urgent care',
};

/** What a clinician asked the patient for (`attachment.requested`). */
const REQUESTED_THING: Record<AttachmentRequestKind, string> = { photo: 'a photo', document: 'a document' };

/**
 * The one wording table: the line shown for the event to that audience, or null when that audience is
 * not shown it. Patients see what happens to their conversation (not holds, nor their own urgent mark);
 * staff and exported transcripts see every event, an unrecognised one by its name.
 */
export function describeSystemEvent(event: SystemEvent, audience: SystemEventAudience, wording: SystemEventWording): SystemEventLine | null {
  return audience === 'patient' ? forPatient(event, wording) : forStaff(event);
}

function forPatient({ event, data }: SystemEvent, wording: SystemEventWording): SystemEventLine | null {
  const clinician = (userId: string) => wording.nameOf(userId) ?? 'A clinician';
  switch (event) {
    case 'opened':
      return { text: `You started a conversation about ${wording.topicLabel(data.topic)}.`, tone: 'info' };
    case 'acknowledged':
      return { text: data.text, tone: 'acknowledgement' };
    case 'assigned':
      return { text: `${clinician(data.clinicianId)} is now looking after your conversation.`, tone: 'assignment' };
    case 'transferred':
      return { text: `Your conversation was passed to ${clinician(data.clinicianId)}.`, tone: 'assignment' };
    case 'requeued':
      return { text: 'Your conversation is back in the queue. The next available clinician will pick it up.', tone: 'assignment' };
    case 'practice.closed': {
      const next = data.nextOpening === null ? '' : ` It opens again ${wording.formatTime(data.nextOpening)}.`;
      return { text: `The practice has now closed for online messages.${next} If it is urgent, call 111, or 999 in an emergency.`, tone: 'closing' };
    }
    case 'closed':
      return { text: `This conversation was closed: ${OUTCOME_FOR_PATIENT[data.outcome]}.`, tone: 'closing' };
    case 'keys.epoch':
      return { text: 'The security keys of this conversation were renewed.', tone: 'info' };
    case 'attachment.requested':
      return {
        text: `${clinician(data.clinicianId)} asked you for ${REQUESTED_THING[data.kind]}. Use the attach button below to send one.`,
        tone: 'request',
      };
    case 'held':
    case 'resumed':
    case 'marked_urgent':
    case 'unrecognised':
      return null;
  }
}

/** Staff and exports: the practice's workflow in a few words (the console and the transcript add the time). */
function forStaff(systemEvent: SystemEvent): SystemEventLine {
  switch (systemEvent.event) {
    case 'opened':
      return { text: 'conversation opened', tone: 'info' };
    case 'acknowledged':
      return { text: 'automatic acknowledgement sent', tone: 'acknowledgement' };
    case 'assigned':
      return { text: 'assigned to a clinician', tone: 'assignment' };
    case 'requeued':
      return { text: 'returned to the queue', tone: 'assignment' };
    case 'transferred':
      return { text: 'transferred to a colleague', tone: 'assignment' };
    case 'held':
      return { text: 'put on hold', tone: 'info' };
    case 'resumed':
      return { text: 'resumed', tone: 'info' };
    case 'closed':
      return { text: 'closed', tone: 'closing' };
    case 'marked_urgent':
      return { text: 'marked urgent by the patient’s device after the 999/111 advice; placed at the head of the queue', tone: 'urgent' };
    case 'practice.closed':
      return { text: 'the practice closed for the day', tone: 'closing' };
    case 'keys.epoch':
      return { text: `security keys renewed (epoch ${systemEvent.data.epoch}, ${systemEvent.data.reason})`, tone: 'info' };
    case 'attachment.requested':
      return { text: `asked the patient for ${REQUESTED_THING[systemEvent.data.kind]}`, tone: 'request' };
    case 'unrecognised':
      return { text: systemEvent.data.name, tone: 'info' };
  }
}
