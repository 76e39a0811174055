/**
 * One read in flight per key (a practice), reused for `forMs`: a burst of opens or checks shares one read of what a
 * manager rarely edits, instead of each queueing its own for the database pool (docs/benchmarks.md, "Queue and
 * assignment"). An edit made through this node calls `forget`, so the very next `get` reads afresh; one made through
 * another node is seen within `forMs`. A failed read is not kept.
 */
export class SharedReads<Value> {
  private readonly reads = new Map<string, { startedAt: number; read: Promise<Value> }>();

  constructor(
    private readonly forMs: number,
    private readonly load: (key: string) => Promise<Value>,
    /** Milliseconds on a monotonic clock (a test's own). */
    private readonly now: () => number = () => performance.now(),
  ) {}

  get(key: string): Promise<Value> {
    const now = this.now();
    const shared = this.reads.get(key);
    if (shared && now - shared.startedAt < this.forMs) return shared.read;
    const entry = { startedAt: now, read: this.load(key) };
    this.reads.set(key, entry);
    entry.read.catch(() => {
      if (this.reads.get(key) === entry) this.reads.delete(key);
    });
    return entry.read;
  }

  /** After an edit is stored: no later `get` shares a read that may have started before it. */
  forget(key: string): void {
    this.reads.delete(key);
  }
}
