/** What an InvalidatedCache needs to know of the listener: whether notifications are being heard right now. */
export interface ListeningState {
  readonly isListening: boolean;
}

/** A load under way: later callers share it until an invalidation of its key makes it stale. */
interface Load<V> {
  promise: Promise<V | undefined>;
  isStale: boolean;
}

/**
 * A bounded in-memory map of values read from PostgreSQL, kept only while the node hears the database's change
 * notifications (docs/decisions/0006-cache-invalidation-listen-notify.md). Its invariants:
 * - While the listener is not listening, nothing is read from or stored in it: every `get` loads.
 * - A value whose load was under way when its key (or everything) was invalidated is returned to the callers that
 *   asked before, but never stored, and no later caller joins that load: the classic read-then-invalidate race.
 * - At most `maxEntries` values: the least recently used goes first, so memory stays flat however many keys pass.
 * - `undefined` (no such row) is never stored: a row created later needs no notification to be seen.
 */
export class InvalidatedCache<K, V> {
  // A Map iterates in insertion order: re-inserting on each hit keeps the least recently used first.
  private readonly entries = new Map<K, V>();
  private readonly loads = new Map<K, Load<V>>();
  private invalidations = 0;

  constructor(
    private readonly listener: ListeningState,
    private readonly maxEntries: number,
  ) {
    if (!Number.isInteger(maxEntries) || maxEntries < 1) throw new RangeError('maxEntries must be a positive integer');
  }

  get size(): number {
    return this.entries.size;
  }

  /** The cached value, else the one `load` returns (stored if no invalidation of its key arrived meanwhile). */
  get(key: K, load: (key: K) => Promise<V | undefined>): Promise<V | undefined> {
    if (!this.listener.isListening) return load(key);
    const cached = this.entries.get(key);
    if (cached !== undefined) {
      this.entries.delete(key);
      this.entries.set(key, cached);
      return Promise.resolve(cached);
    }
    const underWay = this.loads.get(key);
    if (underWay) return underWay.promise;
    const started: Load<V> = { promise: Promise.resolve(undefined), isStale: false };
    started.promise = load(key).then(
      (value) => {
        if (this.loads.get(key) === started) this.loads.delete(key);
        if (value !== undefined && !started.isStale && this.listener.isListening) this.store(key, value);
        return value;
      },
      (error: unknown) => {
        if (this.loads.get(key) === started) this.loads.delete(key);
        throw error;
      },
    );
    this.loads.set(key, started);
    return started.promise;
  }

  /**
   * A mark to take before reading a value some other way than `get` (its key unknown until the read answers), for
   * `offer` after it.
   */
  get mark(): number {
    return this.invalidations;
  }

  /**
   * Stores a value read some other way, as `get` would have stored it: only while listening, and only if nothing at all
   * was invalidated since `mark` was taken (the key was not known then, so any invalidation may have been of it).
   */
  offer(key: K, value: V, mark: number): void {
    if (mark === this.invalidations && this.listener.isListening) this.store(key, value);
  }

  /** Loads the key again whatever is cached (an entry found too old), under the same rules as `get`. */
  reload(key: K, load: (key: K) => Promise<V | undefined>): Promise<V | undefined> {
    this.entries.delete(key);
    return this.get(key, load);
  }

  /** Forgets one key, and makes a load of it under way stale. */
  invalidate(key: K): void {
    this.invalidations += 1;
    this.entries.delete(key);
    const load = this.loads.get(key);
    if (load) {
      load.isStale = true;
      this.loads.delete(key);
    }
  }

  /** Forgets every value `matches` picks, and makes every load under way stale (its value is not known yet). */
  invalidateWhere(matches: (value: V, key: K) => boolean): void {
    for (const [key, value] of this.entries) if (matches(value, key)) this.entries.delete(key);
    this.staleAllLoads();
  }

  /** Forgets everything, loads under way included: the listener (re)connected, or stopped hearing. */
  clear(): void {
    this.entries.clear();
    this.staleAllLoads();
  }

  private staleAllLoads(): void {
    this.invalidations += 1;
    for (const load of this.loads.values()) load.isStale = true;
    this.loads.clear();
  }

  private store(key: K, value: V): void {
    this.entries.delete(key);
    this.entries.set(key, value);
    if (this.entries.size > this.maxEntries) {
      const oldest = this.entries.keys().next();
      if (!oldest.done) this.entries.delete(oldest.value);
    }
  }
}
