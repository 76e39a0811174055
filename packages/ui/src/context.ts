import { getContext, setContext } from 'svelte';

/**
 * A typed context pair over a private key, so components reach a state class through `getXState()` and never
 * through a key of their own: `export const [setQueueState, getQueueState] = contextPair<QueueState>('queue');`.
 * Both functions must be called while a component initialises, as Svelte's `setContext`/`getContext` require.
 */
export function contextPair<T>(name: string): [set: (value: T) => T, get: () => T] {
  const key = Symbol(name);
  return [(value) => setContext(key, value), () => getContext<T>(key)];
}
