import { DomainError } from '../common/domain-error.js';

/** A task waiting for its group, with how to answer it. */
interface Waiting<T, R> {
  task: T;
  resolve: (result: R) => void;
  reject: (error: unknown) => void;
}

/**
 * Group commit for opens (like the record writer's batches): tasks that arrive while `maxGroups` groups are under way
 * wait in memory, in arrival order, and the next group takes every one waiting (up to `maxGroupSize`), so a burst costs
 * one transaction per group instead of one per task. Tasks with the same key (one patient) never share a group: the
 * second waits for a later one, as it would wait for the first's lock. Beyond `maxWaiting` tasks waiting, a task is
 * refused `rate_limited` at once (the load-shedding bound, docs/operations.md). A lone task starts at once: no delay.
 */
export class OpenGroups<T, R> {
  private waiting: Waiting<T, R>[] = [];
  private running = 0;

  /** @param runGroup answers each task of a group, in the group's order; a rejection answers every task of the group. */
  constructor(
    private readonly limits: { maxGroups: number; maxGroupSize: number; maxWaiting: number },
    private readonly keyOf: (task: T) => string,
    private readonly runGroup: (tasks: readonly T[]) => Promise<R[]>,
  ) {}

  /** Tasks waiting for a group. */
  get queued(): number {
    return this.waiting.length;
  }

  /** Runs `task` in the next group that can take it. @throws DomainError `rate_limited` when `maxWaiting` tasks already wait */
  run(task: T): Promise<R> {
    if (this.waiting.length >= this.limits.maxWaiting) return Promise.reject(new DomainError('rate_limited', 'The server is busy; try again shortly.'));
    return new Promise<R>((resolve, reject) => {
      this.waiting.push({ task, resolve, reject });
      this.startGroups();
    });
  }

  private startGroups(): void {
    while (this.running < this.limits.maxGroups && this.waiting.length > 0) {
      const group: Waiting<T, R>[] = [];
      const keys = new Set<string>();
      const left: Waiting<T, R>[] = [];
      for (const entry of this.waiting) {
        const key = this.keyOf(entry.task);
        if (group.length < this.limits.maxGroupSize && !keys.has(key)) {
          keys.add(key);
          group.push(entry);
        } else left.push(entry);
      }
      this.waiting = left;
      this.running += 1;
      void this.settle(group).finally(() => {
        this.running -= 1;
        this.startGroups();
      });
    }
  }

  private async settle(group: readonly Waiting<T, R>[]): Promise<void> {
    try {
      const results = await this.runGroup(group.map((entry) => entry.task));
      group.forEach((entry, index) => entry.resolve(results[index]!));
    } catch (error) {
      for (const entry of group) entry.reject(error);
    }
  }
}
