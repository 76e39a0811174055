/**
 * The attachments scenario's arithmetic (issue #18), kept apart from the I/O so that it is tested on its own
 * (test/attachments.spec.ts): the parts a ciphertext is uploaded in, MB/s of a run, CPU per MB, memory per upload
 * in flight, and the medians of several runs. MB is 10^6 bytes throughout.
 */
import { median, medianPercentiles, percentiles, type Percentiles } from './stats.js';

const MB = 1_000_000;

/** The parts of a ciphertext of `cipherBytes` uploaded in parts of `partBytes` (the last may be shorter): [start, end) each. */
export function partRanges(cipherBytes: number, partBytes: number): [number, number][] {
  if (!Number.isInteger(cipherBytes) || cipherBytes < 1) throw new Error(`cipherBytes must be a positive integer, not ${cipherBytes}`);
  if (!Number.isInteger(partBytes) || partBytes < 1) throw new Error(`partBytes must be a positive integer, not ${partBytes}`);
  const ranges: [number, number][] = [];
  for (let start = 0; start < cipherBytes; start += partBytes) ranges.push([start, Math.min(start + partBytes, cipherBytes)]);
  return ranges;
}

/** What the load generators and the bench measured in one upload run of one server. */
export interface UploadRunInput {
  /** Ciphertext bytes of the uploads that finished (every part stored; Parley's also completed). */
  bytes: number;
  uploads: number;
  failed: number;
  errors: Record<string, number>;
  /** When the run started and when its last upload finished (ms, the shared monotonic clock). */
  startAt: number;
  finishedAt: number;
  /** Each part's PUT, request to response (ms). */
  partMs: number[];
  /** Parley only: the create and complete requests (ms); empty for the baseline, which has neither. */
  controlMs: number[];
  serverCpuMs: number;
  /** PostgreSQL's CPU during the run (undefined when its processes cannot be read from here). */
  pgCpuMs?: number;
  clientCpuMs: number;
}

/** One upload run as the report keeps it. */
export interface UploadRun extends Omit<UploadRunInput, 'partMs' | 'controlMs' | 'startAt' | 'finishedAt'> {
  seconds: number;
  mbPerSec: number;
  part: Percentiles;
  control: Percentiles;
}

/** MB/s of `bytes` moved in `ms` (0 when nothing was measured). */
export function mbPerSecond(bytes: number, ms: number): number {
  return ms > 0 && bytes > 0 ? bytes / MB / (ms / 1000) : 0;
}

/** CPU ms per MB of `bytes` (undefined without CPU figures or bytes). */
export function cpuMsPerMb(cpuMs: number | undefined, bytes: number): number | undefined {
  return cpuMs === undefined || bytes <= 0 ? undefined : cpuMs / (bytes / MB);
}

/** One run: its wall time runs from the common start to the last upload's end. */
export function summariseUploadRun(input: UploadRunInput): UploadRun {
  const { partMs, controlMs, startAt, finishedAt, ...rest } = input;
  const ms = Math.max(0, finishedAt - startAt);
  return { ...rest, seconds: ms / 1000, mbPerSec: mbPerSecond(input.bytes, ms), part: percentiles(partMs), control: percentiles(controlMs) };
}

/** Median of several runs of one server. */
export interface UploadFigure {
  runs: UploadRun[];
  mbPerSec: number;
  part: Percentiles;
  control: Percentiles;
  /** CPU ms per MB uploaded: the server process, PostgreSQL's processes, their sum; and the load generators'. */
  serverCpuMsPerMb: number;
  pgCpuMsPerMb?: number;
  totalCpuMsPerMb?: number;
  clientCpuMsPerMb: number;
}

/** The medians of `runs` (each CPU figure is the median of the runs' own per-MB figures, as the message figures are). */
export function summariseUploads(runs: UploadRun[]): UploadFigure {
  const perMb = (pick: (run: UploadRun) => number) => median(runs.map((run) => cpuMsPerMb(pick(run), run.bytes) ?? 0));
  const hasPg = runs.every((run) => run.pgCpuMs !== undefined);
  return {
    runs,
    mbPerSec: median(runs.map((run) => run.mbPerSec)),
    part: medianPercentiles(runs.map((run) => run.part)),
    control: medianPercentiles(runs.map((run) => run.control)),
    serverCpuMsPerMb: perMb((run) => run.serverCpuMs),
    pgCpuMsPerMb: hasPg ? perMb((run) => run.pgCpuMs!) : undefined,
    totalCpuMsPerMb: hasPg ? perMb((run) => run.serverCpuMs + run.pgCpuMs!) : undefined,
    clientCpuMsPerMb: perMb((run) => run.clientCpuMs),
  };
}

/** One reading of a server's memory: its RSS, and its JavaScript heap plus external memory (Buffers) after a full GC. */
export interface MemoryReading {
  rssBytes: number;
  heapBytes: number;
}

/** Memory of one server with uploads held in flight, and before. */
export interface HeldFigure {
  /** Uploads with a part open and half written when the second reading was taken. */
  held: number;
  idle: MemoryReading;
  inFlight: MemoryReading;
  /** (in flight − idle) ÷ held, for each measure; 0 when nothing was held. RSS may even fall: freed pages are reused. */
  rssPerUploadBytes: number;
  heapPerUploadBytes: number;
  /** The held parts, once written to the end: how the server answered (status code → count). */
  answers: Record<string, number>;
}

/** The held figure from two readings and the count of uploads in flight at the second. */
export function heldFigure(idle: MemoryReading, inFlight: MemoryReading, held: number, answers: Record<string, number>): HeldFigure {
  const per = (pick: (reading: MemoryReading) => number) => (held > 0 ? (pick(inFlight) - pick(idle)) / held : 0);
  return {
    held,
    idle,
    inFlight,
    rssPerUploadBytes: per((reading) => reading.rssBytes),
    heapPerUploadBytes: per((reading) => reading.heapBytes),
    answers,
  };
}

/** Adds `from` into `into` (counts by key). */
export function addTo(into: Record<string, number>, from: Record<string, number>): Record<string, number> {
  for (const [key, count] of Object.entries(from)) into[key] = (into[key] ?? 0) + count;
  return into;
}
