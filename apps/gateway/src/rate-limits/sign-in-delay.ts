/** The first enforced delay after an account's free failures; each further failure doubles it. */
export const FIRST_DELAY_SECONDS = 1;
/** The longest an account ever waits after a failure (15 minutes: about 100 guesses a day at most). */
export const MAX_DELAY_SECONDS = 15 * 60;

/**
 * How long an account must rest after its latest failure before the next sign-in is tried: nothing for
 * its first `freeFailures` failures, then 1 s, doubling with each failure up to 15 minutes. A delay, not a
 * lock-out: whoever guesses, the right passphrase signs in once the delay has passed.
 */
export function signInDelaySeconds(failures: number, freeFailures: number): number {
  if (failures < freeFailures) return 0;
  // Capped before exponentiating, so a long attack cannot overflow the arithmetic.
  const doublings = Math.min(failures - freeFailures, 30);
  return Math.min(FIRST_DELAY_SECONDS * 2 ** doublings, MAX_DELAY_SECONDS);
}

/** Whole seconds a client waits before retrying (at least 1, so "retry in 0 s" is never said). */
export function wholeSecondsToWait(seconds: number): number {
  return Math.max(1, Math.ceil(seconds));
}
