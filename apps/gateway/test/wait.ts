/**
 * The one way the gateway's tests wait for something: polls `condition` every 20 ms until it holds, or fails after
 * `timeoutMs` naming what did not happen (`what`, or what `what()` says then, to include, say, the output so far).
 * A condition that throws ends the wait with its error. No fixed sleeps: a wait ends as soon as its condition holds,
 * and a deadline with a message replaces a loop that would only end at jest's test timeout.
 */
export async function waitUntil(condition: () => Promise<boolean> | boolean, what: string | (() => string), timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${typeof what === 'string' ? what : what()}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** A promise the test settles itself: code under test waits on it at a step of its own, so no sleep decides the order. */
export function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve!: () => void;
  const promise = new Promise<void>((settle) => (resolve = settle));
  return { promise, resolve };
}

/** `work`'s result, or 'still waiting' when it has not settled within `timeoutMs` (a step that must not wait on a lock, say). */
export function orStillWaiting<T>(work: Promise<T>, timeoutMs: number): Promise<T | 'still waiting'> {
  const timedOut = new Promise<'still waiting'>((resolve) => setTimeout(() => resolve('still waiting'), timeoutMs).unref());
  return Promise.race([work, timedOut]);
}
