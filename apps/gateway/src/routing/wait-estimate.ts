import type { QueuePosition } from '@parley/protocol';

/**
 * The wait a patient is told: a pure function of the practice's recent handling time, the clinicians
 * who could pick the conversation up now, and the opening hours. Honest rather than precise: it says
 * "about N minutes" only when someone connected and available can reach this place in the queue
 * before the practice closes; otherwise it says nothing (null) and, when known, when the practice
 * next opens (docs/protocol.md, `queue:position`).
 */

/** Minutes a conversation takes a clinician until the practice has enough history to measure it. */
export const DEFAULT_HANDLING_MINUTES = 10;
/** Closed conversations needed before their median replaces the default. */
export const MIN_HANDLING_SAMPLES = 5;

/** A clinician who is available and connected now (nobody else can pick up a conversation). */
export interface ReachableClinician {
  maxConcurrent: number;
  active: number;
  /** Assignments left today under the daily cap; null when there is no daily cap. */
  dailyRemaining: number | null;
}

export interface WaitInput {
  /** 1-based place in the queue order. */
  position: number;
  now: Date;
  /** The median minutes from assignment to close of recent conversations, and how many it came from. */
  handling: { median: number | null; samples: number };
  clinicians: readonly ReachableClinician[];
  /** From the opening hours: whether the practice is open now, when this opening ends, and when the next begins. */
  hours: { isOpen: boolean; closesAt: Date | null; nextOpening: Date | null };
}

/** What `queue:position` tells a waiting patient besides their place. */
export type WaitEstimate = Pick<QueuePosition, 'estimatedWaitMinutes' | 'nextSessionAt'>;

/** The typical handling time: the measured median once there are enough samples, else the default. */
export function handlingMinutes(handling: WaitInput['handling']): number {
  if (handling.median === null || handling.samples < MIN_HANDLING_SAMPLES || handling.median <= 0) return DEFAULT_HANDLING_MINUTES;
  return handling.median;
}

/**
 * Free slots are taken at once; after them, with C concurrent slots each turning over about every H
 * minutes, one frees about every H / C minutes. So place p waits about (p − free) × H / C minutes
 * (at least one). Null when the practice is closed, when nobody connected and available could take
 * it, when the daily caps run out before this place, or when the estimate runs past closing time.
 */
export function estimateWait(input: WaitInput): WaitEstimate {
  const nextSession: WaitEstimate = { estimatedWaitMinutes: null, nextSessionAt: input.hours.nextOpening?.toISOString() ?? null };
  if (!input.hours.isOpen) return nextSession;
  const usable = input.clinicians.filter((c) => c.maxConcurrent > 0 && c.dailyRemaining !== 0);
  // Open, but nobody who could answer is here now: when someone will be is unknown, so no time is promised.
  if (usable.length === 0) return { estimatedWaitMinutes: null, nextSessionAt: null };
  const leftToday = usable.reduce((sum, c) => sum + (c.dailyRemaining ?? Infinity), 0);
  if (input.position > leftToday) return nextSession;
  const free = usable.reduce((sum, c) => sum + Math.max(0, Math.min(c.maxConcurrent - c.active, c.dailyRemaining ?? Infinity)), 0);
  const concurrency = usable.reduce((sum, c) => sum + c.maxConcurrent, 0);
  const minutes = Math.max(1, Math.ceil((Math.max(0, input.position - free) * handlingMinutes(input.handling)) / concurrency));
  const closesAt = input.hours.closesAt;
  if (closesAt && input.now.getTime() + minutes * 60_000 > closesAt.getTime()) return nextSession;
  return { estimatedWaitMinutes: minutes, nextSessionAt: null };
}
