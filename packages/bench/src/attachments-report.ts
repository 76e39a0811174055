/**
 * The attachments scenario in the report: its flat figures (for the summary and `--compare`) and its section of
 * docs/benchmarks.md. The section names the commit, command and mode it was measured with, because a run of that
 * scenario alone (`--only attachments --doc`) rewrites it without touching the rest of the doc (doc-sections.ts).
 */
import type { BenchResults } from './bench.js';
import type { UploadFigure } from './attachment-figures.js';
import { round } from './stats.js';

type Add = (key: string, label: string, unit: string, value: number | undefined, better: 'higher' | 'lower') => void;

/** Adds the attachments figures of `results` through `add` (report.ts figuresOf). */
export function addAttachmentFigures(results: BenchResults, add: Add): void {
  const attachments = results.attachments;
  if (!attachments) return;
  for (const [key, label, figure] of [
    ['parley', 'Attachments through the gateway', attachments.parley],
    ['baseline', 'Attachments, plain HTTP upload (baseline)', attachments.baseline],
  ] as const) {
    add(`attachments.${key}.mbPerSec`, `${label}: MB/s`, 'MB/s', figure.mbPerSec, 'higher');
    add(`attachments.${key}.part.p50`, `${label}: part PUT p50`, 'ms', figure.part.p50, 'lower');
    add(`attachments.${key}.part.p99`, `${label}: part PUT p99`, 'ms', figure.part.p99, 'lower');
    add(`attachments.${key}.serverCpuMsPerMb`, `${label}: server CPU per MB`, 'ms', figure.serverCpuMsPerMb, 'lower');
    add(`attachments.${key}.totalCpuMsPerMb`, `${label}: server + PostgreSQL CPU per MB`, 'ms', figure.totalCpuMsPerMb, 'lower');
    add(`attachments.${key}.heapPerUpload`, `${label}: heap + buffers per upload in flight`, 'KB', attachments.held[key].heapPerUploadBytes / 1024, 'lower');
  }
  add('attachments.ratio', 'Attachments: gateway MB/s ÷ plain upload MB/s', '×', attachments.ratio, 'higher');
}

const fmt = (value: number | undefined) => (value === undefined || !Number.isFinite(value) ? '—' : `${round(value)}`);
const mb = (bytes: number) => `${round(bytes / 2 ** 20)} MiB`;
const kb = (bytes: number) => `${round(bytes / 1024)} KB`;
const counts = (record: Record<string, number>) =>
  Object.entries(record)
    .map(([key, count]) => `${key} × ${count}`)
    .join(', ');

function uploadRow(name: string, figure: UploadFigure, base: number | undefined): string {
  const failed = figure.runs.flatMap((run) => Object.entries(run.errors).map(([code, count]) => `${code} × ${count}`));
  const control = figure.control.count > 0 ? `${fmt(figure.control.p50)} / ${fmt(figure.control.p99)}` : 'none';
  const total = figure.totalCpuMsPerMb === undefined ? '—' : `**${fmt(figure.totalCpuMsPerMb)}**`;
  return `| ${name} | ${fmt(figure.mbPerSec)} | ${base ? `${(figure.mbPerSec / base).toFixed(2)}×` : '—'} | ${fmt(figure.part.p50)} / ${fmt(figure.part.p95)} / ${fmt(figure.part.p99)} | ${control} | ${fmt(figure.serverCpuMsPerMb)} | ${fmt(figure.pgCpuMsPerMb)} | ${total} | ${fmt(figure.clientCpuMsPerMb)} | ${figure.runs.map((run) => fmt(run.mbPerSec)).join(', ')}${failed.length ? `; failed: ${failed.join(', ')}` : ''} |`;
}

