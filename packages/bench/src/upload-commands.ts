/**
 * The load worker's commands for the attachments scenario (worker.ts adds them to its own): uploads started together
 * at a given time, uploads held mid-part, and their removal afterwards. Each worker reads the ciphertext once from the
 * file the bench wrote (the same bytes for every run and every server).
 */
import { readFile } from 'node:fs/promises';
import { addTo } from './attachment-figures.js';
import { monoMs, processCpuMs, sleep } from './stats.js';
import { holdPart, removeUpload, uploadOnce, type HeldPart, type UploaderSpec, type UploadTarget } from './upload-client.js';

/** What one worker reports for one upload run. */
export interface UploadRunAnswer {
  bytes: number;
  uploads: number;
  failed: number;
  errors: Record<string, number>;
  finishedAt: number;
  partMs: number[];
  controlMs: number[];
  cpuMs: number;
  /** One finished upload, for the bench to read back. */
  sample?: { uploader: UploaderSpec; uploadId: string };
}

interface UploadArgs {
  target: UploadTarget;
  uploaders: UploaderSpec[];
  cipherPath: string;
  contentType: string;
  startAt: number;
}

let cipher: { path: string; bytes: Uint8Array } | undefined;
/** Uploads made by this worker and not removed yet, by target kind. */
const made: { target: UploadTarget; uploader: UploaderSpec; uploadId: string }[] = [];
let held: HeldPart[] = [];

async function cipherAt(path: string): Promise<Uint8Array> {
  if (cipher?.path !== path) cipher = { path, bytes: new Uint8Array(await readFile(path)) };
  return cipher.bytes;
}

/** Every uploader uploads the file once, all starting at `startAt` (the shared monotonic clock). */
async function upload(args: UploadArgs): Promise<UploadRunAnswer> {
  const bytes = await cipherAt(args.cipherPath);
  const cpuBefore = processCpuMs();
  await sleep(Math.max(0, args.startAt - monoMs()));
  const outcomes = await Promise.all(args.uploaders.map((uploader) => uploadOnce(args.target, uploader, bytes, args.contentType)));
  const answer: UploadRunAnswer = { bytes: 0, uploads: outcomes.length, failed: 0, errors: {}, finishedAt: 0, partMs: [], controlMs: [], cpuMs: 0 };
  outcomes.forEach((outcome, index) => {
    const uploader = args.uploaders[index]!;
    if (outcome.uploadId) made.push({ target: args.target, uploader, uploadId: outcome.uploadId });
    answer.bytes += outcome.bytes;
    answer.finishedAt = Math.max(answer.finishedAt, outcome.finishedAt);
    answer.partMs.push(...outcome.partMs);
    answer.controlMs.push(...outcome.controlMs);
    if (outcome.ok && outcome.uploadId) answer.sample ??= { uploader, uploadId: outcome.uploadId };
    if (!outcome.ok) {
      answer.failed++;
      addTo(answer.errors, { [outcome.error ?? 'failed']: 1 });
    }
  });
  answer.cpuMs = processCpuMs() - cpuBefore;
  return answer;
}

/** Opens `count` uploads spread over the uploaders, each with its first part half written, and leaves them open. */
async function hold(args: Omit<UploadArgs, 'startAt'> & { count: number }): Promise<{ held: number; errors: Record<string, number> }> {
  const bytes = await cipherAt(args.cipherPath);
  const errors: Record<string, number> = {};
  const answers = await Promise.all(
    Array.from({ length: args.count }, (_, index) => holdPart(args.target, args.uploaders[index % args.uploaders.length]!, bytes, args.contentType)),
  );
  for (const answer of answers) {
    if (typeof answer === 'string') addTo(errors, { [answer]: 1 });
    else {
      held.push(answer);
      made.push({ target: args.target, uploader: answer.uploader, uploadId: answer.uploadId });
    }
  }
  return { held: held.length, errors };
}

/** Writes the rest of every held part and waits for the server's answers (status → count). */
async function release(): Promise<{ answers: Record<string, number> }> {
  const statuses = await Promise.all(held.map((part) => part.finish()));
  held = [];
  const answers: Record<string, number> = {};
  for (const status of statuses) addTo(answers, { [String(status)]: 1 });
  return { answers };
}

/** Removes every upload this worker made (outside the measured time), so runs do not add up against the caps. */
async function removeAll(): Promise<{ removed: number; failed: number }> {
  const list = made.splice(0);
  const removed = await Promise.all(list.map((upload) => removeUpload(upload.target, upload.uploader, upload.uploadId).catch(() => false)));
  return { removed: removed.filter(Boolean).length, failed: removed.filter((ok) => !ok).length };
}

/** The commands, by name, for worker.ts. */
export const uploadCommands: Record<string, (args: never) => Promise<unknown>> = {
  attachmentsUpload: (args: UploadArgs) => upload(args),
  attachmentsHold: (args: Omit<UploadArgs, 'startAt'> & { count: number }) => hold(args),
  attachmentsRelease: () => release(),
  attachmentsRemove: () => removeAll(),
};
