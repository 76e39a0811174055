/**
 * Scenario 9 (issue #18): encrypted attachments through the gateway's upload routes, beside a plain HTTP upload of the
 * same bytes in the same parts to the baseline server (one INSERT per part, no checks), run interleaved round by round.
 * Both servers are started for the scenario, so that memory per upload in flight is read on processes the message load
 * has not grown: first the memory (K uploads each with a part half written), then the throughput runs.
 */
import { randomBytes } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { encryptFile, ready } from '@parley/crypto';
import {
  addTo,
  heldFigure,
  partRanges,
  summariseUploadRun,
  summariseUploads,
  type HeldFigure,
  type MemoryReading,
  type UploadFigure,
  type UploadRun,
} from './attachment-figures.js';
import type { BenchOptions } from './options.js';
import type { PostgresCpu } from './postgres-cpu.js';
import { summariseProfile, type CpuProfile, type ProfileSummary } from './profile.js';
import { cpuMsOf, type ProbeClient } from './probe-client.js';
import { monoMs, sleep } from './stats.js';
import { BASELINE_PART_BYTES, downloadUpload, type UploaderSpec, type UploadTarget } from './upload-client.js';
import type { UploadRunAnswer } from './upload-commands.js';
import { callAll, split, type Worker } from './workers.js';

/** What the scenario reports. */
export interface AttachmentsFigure {
  uploaders: number;
  contentType: string;
  fileBytes: number;
  cipherBytes: number;
  partBytes: number;
  parts: number;
  parley: UploadFigure;
  baseline: UploadFigure;
  /** Parley's MB/s ÷ the baseline's (medians). */
  ratio: number;
  held: { requested: number; holdMs: number; parley: HeldFigure; baseline: HeldFigure };
  /** One of Parley's uploads read back by its uploader: the same bytes, and the headers every blob carries. */
  readBack?: { status: number; isIdentical: boolean; cacheControl: string | null };
  /** One more gateway run under the CPU profiler (with `options.profile`): where its CPU per MB goes. */
  profile?: ProfileSummary & { file: string; mbPerSec: number };
}

/** A server the scenario uploads to. */
interface Contender {
  key: 'parley' | 'baseline';
  target: UploadTarget;
  pid: number;
  probe: ProbeClient;
}

export interface AttachmentsContext {
  workers: readonly Worker[];
  /** Patients of open conversations, on the gateway started for the scenario. */
  uploaders: UploaderSpec[];
  /** Both servers run the bench's probe (probe.ts), which reads their memory after a full garbage collection. */
  gateway: { pid: number; probe: ProbeClient };
  baseline: { url: string; pid: number; probe: ProbeClient };
  postgres: PostgresCpu | undefined;
  /** Where the ciphertext is written for the workers to read. */
  dataDir: string;
  options: BenchOptions;
  log: (line: string) => void;
  /** Keeps a CPU profile of the gateway and says where (with `options.profile`). */
  saveProfile: (profile: CpuProfile) => Promise<string>;
}

const CONTENT_TYPE = 'image/jpeg';

