import type { AuditAction, AuditEvent } from '@parley/protocol';
import { attachmentTypeLabel, formatBytes, topicLabel } from '../../words';

/** Resolves a user id to a name (the audit page's `people`), with a neutral fallback for someone the page did not name. */
export type NameOf = (userId: unknown) => string;

/** What the log shows for an action, before any detail: a manager reads it, never the action id. */
export const AUDIT_ACTION_LABELS: Record<AuditAction, string> = {
  'conversation.opened': 'Opened a conversation',
  'conversation.read': 'Read a conversation',
  'conversation.assigned': 'Conversation assigned',
  'conversation.claimed': 'Took a conversation from the queue',
  'conversation.transferred': 'Transferred a conversation',
  'conversation.held': 'Put a conversation on hold or resumed it',
  'conversation.requeued': 'Conversation went back to the queue',
  'conversation.closed': 'Closed a conversation',
  'conversation.marked_urgent': 'Conversation marked urgent (red-flag advice shown)',
  'conversation.exported': 'Exported a conversation to the record',
  'conversation.epoch_started': "Renewed a conversation's security keys",
  'follow-up.completed': 'Marked a follow-up done',
  'hours.changed': 'Changed the opening hours',
  'capacity.changed': 'Changed capacity',
  'categories.changed': 'Changed the categories',
  'texts.changed': 'Changed the practice texts',
  'terms.published': 'Published new terms of use',
  'consent.given': 'Accepted the terms of use',
  'staff.created': 'Created a staff account',
  'invitation.created': 'Invited a patient',
  'invitation.voided': 'Invitation cancelled',
  'account.activated': 'Activated their account',
  'device.revoked': 'Revoked a device',
  'device.certified': 'Admitted a device',
  'key-backup.downloaded': 'Downloaded their key backup',
  'key-backup.replaced': 'Replaced their key backup',
  'canned-reply.created': 'Added a canned reply',
  'canned-reply.changed': 'Changed a canned reply',
  'canned-reply.deleted': 'Deleted a canned reply',
  'staff.offboarded': 'Offboarded a member of staff',
  'record-key.added': 'Added a record key version',
  'record-key.granted': 'Granted a record key to a device',
  'root-key.set': 'Set the practice root key',
  'root-key.succeeded': 'Replaced the practice root key (signed by the old one)',
  'admin-key.added': 'Added a practice admin key',
  'record-key.recertified': 'Certified a record key version again',
  'account-key.certified': "Certified a patient's account key",
  'patient.searched': 'Searched for patients',
  'recovery.started': "Started a patient's account recovery",
  'recovery.submitted': 'Sent a new account key for recovery',
  'recovery.approved': "Approved a patient's account recovery",
  'recovery.completed': "Completed a patient's account recovery",
  'revocations.published': 'Published a revocation list',
  'practice.attachment_settings_changed': 'Changed the attachment settings',
  'practice.notification_settings_changed': 'Changed the notification settings',
  'notification-contact.set': 'Gave a phone number or e-mail address for notices',
  'notification-contact.removed': 'Removed their contact for notices',
};

const OUTCOMES: Record<string, string> = {
  resolved: 'resolved',
  appointment_booked: 'appointment booked',
  follow_up: 'follow-up',
  redirected_urgent: 'sent to urgent care',
};
const CRITERIA: Record<string, string> = { nhsNumber: 'NHS number', name: 'name', dateOfBirth: 'date of birth' };
const PATIENT_UPLOADS: Record<string, string> = { always: 'whenever they like', 'when-asked': 'only when asked', never: 'never' };
const HOURS: Record<string, string> = {
  weekly: 'weekly hours',
  exception_set: 'an exception',
  exception_removed: 'an exception removed',
  settings: 'settings',
};

/** A device id as a short reference a manager can match on the Staff screen. */
const device = (id: unknown) => `device ${String(id).slice(0, 8)}`;
const list = (value: unknown) => (Array.isArray(value) ? value.map(String).join(', ') : String(value));
const plural = (count: unknown, one: string, many: string) => `${String(count)} ${count === 1 ? one : many}`;

/** The action in words (the label, made exact where the details decide it). */
export function describeAction(event: AuditEvent): string {
  const data = event.data;
  if (event.action === 'conversation.held') return data['isOnHold'] ? 'Put a conversation on hold' : 'Resumed a conversation';
  if (event.action === 'device.certified') return data['roles'] ? 'Admitted a staff device' : "Certified a patient's new device";
  return AUDIT_ACTION_LABELS[event.action] ?? 'Other event';
}

