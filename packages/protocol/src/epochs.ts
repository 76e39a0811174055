import { z } from 'zod';
import { Envelope, MAX_ENVELOPES } from './conversation.js';
import { Uuid } from './common.js';

/**
 * Why a client started a new epoch (docs/crypto.md, "Conversation epochs"): a patient device added or revoked, a
 * handover to another clinician, a newer record key, the epoch's age or message count, or a leaver's offboarding.
 */
export const EPOCH_REASONS = ['device-added', 'device-revoked', 'handover', 'record-key', 'age', 'offboarding'] as const;
export const EpochReason = z.enum(EPOCH_REASONS);
export type EpochReason = z.infer<typeof EpochReason>;

/**
 * `conversation:epoch`: a member's device starts epoch `epoch` (the current one + 1) with a fresh key sealed to every
 * recipient it verified itself. The server checks only whom the envelopes are addressed to (the patient's active
 * devices, their account key, a record key of the practice); clients check the signatures.
 */
export const ConversationEpoch = z
  .object({
    conversationId: Uuid,
    epoch: z.number().int().min(1),
    envelopes: z.array(Envelope).min(1).max(MAX_ENVELOPES),
    reason: EpochReason,
  })
  .strict();
export type ConversationEpoch = z.infer<typeof ConversationEpoch>;

/** The `details` of a `conflict` about epochs (`conversation:epoch` not current + 1, or `conversation:send` under an older epoch). */
export interface EpochConflictDetails {
  currentEpoch: number;
}
