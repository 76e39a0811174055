import { z } from 'zod';
import { Uuid } from './common.js';
import { LocalDate } from './hours.js';
import type { ConversationSummary } from './conversation.js';

/** `conversation:transfer`: to a colleague (a clinician of the practice, available and under caps) or back to the head of the queue. */
export const ConversationTransfer = z.object({ conversationId: Uuid, to: z.union([z.object({ clinicianId: Uuid }).strict(), z.literal('queue')]) }).strict();
export type ConversationTransfer = z.infer<typeof ConversationTransfer>;

/** `conversation:hold`: the assignee puts a conversation on hold, or resumes it. */
export const ConversationHold = z.object({ conversationId: Uuid, isOnHold: z.boolean() }).strict();
export type ConversationHold = z.infer<typeof ConversationHold>;

export const CLOSE_OUTCOMES = ['resolved', 'appointment_booked', 'follow_up', 'redirected_urgent'] as const;
export const CloseOutcome = z.enum(CLOSE_OUTCOMES);
export type CloseOutcome = z.infer<typeof CloseOutcome>;

/** A follow-up to create on closing: when it is due (the practice's local date) and which clinician owns it. */
export const FollowUpRequest = z.object({ dueDate: LocalDate, ownerId: Uuid }).strict();
export type FollowUpRequest = z.infer<typeof FollowUpRequest>;

/** `conversation:close`: with an outcome; `followUp` is required with `follow_up` and refused with any other. */
export const ConversationClose = z
  .object({ conversationId: Uuid, outcome: CloseOutcome, followUp: FollowUpRequest.optional() })
  .strict()
  .refine((close) => (close.outcome === 'follow_up') === (close.followUp !== undefined), {
    message: 'followUp is required with the follow_up outcome, and only with it',
    path: ['followUp'],
  });
export type ConversationClose = z.infer<typeof ConversationClose>;

export const FollowUpList = z.object({}).strict();
export type FollowUpList = z.infer<typeof FollowUpList>;

/** `follow-up:done`: the owner (or a manager) marks a follow-up done. */
export const FollowUpDone = z.object({ followUpId: Uuid }).strict();
export type FollowUpDone = z.infer<typeof FollowUpDone>;

/** An open follow-up, as staff see it (ids and dates only). */
export interface FollowUp {
  id: string;
  conversationId: string;
  patientId: string;
  ownerId: string;
  /** YYYY-MM-DD, the practice's local date. */
  dueDate: string;
  createdBy: string;
  createdAt: string;
  doneAt: string | null;
  doneBy: string | null;
}

/** What `conversation:transfer`, `conversation:hold` and `conversation:close` answer: the conversation as it now stands. */
export interface ConversationChanged {
  conversation: ConversationSummary;
}
