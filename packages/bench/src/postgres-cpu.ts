/**
 * PostgreSQL's share of a server's CPU (issue #16: "server CPU per 1,000 messages counts PostgreSQL's processes too").
 * PostgreSQL is a process tree: the postmaster and its children (a backend per connection, the checkpointer, the WAL
 * writer, …). The postmaster is found from a backend: `SELECT pg_backend_pid()`, then that process's parent in /proc.
 * A snapshot is every process of the tree with its user + system CPU; the CPU of a run is the sum of the differences
 * (a backend that started during the run counts from zero). On a server the bench does not own (TEST_DATABASE_URL),
 * client backends count only when connected to one of the bench's databases; the auxiliary processes always count.
 */
import { readdirSync, readFileSync } from 'node:fs';
import pg from 'pg';

/** USER_HZ: the unit of utime and stime in /proc/<pid>/stat on Linux. */
const TICKS_PER_SECOND = 100;

interface ProcStat {
  pid: number;
  comm: string;
  ppid: number;
  cpuMs: number;
}

function readStat(pid: number): ProcStat | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const close = stat.lastIndexOf(')');
    const comm = stat.slice(stat.indexOf('(') + 1, close);
    const fields = stat.slice(close + 2).split(' ');
    return { pid, comm, ppid: Number(fields[1]), cpuMs: ((Number(fields[11]) + Number(fields[12])) * 1000) / TICKS_PER_SECOND };
  } catch {
    return undefined;
  }
}

function readTitle(pid: number): string | undefined {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8');
  } catch {
    return undefined;
  }
}

/**
 * The database a client backend serves, from its process title (`postgres: [cluster: ]user db host(port) state`);
 * undefined for an auxiliary process (`postgres: [cluster: ]checkpointer`, …).
 */
export function backendDatabase(title: string): string | undefined {
  return /^postgres: (?:\S+: )?\S+ (\S+) (?:\S+\(\d+\)|\[local\])/.exec(title.replace(/\0/g, ' ').trim())?.[1];
}

export class PostgresCpu {
  private constructor(
    readonly postmasterPid: number,
    /** When set, client backends count only for these databases (a server shared with others). */
    private readonly databases: (() => readonly string[]) | undefined,
  ) {}

  /** Finds the server's postmaster on this machine; undefined when it runs elsewhere (its CPU cannot be read then). */
  static async find(serverUrl: string, databases?: () => readonly string[]): Promise<PostgresCpu | undefined> {
    const client = new pg.Client({ connectionString: serverUrl });
    await client.connect();
    try {
      const { rows } = await client.query<{ pid: number }>('SELECT pg_backend_pid() AS pid');
      const backend = readStat(Number(rows[0]?.pid));
      const postmaster = backend && readStat(backend.ppid);
      return postmaster?.comm.startsWith('postgres') ? new PostgresCpu(postmaster.pid, databases) : undefined;
    } finally {
      await client.end();
    }
  }

  /** CPU so far of every process of the tree that counts (ms by pid). */
  snapshot(): Map<number, number> {
    const cpu = new Map<number, number>();
    const postmaster = readStat(this.postmasterPid);
    if (postmaster) cpu.set(postmaster.pid, postmaster.cpuMs);
    const ours = this.databases?.();
    for (const name of readdirSync('/proc')) {
      if (!/^\d+$/.test(name)) continue;
      const stat = readStat(Number(name));
      if (!stat || stat.ppid !== this.postmasterPid) continue;
      if (ours) {
        const title = readTitle(stat.pid);
        if (title === undefined) continue;
        const database = backendDatabase(title);
        if (database !== undefined && !ours.includes(database)) continue;
      }
      cpu.set(stat.pid, stat.cpuMs);
    }
    return cpu;
  }

  /** CPU (ms) used by the tree since `before`. */
  since(before: ReadonlyMap<number, number>): number {
    let total = 0;
    for (const [pid, cpuMs] of this.snapshot()) total += Math.max(0, cpuMs - (before.get(pid) ?? 0));
    return total;
  }
}
