import type { ConversationSummary } from '@parley/protocol';
import { describeSystemEvent, redFlagSummary, type ChatEntry, type SystemEventWording } from '@parley/sdk';
import { attachmentTypeLabel, formatBytes } from '../words.js';

/**
 * An attachment as the export embeds it, opened in this browser: images are the re-encoded copy shown on screen
 * (so `size` and `contentType` are the copy's), PDFs the decrypted file.
 */
export interface ExportedFile {
  contentType: string;
  /** base64 of the bytes. */
  data: string;
  size: number;
  /** base64 of the SHA-1 of the bytes, as FHIR R4 `Attachment.hash` defines it. */
  hash: string;
}

/** What an export is made from: everything here was decrypted in this browser. */
export interface ExportInput {
  conversation: ConversationSummary;
  patient: { id: string; name: string };
  practiceName: string;
  entries: ChatEntry[];
  /** Entries this browser could not open (or the server did not hand over): the transcript says where, never skips them silently. */
  unopenedSeqs?: readonly number[];
  /** The attachments opened here, by upload id; one missing is named in the export as not opened, never silently dropped. */
  files?: ReadonlyMap<string, ExportedFile>;
  exportedAt: string;
}

type Message = Extract<ChatEntry, { kind: 'message' }>;
type Attachment = Message['attachments'][number];

/** Identifiers minted from Parley's UUIDs, so a re-export of the same conversation names the same resources. */
const URN = 'urn:ietf:rfc:3986';
const PARLEY_MESSAGE_SYSTEM = 'urn:parley:client-message-id';

const urnOf = (id: string) => `urn:uuid:${id}`;

/**
 * A FHIR R4 `Bundle` (type `collection`) for filing a conversation into the clinical record: the
 * Patient, a Practitioner per member of staff who wrote, and one `Communication` per message with
 * subject, sender, recipient, sent time, payload and topic. A message that carries red flags is
 * `priority: urgent` with a note saying which, and that the patient was shown the 999/111 advice and
 * chose to send (the screening is part of the consultation). Each attachment is a `contentAttachment` of the
 * payload, after the caption, with its bytes, type, size, SHA-1 hash, name and time; one this browser could not open
 * keeps its name, type and size and the Communication says so in a note. System events are left out: they are the
 * practice's workflow, not the consultation.
 */
export function buildFhirBundle(input: ExportInput): Record<string, unknown> {
  const messages = input.entries.filter((entry): entry is Message => entry.kind === 'message');
  const staff = new Map<string, string>();
  for (const message of messages) if (message.senderRole !== 'patient') staff.set(message.senderUserId, message.senderName);
  const patientRef = { reference: urnOf(input.patient.id), display: input.patient.name };
  const refOf = (message: Message) => (message.senderRole === 'patient' ? patientRef : { reference: urnOf(message.senderUserId), display: message.senderName });
  const firstStaff = [...staff.entries()][0];
  const communications = messages.map((message) => {
    const notes = notesOf(message, input.files);
    return {
      fullUrl: urnOf(idFromMessage(input.conversation.id, message.seq)),
      resource: {
        resourceType: 'Communication',
        id: idFromMessage(input.conversation.id, message.seq),
        identifier: [{ system: PARLEY_MESSAGE_SYSTEM, value: `${input.conversation.id}/${message.seq}` }],
        status: 'completed',
        subject: patientRef,
        topic: { text: input.conversation.topic },
        sent: message.serverTime,
        sender: refOf(message),
        recipient:
          message.senderRole === 'patient'
            ? firstStaff
              ? [{ reference: urnOf(firstStaff[0]), display: firstStaff[1] }]
              : [{ display: input.practiceName }]
            : [patientRef],
        payload: [
          // FHIR strings may not be empty: a photo sent without a caption has only its attachment.
          ...(message.body || message.attachments.length === 0 ? [{ contentString: message.body }] : []),
          ...message.attachments.map((attachment) => ({ contentAttachment: fhirAttachment(attachment, input.files?.get(attachment.id), message.serverTime) })),
        ],
        ...(message.redFlags.length > 0 ? { priority: 'urgent' } : {}),
        ...(notes.length > 0 ? { note: notes.map((text) => ({ text })) } : {}),
      },
    };
  });
  return {
    resourceType: 'Bundle',
    identifier: { system: URN, value: urnOf(input.conversation.id) },
    type: 'collection',
    timestamp: input.exportedAt,
    entry: [
      { fullUrl: urnOf(input.patient.id), resource: { resourceType: 'Patient', id: input.patient.id, name: [{ text: input.patient.name }] } },
      ...[...staff.entries()].map(([id, name]) => ({ fullUrl: urnOf(id), resource: { resourceType: 'Practitioner', id, name: [{ text: name }] } })),
      ...communications,
    ],
  };
}

