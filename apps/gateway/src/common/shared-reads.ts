/**
 * One read in flight per key (a practice), reused for `forMs`: a burst of opens or checks shares one read of what a
 * manager rarely edits, instead of each queueing its own for the database pool (docs/benchmarks.md, "Queue and
 * assignment"). An edit made through this node calls `forget`, so the very next `get` reads afresh; one made through
 * another node is seen within `forMs`.
 *
 * A read that fails (the pool refusing it under a burst, DB_QUEUE_MAX) would fail every caller sharing it at once; so
 * when the last good value is at most `staleForMs` old and nothing was forgotten since, the sharers get that value
 * instead. Edits through other nodes may then show up to `staleForMs` late while this node's database is saturated.
 * A failed read with no such value fails its sharers and is not kept.
 */
export class SharedReads<Value> {
  private readonly reads = new Map<string, { startedAt: number; read: Promise<Value> }>();
  private readonly lastGood = new Map<string, { at: number; value: Value }>();

  constructor(
    private readonly forMs: number,
    private readonly load: (key: string) => Promise<Value>,
    /** Milliseconds on a monotonic clock (a test's own). */
    private readonly now: () => number = () => performance.now(),
    private readonly staleForMs = 10 * forMs,
  ) {}

  get(key: string): Promise<Value> {
    const now = this.now();
    const shared = this.reads.get(key);
    if (shared && now - shared.startedAt < this.forMs) return shared.read;
    const fallback = this.lastGood.get(key);
    const entry: { startedAt: number; read: Promise<Value> } = { startedAt: now, read: Promise.resolve(undefined as Value) };
    entry.read = this.load(key).then(
      (value) => {
        if (this.reads.get(key) === entry) this.lastGood.set(key, { at: this.now(), value });
        return value;
      },
      (error: unknown) => {
        if (fallback && this.lastGood.get(key) === fallback && this.now() - fallback.at <= this.staleForMs) return fallback.value;
        if (this.reads.get(key) === entry) this.reads.delete(key);
        throw error;
      },
    );
    this.reads.set(key, entry);
    return entry.read;
  }

  /** After an edit is stored: no later `get` shares a read that may have started before it, nor falls back to an older value. */
  forget(key: string): void {
    this.reads.delete(key);
    this.lastGood.delete(key);
  }
}
