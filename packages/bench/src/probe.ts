/**
 * Loaded into a server under test with `NODE_OPTIONS=--import=<this file>` (see {@link probeNodeOptions}), never by the
 * gateway itself: nothing in the gateway changes, and without PARLEY_BENCH_PROBE_DIR this module does nothing.
 *
 * It measures what only the server process can: its event-loop delay (perf_hooks' histogram) and a CPU profile of a
 * chosen window (the inspector's Profiler, the same sampler as `node --cpu-prof`). The bench asks through a command
 * file and SIGUSR2, and reads the answers from files in the same folder.
 */
import { Session } from 'node:inspector';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** What the probe reports on `memory`: after a full garbage collection, so that only what is still referenced counts. */
export interface ProbeMemory {
  rssBytes: number;
  heapUsedBytes: number;
  /** Memory of C++ objects bound to JavaScript ones, Buffers' bytes included (`process.memoryUsage().external`). */
  externalBytes: number;
  /** Whether a full collection ran first (the probe could expose `gc`). */
  isCollected: boolean;
}

/** What the probe reports on `report`. */
export interface ProbeReport {
  rssBytes: number;
  heapUsedBytes: number;
  /** Event-loop delay since the last `lag-reset`, in ms: how late a 5 ms timer fired. */
  lag: { p50: number; p99: number; max: number; mean: number };
  /** CPU time of the process so far, in ms. */
  cpuMs: number;
}

const RESOLUTION_MS = 5;
const dir = process.env['PARLEY_BENCH_PROBE_DIR'];
if (dir) install(dir);

function install(folder: string): void {
  const histogram = monitorEventLoopDelay({ resolution: RESOLUTION_MS });
  histogram.enable();
  let session: Session | undefined;
  const answer = (id: string, body: unknown) => {
    // Written then renamed, so the reader never sees half a file.
    const path = join(folder, `answer-${id}.json`);
    writeFileSync(`${path}.tmp`, JSON.stringify(body));
    renameSync(`${path}.tmp`, path);
  };
  process.on('SIGUSR2', () => {
    let id = '';
    try {
      const [command, commandId] = readFileSync(join(folder, 'command'), 'utf8').trim().split(' ');
      id = commandId ?? '';
      if (command === 'lag-reset') {
        histogram.reset();
        answer(id, { ok: true });
      } else if (command === 'report') {
        const memory = process.memoryUsage();
        const cpu = process.cpuUsage();
        // The histogram records each 5 ms timer's whole interval: the delay is what exceeds the interval.
        const ms = (ns: number) => Math.max(0, ns / 1e6 - RESOLUTION_MS);
        const report: ProbeReport = {
          rssBytes: memory.rss,
          heapUsedBytes: memory.heapUsed,
          lag: { p50: ms(histogram.percentile(50)), p99: ms(histogram.percentile(99)), max: ms(histogram.max), mean: ms(histogram.mean) },
          cpuMs: (cpu.user + cpu.system) / 1000,
        };
        answer(id, report);
      } else if (command === 'memory') {
        // Twice, a moment apart: the backing stores of Buffers found dead by one collection are released after it.
        const first = collectGarbage();
        setTimeout(() => {
          const isCollected = first && collectGarbage();
          const memory = process.memoryUsage();
          const report: ProbeMemory = { rssBytes: memory.rss, heapUsedBytes: memory.heapUsed, externalBytes: memory.external, isCollected };
          answer(id, report);
        }, 100);
      } else if (command === 'profile-start') {
        session = new Session();
        session.connect();
        const started = session;
        started.post('Profiler.enable', () =>
          started.post('Profiler.setSamplingInterval', { interval: 500 }, () => started.post('Profiler.start', () => answer(id, { ok: true }))),
        );
      } else if (command === 'profile-stop') {
        const running = session;
        if (!running) return answer(id, { ok: false });
        running.post('Profiler.stop', (error, result) => {
          running.disconnect();
          session = undefined;
          answer(id, error ? { ok: false } : { ok: true, profile: result.profile });
        });
      } else {
        answer(id, { ok: false });
      }
    } catch (error) {
      if (id) answer(id, { ok: false, error: String(error) });
    }
  });
}

/** A full garbage collection through V8's `gc` (exposed here, without a command-line flag); false when it is not available. */
function collectGarbage(): boolean {
  try {
    setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc') as (() => void) | undefined;
    if (typeof gc !== 'function') return false;
    gc();
    return true;
  } catch {
    return false;
  }
}
