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
  /** At least one live staff socket on any gateway node; new conversations go only to clinicians connected and available. */
  isConnected: boolean;
  active: number;
  maxConcurrent: number;
  today: number;
  dailyMax: number | null;
}

/** What `queue:list` answers and `queue:updated` carries: the practice's live queue. */
export interface QueueSnapshot {
  practiceId: string;
  /** In queue order: urgent ones first (by `urgentAt`), then the rest by waiting time. */
  waiting: { conversationId: string; topic: string; waitingSince: string; urgentAt: string | null }[];
  /** Every active clinician of the practice (signed in or not), by display name. */
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
  /** Minutes until a clinician is likely to pick it up, from the practice's recent handling times and the clinicians connected and free now; null when nobody can pick it up in this session. */
  estimatedWaitMinutes: number | null;
  /** When the estimate is null: the instant (ISO) the practice next opens, if known. */
  nextSessionAt: string | null;
}