/** Runs the scenario on servers already started; removes every upload it made before returning. */
export async function attachmentsScenario(context: AttachmentsContext): Promise<AttachmentsFigure> {
  const { workers, uploaders, options, log } = context;
  // Encrypted once, before anything is measured: the load generators measure the servers, not libsodium.
  await ready();
  const file = encryptFile(randomBytes(options.attachmentFileBytes));
  const cipherPath = join(context.dataDir, 'bench-attachment.bin');
  await writeFile(cipherPath, file.ciphertext);
  const cipherBytes = file.ciphertext.length;
  const parts = partRanges(cipherBytes, BASELINE_PART_BYTES).length;
  const contenders: Contender[] = [
    { key: 'baseline', target: { kind: 'baseline', url: context.baseline.url }, ...context.baseline },
    { key: 'parley', target: { kind: 'parley' }, ...context.gateway },
  ];
  const groups = split(uploaders, workers.length);
  const call = <T>(command: string, args: (index: number) => unknown) => callAll<T>(workers, command, args);
  const removeAll = async () => {
    const answers = await call<{ removed: number; failed: number }>('attachmentsRemove', () => ({}));
    const failed = answers.reduce((sum, answer) => sum + answer.failed, 0);
    if (failed > 0) log(`attachments: ${failed} uploads could not be removed`);
  };
  const runOnce = async (contender: Contender): Promise<{ run: UploadRun; answers: UploadRunAnswer[] }> => {
    const serverCpuBefore = cpuMsOf(contender.pid);
    const pgBefore = context.postgres?.snapshot();
    const startAt = monoMs() + 300;
    const answers = await call<UploadRunAnswer>('attachmentsUpload', (index) => ({
      target: contender.target,
      uploaders: groups[index],
      cipherPath,
      contentType: CONTENT_TYPE,
      startAt,
    }));
    const serverCpuMs = cpuMsOf(contender.pid) - serverCpuBefore;
    const pgCpuMs = context.postgres && pgBefore ? context.postgres.since(pgBefore) : undefined;
    const run = summariseUploadRun({
      bytes: answers.reduce((sum, answer) => sum + answer.bytes, 0),
      uploads: answers.reduce((sum, answer) => sum + answer.uploads, 0),
      failed: answers.reduce((sum, answer) => sum + answer.failed, 0),
      errors: answers.reduce((sum, answer) => addTo(sum, answer.errors), {}),
      startAt,
      finishedAt: Math.max(...answers.map((answer) => answer.finishedAt)),
      partMs: answers.flatMap((answer) => answer.partMs),
      controlMs: answers.flatMap((answer) => answer.controlMs),
      serverCpuMs,
      pgCpuMs,
      clientCpuMs: answers.reduce((sum, answer) => sum + answer.cpuMs, 0),
    });
    return { run, answers };
  };

  // ---- memory per upload in flight, on the freshly started servers: a warm-up upload, settle, idle, hold K, settle
  const held: Partial<Record<Contender['key'], HeldFigure>> = {};
  for (const contender of contenders) {
    const warmUp = await runOnce(contender);
    if (warmUp.run.failed > 0) throw new Error(`${contender.key}: warm-up uploads failed: ${JSON.stringify(warmUp.run.errors)}`);
    await removeAll();
    await sleep(options.attachmentHoldMs);
    const idle = await memoryOf(contender.probe);
    const holding = await call<{ held: number; errors: Record<string, number> }>('attachmentsHold', (index) => ({
      target: contender.target,
      uploaders: groups[index],
      cipherPath,
      contentType: CONTENT_TYPE,
      count: Math.floor(options.attachmentsHeld / workers.length) + (index < options.attachmentsHeld % workers.length ? 1 : 0),
    }));
    await sleep(options.attachmentHoldMs);
    const inFlight = await memoryOf(contender.probe);
    const released = await call<{ answers: Record<string, number> }>('attachmentsRelease', () => ({}));
    await removeAll();
    const count = holding.reduce((sum, answer) => sum + answer.held, 0);
    const refused = holding.reduce((sum, answer) => addTo(sum, answer.errors), {});
    held[contender.key] = heldFigure(
      idle,
      inFlight,
      count,
      released.reduce((sum, answer) => addTo(sum, answer.answers), Object.keys(refused).length ? { ...refused } : {}),
    );
    log(
      `attachments: ${contender.key}: ${count} uploads in flight: RSS ${Math.round(idle.rssBytes / 2 ** 20)} → ${Math.round(inFlight.rssBytes / 2 ** 20)} MB (${Math.round(held[contender.key]!.rssPerUploadBytes / 1024)} KB each), heap + external ${Math.round(idle.heapBytes / 2 ** 20)} → ${Math.round(inFlight.heapBytes / 2 ** 20)} MB (${Math.round(held[contender.key]!.heapPerUploadBytes / 1024)} KB each)`,
    );
  }

  // ---- throughput, interleaved run by run: baseline, Parley, baseline, …
  const runs: Record<Contender['key'], UploadRun[]> = { parley: [], baseline: [] };
  let readBack: AttachmentsFigure['readBack'];
  for (let round = 0; round < options.runs; round++) {
    for (const contender of contenders) {
      const { run, answers } = await runOnce(contender);
      runs[contender.key].push(run);
      log(
        `attachments: ${contender.key}: run ${round + 1}: ${run.mbPerSec.toFixed(1)} MB/s (${run.uploads - run.failed}/${run.uploads} uploads of ${cipherBytes} B in ${run.seconds.toFixed(2)} s), part p50 ${run.part.p50.toFixed(1)} ms p99 ${run.part.p99.toFixed(1)} ms${run.failed ? `, failed: ${JSON.stringify(run.errors)}` : ''}`,
      );
      const sample = answers.find((answer) => answer.sample)?.sample;
      if (contender.key === 'parley' && !readBack && sample) {
        const download = await downloadUpload(sample.uploader, sample.uploadId);
        readBack = {
          status: download.status,
          isIdentical: Buffer.from(download.bytes).equals(Buffer.from(file.ciphertext)),
          cacheControl: download.cacheControl,
        };
      }
      await removeAll();
    }
  }
  let profile: AttachmentsFigure['profile'];
  if (options.profile) {
    log('attachments: one more gateway run with the CPU profiler on');
    await context.gateway.probe.startProfile();
    const { run } = await runOnce(contenders.find((contender) => contender.key === 'parley')!);
    const cpuProfile = (await context.gateway.probe.stopProfile()) as CpuProfile;
    await removeAll();
    profile = { ...summariseProfile(cpuProfile), file: await context.saveProfile(cpuProfile), mbPerSec: run.mbPerSec };
  }
  const parley = summariseUploads(runs.parley);
  const baseline = summariseUploads(runs.baseline);
  return {
    uploaders: uploaders.length,
    contentType: CONTENT_TYPE,
    fileBytes: options.attachmentFileBytes,
    cipherBytes,
    partBytes: BASELINE_PART_BYTES,
    parts,
    parley,
    baseline,
    ratio: baseline.mbPerSec > 0 ? parley.mbPerSec / baseline.mbPerSec : 0,
    held: { requested: options.attachmentsHeld, holdMs: options.attachmentHoldMs, parley: held.parley!, baseline: held.baseline! },
    readBack,
    profile,
  };
}

/** RSS, and heap + external memory after a full garbage collection (the probe says when it could not collect). */
async function memoryOf(probe: ProbeClient): Promise<MemoryReading> {
  const memory = await probe.memory();
  if (!memory.isCollected) throw new Error('the probe could not run a garbage collection before reading memory');
  return { rssBytes: memory.rssBytes, heapBytes: memory.heapUsedBytes + memory.externalBytes };
}
