import { z } from 'zod';
import { Uuid } from './common.js';

export const Availability = z.enum(['available', 'away']);

/** `staff:availability`: a clinician is ready for conversations, or away (their open ones go back to the queue). */
export const SetAvailability = z.object({ availability: Availability }).strict();
export type SetAvailability = z.infer<typeof SetAvailability>;

/** `capacity:set-clinician` (managers): a clinician's concurrent cap and optional daily cap. */
export const SetClinicianCaps = z
  .object({ clinicianId: Uuid, maxConcurrent: z.number().int().min(0).max(50), dailyMax: z.number().int().min(0).max(1000).nullable() })
  .strict();
export type SetClinicianCaps = z.infer<typeof SetClinicianCaps>;

/** `capacity:set-practice` (managers): the practice's queue limit, daily demand cap and intake pause. */
export const SetPracticeLimits = z
  .object({
    maxQueue: z.number().int().min(0).max(100_000).nullable(),
    maxNewPerDay: z.number().int().min(0).max(100_000).nullable(),
    isIntakePaused: z.boolean(),
  })
  .strict();
export type SetPracticeLimits = z.infer<typeof SetPracticeLimits>;

export const QueueList = z.object({}).strict();
export type QueueList = z.infer<typeof QueueList>;

/** A clinician's load against their caps, as staff see it. */
export interface ClinicianState {
  clinicianId: string;
  displayName: string;
  availability: 'available' | 'away' | 'offline';
  active: number;
  maxConcurrent: number;
  today: number;
  dailyMax: number | null;
}

/** What `queue:list` answers and `queue:updated` carries: the practice's live queue. */
export interface QueueSnapshot {
  practiceId: string;
  waiting: { conversationId: string; topic: string; waitingSince: string }[];
  clinicians: ClinicianState[];
  limits: SetPracticeLimits;
}

/** Fact `conversation:assigned` (to the assignee's devices): join it to start answering. */
export interface ConversationAssigned {
  conversationId: string;
  clinicianId: string;
  how: 'auto' | 'claim' | 'transfer';
}

/** Fact `queue:position` (to a waiting patient): where they are and an honest estimate. */
export interface QueuePosition {
  conversationId: string;
  position: number;
  /** Minutes until a clinician is likely to pick it up; null when no clinician is available now (the next working session). */
  estimatedWaitMinutes: number | null;
}
