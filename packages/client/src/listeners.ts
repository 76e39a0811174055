/** The shape of an event map: each event name maps to its listener's signature. */
export type ListenerMap<M> = { [K in keyof M]: (...args: never[]) => void };

/**
 * Typed listeners per event. A throwing listener neither stops the others nor its caller (often
 * socket.io's packet parser); its error is rethrown on its own so it still reaches the platform's
 * error reporting instead of vanishing.
 */
export class Listeners<M extends ListenerMap<M>> {
  private readonly byEvent = new Map<keyof M, Set<M[keyof M]>>();

  /** Adds a listener; adding the same one twice keeps one. */
  add<K extends keyof M>(event: K, listener: M[K]): void {
    const set = this.byEvent.get(event) ?? new Set();
    set.add(listener);
    this.byEvent.set(event, set);
  }

  /** Removes a listener; unknown ones are ignored. */
  remove<K extends keyof M>(event: K, listener: M[K]): void {
    this.byEvent.get(event)?.delete(listener);
  }

  /** Calls every listener of an event with the given arguments. */
  emit<K extends keyof M>(event: K, ...args: Parameters<M[K]>): void {
    for (const listener of [...(this.byEvent.get(event) ?? [])]) {
      try {
        (listener as (...args: Parameters<M[K]>) => void)(...args);
      } catch (error) {
        queueMicrotask(() => {
          throw error;
        });
      }
    }
  }
}
