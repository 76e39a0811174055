import { getContext, setContext } from 'svelte';

/** A typed context pair over a private key, as STYLE.md asks (`setXState` / `getXState`). */
export function contextPair<T>(name: string): [set: (value: T) => T, get: () => T] {
  const key = Symbol(name);
  return [(value) => setContext(key, value), () => getContext<T>(key)];
}