/** The attachments section of docs/benchmarks.md (without its markers); says so when the run did not measure it. */
export function attachmentsSection(results: BenchResults, resultsFile?: string): string {
  const m = results.meta;
  const lines: string[] = ['## Attachments (scenario 9, issue #18)', ''];
  lines.push(
    `Measured **${m.date.slice(0, 16).replace('T', ' ')} UTC** with \`${m.command}\` (${m.mode} run, ${m.runs} run(s) per figure, median shown) at commit **${m.commit}**${m.isDirty ? ' — **dirty tree: not for the doc**' : ''}.${resultsFile ? ` Raw figures: [\`${resultsFile}\`](../${resultsFile}).` : ''}`,
    '',
  );
  const a = results.attachments;
  if (!a) {
    const reason = results.skipped.find((skipped) => skipped.scenario === 'attachments')?.reason ?? 'not part of this run';
    lines.push(`Not measured: ${reason}.`);
    return lines.join('\n');
  }
  lines.push(
    `${a.uploaders} patients upload at once, each one file of ${mb(a.fileBytes)} (\`${a.contentType}\`) into their open conversation: ${a.cipherBytes} bytes of ciphertext, encrypted once before the runs with \`@parley/crypto\`'s \`encryptFile\` (the same bytes every run, so the load generators measure the servers, not libsodium), sent as ${a.parts} parts of ${a.partBytes} bytes (one secretstream chunk each), one part at a time per upload. **Through the gateway**: \`POST /api/attachments/uploads\`, a \`PUT\` per part, \`POST …/complete\` (session, membership, type, caps and rate checks; parts stored in PostgreSQL). **Plain HTTP upload** (the baseline server, \`baseline-server.ts\`): the same bytes in the same parts with the same client code, to a route that stores each part with one INSERT into the same PostgreSQL, no authentication, no checks. **Interleaved** run by run (plain, gateway, plain, …); every upload is removed after its run, outside the measured time. Both servers are processes started for this scenario. MB is 10^6 bytes; MB/s is the ciphertext of the finished uploads over the time from the common start to the last upload's end; CPU per MB counts the server process and PostgreSQL's processes as the tables above do.`,
    '',
  );
  lines.push(
    '| Server | MB/s | ÷ plain upload | part PUT p50 / p95 / p99 (ms) | create, complete p50 / p99 (ms) | server CPU ms per MB | PostgreSQL CPU ms per MB | sum | load-gen CPU ms per MB | MB/s of each run |',
    '|---|---|---|---|---|---|---|---|---|---|',
  );
  lines.push(uploadRow('plain HTTP upload (one INSERT per part, no checks)', a.baseline, a.baseline.mbPerSec));
  lines.push(uploadRow('**Parley gateway** (upload routes)', a.parley, a.baseline.mbPerSec));
  lines.push('');
  lines.push(
    `**Memory per upload in flight**: on each freshly started server, after one warm-up upload per patient (removed) and ${round(a.held.holdMs / 1000)} s of settling, its memory is read; then ${a.held.requested} uploads are opened (the gateway's created first), each with its first part's PUT on a connection of its own and half the part written, the rest held back; after another ${round(a.held.holdMs / 1000)} s the memory is read again, and the difference divided by the uploads held. Two measures: **heap + buffers**, the JavaScript heap plus external memory (Buffers) right after a full garbage collection, read inside the process by the bench probe (\`probe.ts\`, loaded into both servers for this scenario): what the process still holds for the uploads; and **RSS** (\`process.memoryUsage().rss\`, at the same moments), which also counts allocator slack and moves in steps, so that with few uploads it is mostly noise (pages freed by the warm-up are reused). Then the parts are finished and the server's answers counted.`,
    '',
  );
  lines.push(
    '| Server | uploads in flight | heap + buffers: idle → in flight | **heap + buffers per upload in flight** | RSS: idle → in flight | RSS per upload in flight | answers when finished |',
    '|---|---|---|---|---|---|---|',
  );
  for (const [name, held] of [
    ['plain HTTP upload', a.held.baseline],
    ['**Parley gateway**', a.held.parley],
  ] as const)
    lines.push(
      `| ${name} | ${held.held} | ${mb(held.idle.heapBytes)} → ${mb(held.inFlight.heapBytes)} | **${kb(held.heapPerUploadBytes)}** | ${mb(held.idle.rssBytes)} → ${mb(held.inFlight.rssBytes)} | ${kb(held.rssPerUploadBytes)} | ${counts(held.answers) || '—'} |`,
    );
  lines.push('');
  if (a.readBack)
    lines.push(
      `Read back: one of the gateway's uploads, fetched by its uploader (\`GET /api/attachments/:id\`): status ${a.readBack.status}, ${a.readBack.isIdentical ? 'the same bytes as uploaded' : '**not the bytes uploaded**'}, \`Cache-Control: ${a.readBack.cacheControl ?? '(none)'}\`.`,
    );
  else lines.push('Read back: no upload through the gateway finished, so none was read back.');
  const profile = a.profile;
  if (profile) {
    const perMb = a.parley.serverCpuMsPerMb;
    lines.push(
      '',
      `**Where the gateway's ${fmt(perMb)} ms of CPU per MB go**: one more upload run under the CPU profiler (${fmt(profile.mbPerSec)} MB/s; raw profile in \`${profile.file}\`, not committed). Idle ${Math.round(profile.idleShare * 100)} % of the samples; ms per MB is each line's share of the busy samples × ${fmt(perMb)}.`,
      '',
      '| Package | self time share | ms per MB |',
      '|---|---|---|',
      ...profile.packages.slice(0, 8).map((line) => `| ${line.name} | ${(line.share * 100).toFixed(1)} % | ${fmt(line.share * perMb)} |`),
      '',
      '| Function (top self time) | share | ms per MB |',
      '|---|---|---|',
      ...profile.functions
        .slice(0, 8)
        .map((line) => `| \`${line.name.replace(/\|/g, '\\|')}\` | ${(line.share * 100).toFixed(1)} % | ${fmt(line.share * perMb)} |`),
    );
  }
  return lines.join('\n');
}
