import { mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { ProbeMemory, ProbeReport } from './probe.js';
import { sleep } from './stats.js';

const PROBE_ENTRY = join(dirname(fileURLToPath(import.meta.url)), 'probe.js');

/** The bench's side of the probe loaded into one server process. */
export class ProbeClient {
  readonly dir = mkdtempSync(join(tmpdir(), 'parley-probe-'));
  private seq = 0;
  private pid = 0;

  /** The environment that loads the probe into a Node process (add to its env). */
  get env(): Record<string, string> {
    return { NODE_OPTIONS: `--import=${pathToFileURL(PROBE_ENTRY).href}`, PARLEY_BENCH_PROBE_DIR: this.dir };
  }

  /** The process to talk to (known once it is spawned). */
  attach(pid: number): void {
    this.pid = pid;
  }

  /** RSS, heap, event-loop delay since the last reset, CPU so far. */
  report(): Promise<ProbeReport> {
    return this.ask('report') as Promise<ProbeReport>;
  }

  /** RSS, heap and external memory right after a full garbage collection. */
  memory(): Promise<ProbeMemory> {
    return this.ask('memory') as Promise<ProbeMemory>;
  }

  async resetLag(): Promise<void> {
    await this.ask('lag-reset');
  }

  async startProfile(): Promise<void> {
    await this.ask('profile-start');
  }

  /** Stops the profiler and returns the V8 CPU profile (the `.cpuprofile` format). */
  async stopProfile(): Promise<unknown> {
    const answer = (await this.ask('profile-stop', 60_000)) as { ok: boolean; profile?: unknown };
    if (!answer.ok) throw new Error('the server probe returned no profile');
    return answer.profile;
  }

  remove(): void {
    rmSync(this.dir, { recursive: true, force: true });
  }

  private async ask(command: string, timeoutMs = 20_000): Promise<unknown> {
    if (!this.pid) throw new Error('probe not attached to a process');
    const id = String(++this.seq);
    writeFileSync(join(this.dir, 'command'), `${command} ${id}`);
    process.kill(this.pid, 'SIGUSR2');
    const path = join(this.dir, `answer-${id}.json`);
    const deadline = Date.now() + timeoutMs;
    while (!existsSync(path)) {
      if (Date.now() > deadline) throw new Error(`the server probe did not answer ${command}`);
      await sleep(20);
    }
    return JSON.parse(readFileSync(path, 'utf8'));
  }
}

/** Resident set size of a process, from /proc (bytes). */
export function rssOf(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = Number(status.match(/VmRSS:\s+(\d+)/)?.[1] ?? 0);
  return kb * 1024;
}

/** User + system CPU time of a process so far, from /proc (ms). */
export function cpuMsOf(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const ticks = Number(fields[11]) + Number(fields[12]);
    return (ticks * 1000) / 100; // USER_HZ is 100 on Linux
  } catch {
    return 0;
  }
}
