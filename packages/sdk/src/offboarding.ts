import type { HttpApi } from '@parley/client';
import type { OffboardingProgress } from '@parley/protocol';
import { AccountFlowError } from './accounts.js';
import type { ChatSession } from './chat-session.js';
import { unwrap } from './unwrap.js';

/** A conversation the manager's client could not renew, and why (it stays on the checklist). */
export interface RenewalFailure {
  conversationId: string;
  code: string;
  message: string;
}

/** Where an offboarding stands after {@link finishOffboarding}: complete when nothing is left to rotate or renew. */
export interface OffboardingOutcome {
  progress: OffboardingProgress;
  isComplete: boolean;
  failed: RenewalFailure[];
}

/** Rounds of "renew what is listed, ask again": a practice with more open conversations than one answer lists needs several. */
const MAX_ROUNDS = 20;

export const isOffboardingComplete = (progress: OffboardingProgress): boolean =>
  progress.offboardedAt !== null && progress.recordKey.isRotated && progress.conversationsToRenewCount === 0;

/**
 * Finishes a leaver's offboarding in a manager's client, after the server's part (`POST /api/staff/:id/offboard`
 * ended their sessions, revoked their devices and removed their grants; docs/crypto.md, "Leavers"):
 * 1. the record key is rotated (`rotate`, with the signing key this browser holds), so new conversations are
 *    sealed to a version the leaver never had;
 * 2. every open conversation whose current epoch began before the offboarding gets a new epoch, sealed only to
 *    recipients this client verifies (the patient's certified devices, their account key, the new record key), so a
 *    leaver who kept a copy of an epoch key or an old record key opens nothing written afterwards.
 * The server says what is left (`GET /api/staff/:id/offboarding`) and is asked again after each step; a server that
 * lied could only make the checklist finish early, never read anything. Safe to run again: it resumes where it stopped.
 * `onProgress` sees every answer, for the checklist on screen.
 * @throws AccountFlowError (`conflict` when the member is not offboarded yet; the gateway's codes; what `rotate` throws)
 */
export async function finishOffboarding(input: {
  api: HttpApi;
  session: ChatSession;
  userId: string;
  rotate: () => Promise<void>;
  onProgress?: (progress: OffboardingProgress) => void;
}): Promise<OffboardingOutcome> {
  const ask = async () => {
    const progress = unwrap(await input.api.offboardingProgress(input.userId), 'offboarding progress');
    input.onProgress?.(progress);
    return progress;
  };
  let progress = await ask();
  if (!progress.offboardedAt) throw new AccountFlowError('conflict', 'this member of staff is not offboarded');
  if (!progress.recordKey.isRotated) {
    await input.rotate();
    progress = await ask();
  }
  const failed = new Map<string, RenewalFailure>();
  for (let round = 0; round < MAX_ROUNDS && progress.conversationsToRenewCount > 0; round += 1) {
    const toRenew = progress.conversationsToRenew.filter((id) => !failed.has(id));
    if (toRenew.length === 0) break;
    const result = await input.session.renewEpochs(toRenew, 'offboarding');
    for (const failure of result.failed) failed.set(failure.conversationId, failure);
    progress = await ask();
  }
  // A conversation closed meanwhile leaves the list by itself: only what is still listed counts as failed.
  const listed = new Set(progress.conversationsToRenew);
  return { progress, isComplete: isOffboardingComplete(progress), failed: [...failed.values()].filter((failure) => listed.has(failure.conversationId)) };
}