/** The event's details as a sentence a manager reads: names for people, words for codes, never raw data. */
export function describeDetails(event: AuditEvent, nameOf: NameOf): string {
  const data = event.data;
  switch (event.action) {
    case 'conversation.opened':
      return data['topic'] ? `Topic: ${topicLabel(String(data['topic']))}` : '';
    case 'conversation.read':
      return data['via'] === 'sync' ? 'Caught up after reconnecting' : '';
    case 'conversation.assigned':
      return data['assigneeUserId'] ? `To ${nameOf(data['assigneeUserId'])}` : '';
    case 'conversation.transferred':
      return `From ${nameOf(data['fromUserId'])} to ${data['toUserId'] ? nameOf(data['toUserId']) : 'the queue'}`;
    case 'conversation.requeued':
      return [data['fromUserId'] ? `From ${nameOf(data['fromUserId'])}` : '', data['reason'] ? `(${String(data['reason']).replace(/_/g, ' ')})` : '']
        .filter(Boolean)
        .join(' ');
    case 'conversation.closed':
      return [
        `Outcome: ${OUTCOMES[String(data['outcome'])] ?? String(data['outcome'])}`,
        data['dueDate'] ? `follow-up due ${String(data['dueDate'])}${data['ownerUserId'] ? `, owner ${nameOf(data['ownerUserId'])}` : ''}` : '',
      ]
        .filter(Boolean)
        .join('; ');
    case 'conversation.exported':
      return `As ${list(data['formats']).replace('fhir-r4-bundle', 'FHIR record').replace('transcript', 'transcript')}`;
    case 'follow-up.completed':
      return data['ownerUserId'] ? `Owner: ${nameOf(data['ownerUserId'])}` : '';
    case 'hours.changed':
      return [
        HOURS[String(data['what'])] ?? '',
        data['date'] ? `for ${String(data['date'])}` : '',
        data['intervals'] !== undefined ? plural(data['intervals'], 'interval', 'intervals') : '',
      ]
        .filter(Boolean)
        .join(', ');
    case 'capacity.changed':
      if (data['clinicianId']) {
        return `${nameOf(data['clinicianId'])}: at most ${String(data['maxConcurrent'])} at once, daily maximum ${data['dailyMax'] === null ? 'none' : String(data['dailyMax'])}`;
      }
      return [
        'maxQueue' in data ? `queue limit ${data['maxQueue'] === null ? 'none' : String(data['maxQueue'])}` : '',
        'maxNewPerDay' in data ? `new per day ${data['maxNewPerDay'] === null ? 'no limit' : String(data['maxNewPerDay'])}` : '',
        'isIntakePaused' in data ? (data['isIntakePaused'] ? 'intake paused' : 'intake open') : '',
      ]
        .filter(Boolean)
        .join(', ');
    case 'practice.attachment_settings_changed':
      return [
        `Patients may send files ${PATIENT_UPLOADS[String(data['patientUploads'])] ?? String(data['patientUploads'])}`,
        Array.isArray(data['acceptedTypes']) ? `types: ${data['acceptedTypes'].map((type) => attachmentTypeLabel(String(type))).join(', ')}` : '',
        typeof data['maxFileBytes'] === 'number' ? `largest file ${formatBytes(data['maxFileBytes'])}` : '',
        typeof data['maxConversationBytes'] === 'number' ? `per conversation ${formatBytes(data['maxConversationBytes'])}` : '',
        typeof data['maxPatientDailyBytes'] === 'number' ? `per patient a day ${formatBytes(data['maxPatientDailyBytes'])}` : '',
      ]
        .filter(Boolean)
        .join('; ');
    case 'categories.changed':
      return `Offered: ${list(data['enabled']) || 'none'}; not offered: ${list(data['disabled']) || 'none'}`;
    case 'terms.published':
    case 'consent.given':
      return `Version ${String(data['version'])}`;
    case 'staff.created':
      return `${nameOf(data['staffUserId'])} (${list(data['roles'])})`;
    case 'invitation.voided':
      return data['failedAttempts'] !== undefined ? `After ${plural(data['failedAttempts'], 'wrong attempt', 'wrong attempts')}` : '';
    case 'account.activated':
      return data['hasAccountKey'] ? `First ${device(data['deviceId'])}, with an account key bound to the invitation` : `First ${device(data['deviceId'])}`;
    case 'device.revoked':
      return data['ownerUserId'] ? `${device(data['deviceId'])} of ${nameOf(data['ownerUserId'])}` : `Their own ${device(data['deviceId'])}`;
    case 'device.certified':
      return `${device(data['deviceId'])} of ${nameOf(data['ownerUserId'])}${data['roles'] ? ` as ${list(data['roles'])}` : ''}`;
    case 'staff.offboarded':
      return `${nameOf(data['staffUserId'])}: ${plural(data['devicesRevoked'], 'device', 'devices')} revoked, ${plural(data['sessionsEnded'], 'session', 'sessions')} ended, ${plural(data['conversationsHandedBack'], 'conversation', 'conversations')} back to the queue`;
    case 'record-key.added':
      return `Version ${String(data['version'])}`;
    case 'record-key.recertified':
      return `Version ${String(data['version'])}`;
    case 'record-key.granted':
      return `Version ${String(data['version'])} to ${device(data['deviceId'])}`;
    case 'revocations.published':
      return `Version ${String(data['version'])}, ${plural(data['devices'], 'device', 'devices')} revoked`;
    case 'recovery.approved':
      return data['approval'] === 2 ? `Second approval (the first by ${nameOf(data['firstApproverUserId'])})` : 'First approval';
    case 'recovery.completed':
      return `Approved by ${nameOf(data['firstApproverUserId'])} and ${nameOf(data['secondApproverUserId'])}; ${plural(data['envelopes'], 'key', 'keys')} re-sealed, ${plural(data['devicesRevoked'], 'old device', 'old devices')} signed out`;
    case 'patient.searched':
      return `By ${list(data['criteria'])
        .split(', ')
        .map((c) => CRITERIA[c] ?? c)
        .join(', ')}: ${plural(data['results'], 'patient', 'patients')} found`;
    default:
      return '';
  }
}