/** A readable transcript: who said what, when, with the practice and topic at the top; system events in the sdk's export words. */
export function buildTranscript(input: ExportInput): string {
  const names = new Map(input.entries.flatMap((entry) => (entry.kind === 'message' ? [[entry.senderUserId, entry.senderName] as const] : [])));
  const wording: SystemEventWording = { nameOf: (userId) => names.get(userId), topicLabel: (topic) => topic, formatTime };
  const lines = [
    `${input.practiceName}: conversation transcript`,
    `Patient: ${input.patient.name}`,
    `Topic: ${input.conversation.topic}`,
    `Started: ${formatTime(input.conversation.createdAt)}`,
    `Exported: ${formatTime(input.exportedAt)}`,
    '',
  ];
  const steps = [...input.entries, ...(input.unopenedSeqs ?? []).map((seq) => ({ kind: 'unopened' as const, seq }))].sort((a, b) => a.seq - b.seq);
  for (const entry of steps) {
    if (entry.kind === 'unopened') {
      lines.push('[—] (an entry here could not be opened on this computer: its content is not in this transcript)');
    } else if (entry.kind === 'message') {
      lines.push(`[${formatTime(entry.serverTime)}] ${entry.senderName}: ${entry.body}`);
      if (entry.redFlags.length > 0) lines.push(`    (${redFlagNote(entry)})`);
      for (const attachment of entry.attachments) {
        const opened = input.files?.has(attachment.id) ? '' : '; could not be opened on this computer, not in the export';
        lines.push(`    Attachment: ${attachment.name} (${attachmentTypeLabel(attachment.type)}, ${formatBytes(attachment.size)}${opened})`);
      }
    } else {
      const line = describeSystemEvent(entry, 'export', wording);
      if (line) lines.push(`[${formatTime(entry.serverTime)}] (${line.text})`);
    }
  }
  return `${lines.join('\n')}\n`;
}

/** What staff, the transcript and the FHIR note say of a message's red flags. */
export function redFlagNote(message: Pick<Message, 'redFlags'>): string {
  return `Red flag: ${redFlagSummary(message.redFlags)}. The patient was shown the 999/111 advice and chose to send.`;
}

/** A FHIR R4 Attachment: the opened file's bytes and hash, or, when it could not be opened, what its descriptor says. */
function fhirAttachment(attachment: Attachment, file: ExportedFile | undefined, creation: string): Record<string, unknown> {
  return file
    ? { contentType: file.contentType, data: file.data, size: file.size, hash: file.hash, title: attachment.name, creation }
    : { contentType: attachment.type, size: attachment.size, title: attachment.name, creation };
}

/** The notes of a message's Communication: its red flags, and each attachment that could not be opened here. */
function notesOf(message: Message, files: ReadonlyMap<string, ExportedFile> | undefined): string[] {
  return [
    ...(message.redFlags.length > 0 ? [redFlagNote(message)] : []),
    ...message.attachments
      .filter((attachment) => !files?.has(attachment.id))
      .map((attachment) => `The attachment ${attachment.name} could not be opened on this computer: its content is not in this export.`),
  ];
}

function formatTime(iso: string): string {
  return new Date(iso).toLocaleString('en-GB', { dateStyle: 'medium', timeStyle: 'short' });
}

/** A stable UUID-shaped id per (conversation, seq): FHIR ids are at most 64 of [A-Za-z0-9-.]. */
function idFromMessage(conversationId: string, seq: number): string {
  return `${conversationId.slice(0, 24)}${seq.toString(16).padStart(12, '0')}`;
}
