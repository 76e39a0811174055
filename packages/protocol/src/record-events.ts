import { z } from 'zod';
import { Uuid } from './common.js';
import { Topic } from './conversation.js';
import { CloseOutcome } from './lifecycle.js';
import { EpochReason } from './epochs.js';
import { AttachmentRequestKind } from './attachments.js';

/** Why the server handed a clinician's conversations back to the queue (absent when staff sent one back themselves). */
export const REQUEUE_REASONS = ['away', 'disconnected', 'signed_out', 'offboarded'] as const;
export const RequeueReason = z.enum(REQUEUE_REASONS);
export type RequeueReason = z.infer<typeof RequeueReason>;

const systemEvent = <E extends string, D extends z.ZodRawShape>(event: E, data: D) =>
  z.object({ event: z.literal(event), data: z.object(data).strict() }).strict();

/**
 * A record entry's system event: what the server wrote into the conversation's record, metadata only
 * (ids, a topic, an outcome; never content). One member per event, each with the exact `data` the
 * gateway writes (docs/protocol.md, "Record system events").
 */
export const RecordSystemEvent = z.discriminatedUnion('event', [
  /** The first entry of every record. */
  systemEvent('opened', { topic: Topic }),
  /** The practice's automatic acknowledgement, right after `opened` (its words, with the typical reply time). */
  systemEvent('acknowledged', { text: z.string() }),
  /** Routing gave it to a clinician (`auto`) or a clinician claimed it from the queue (`claim`). */
  systemEvent('assigned', { clinicianId: Uuid, how: z.enum(['auto', 'claim']) }),
  /** Its assignee or a manager handed it to a colleague. `fromClinicianId` is null if it had no assignee. */
  systemEvent('transferred', { fromClinicianId: Uuid.nullable(), clinicianId: Uuid }),
  /**
   * Back at the head of the queue: sent back by staff (no `reason`), or handed back by the server when its
   * clinician went away, dropped for longer than the grace period, signed out or was offboarded.
   */
  systemEvent('requeued', { fromClinicianId: Uuid.nullable(), reason: RequeueReason.optional() }),
  /** Its assignee put it on hold. */
  systemEvent('held', { clinicianId: Uuid }),
  /** Its assignee took it off hold. */
  systemEvent('resumed', { clinicianId: Uuid }),
  /** Closed with an outcome; it takes no more messages. */
  systemEvent('closed', { outcome: CloseOutcome }),
  /** The practice closed for online messages while it was open; `nextOpening` is null when no opening is scheduled. */
  systemEvent('practice.closed', { nextOpening: z.iso.datetime().nullable() }),
  /** The patient's device marked it urgent (after the red-flag advice); written once, at the first mark. */
  systemEvent('marked_urgent', {}),
  /** A member's device started a new key epoch (`conversation:epoch`): the epoch number and why, never key material. */
  systemEvent('keys.epoch', { epoch: z.number().int().min(2), reason: EpochReason }),
  /** The assigned clinician or a manager asked the patient for a photo or a document (`conversation:request-attachment`). */
  systemEvent('attachment.requested', { kind: AttachmentRequestKind, clinicianId: Uuid }),
]);
export type RecordSystemEvent = z.infer<typeof RecordSystemEvent>;
