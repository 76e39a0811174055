import { fork, type ChildProcess } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const WORKER_ENTRY = join(dirname(fileURLToPath(import.meta.url)), 'worker.js');

/** One forked load generator, called like a function over IPC. */
export class Worker {
  private nextId = 0;
  private readonly waiting = new Map<number, { resolve: (value: unknown) => void; reject: (error: Error) => void }>();
  readonly exited: Promise<number | null>;

  constructor(readonly child: ChildProcess) {
    child.on('message', (message: { id: number; ok: boolean; result?: unknown; error?: string }) => {
      const pending = this.waiting.get(message.id);
      if (!pending) return;
      this.waiting.delete(message.id);
      if (message.ok) pending.resolve(message.result);
      else pending.reject(new Error(`worker: ${message.error}`));
    });
    this.exited = new Promise((resolve) =>
      child.once('exit', (code) => {
        for (const pending of this.waiting.values()) pending.reject(new Error(`worker exited with ${code}`));
        this.waiting.clear();
        resolve(code);
      }),
    );
  }

  call<T>(command: string, args: unknown = {}, timeoutMs = 300_000): Promise<T> {
    const id = ++this.nextId;
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiting.delete(id);
        reject(new Error(`worker ${command} timed out after ${timeoutMs} ms`));
      }, timeoutMs);
      this.waiting.set(id, {
        resolve: (value) => (clearTimeout(timer), resolve(value as T)),
        reject: (error) => (clearTimeout(timer), reject(error)),
      });
      this.child.send({ id, command, args });
    });
  }

  get pid(): number {
    return this.child.pid ?? 0;
  }
}

/**
 * Forks `count` workers. Their file-descriptor limit is raised to the hard limit where the shell allows it
 * (`ulimit -n` in a wrapper shell), since the idle-socket scenario opens thousands of sockets per worker.
 */
export function forkWorkers(count: number): Worker[] {
  return Array.from({ length: count }, () => {
    const child = fork(WORKER_ENTRY, [], {
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
      // Plenty of heap for thousands of client sockets and the latency arrays.
      execArgv: ['--max-old-space-size=4096'],
      serialization: 'advanced',
    });
    return new Worker(child);
  });
}

/** Ends workers, politely then firmly. */
export async function stopWorkers(workers: readonly Worker[]): Promise<void> {
  await Promise.all(
    workers.map(async (worker) => {
      if (worker.child.exitCode !== null) return;
      worker.child.disconnect();
      const timer = setTimeout(() => worker.child.kill('SIGKILL'), 5_000);
      await worker.exited;
      clearTimeout(timer);
    }),
  );
}

/** Calls `command` on every worker at once, each with its own arguments; resolves with their answers in order. */
export function callAll<T>(workers: readonly Worker[], command: string, args: (index: number) => unknown = () => ({}), timeoutMs?: number): Promise<T[]> {
  return Promise.all(workers.map((worker, index) => worker.call<T>(command, args(index), timeoutMs)));
}

/** Splits items across workers, round robin. */
export function split<T>(items: readonly T[], parts: number): T[][] {
  const groups: T[][] = Array.from({ length: parts }, () => []);
  items.forEach((item, index) => groups[index % parts]!.push(item));
  return groups;
}
