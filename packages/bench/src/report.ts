import { addAttachmentFigures, attachmentsSection } from './attachments-report.js';
import { CHAT_INTERVAL_MS, type BenchResults, type LoadFigure } from './bench.js';
import { lineChart, type Series } from './chart.js';
import { ATTACHMENTS_SECTION, markedSection } from './doc-sections.js';
import { round } from './stats.js';

/** One figure of the report, flat, as `--compare` matches them between runs. */
export interface Figure {
  label: string;
  unit: string;
  value: number;
  /** Which way is an improvement. */
  better: 'higher' | 'lower';
}

/** Every figure of a run by a stable key. */
export function figuresOf(results: BenchResults): Record<string, Figure> {
  const figures: Record<string, Figure> = {};
  const add = (key: string, label: string, unit: string, value: number | undefined, better: Figure['better']) => {
    if (value !== undefined && Number.isFinite(value)) figures[key] = { label, unit, value, better };
  };
  const load = (key: string, label: string, figure: LoadFigure | undefined) => {
    if (!figure) return;
    add(`${key}.rate`, `${label}: msgs/s`, 'msgs/s', figure.ratePerSec, 'higher');
    add(`${key}.ack.p50`, `${label}: send→ack p50`, 'ms', figure.ack.p50, 'lower');
    add(`${key}.ack.p95`, `${label}: send→ack p95`, 'ms', figure.ack.p95, 'lower');
    add(`${key}.ack.p99`, `${label}: send→ack p99`, 'ms', figure.ack.p99, 'lower');
    add(`${key}.delivered.p50`, `${label}: send→delivered p50`, 'ms', figure.delivery.p50, 'lower');
    add(`${key}.delivered.p95`, `${label}: send→delivered p95`, 'ms', figure.delivery.p95, 'lower');
    add(`${key}.delivered.p99`, `${label}: send→delivered p99`, 'ms', figure.delivery.p99, 'lower');
    add(`${key}.serverCpuPerKMsg`, `${label}: server CPU per 1,000 msgs`, 'ms', figure.serverCpuPerKMsg, 'lower');
    add(`${key}.pgCpuPerKMsg`, `${label}: PostgreSQL CPU per 1,000 msgs`, 'ms', figure.pgCpuPerKMsg, 'lower');
    add(`${key}.totalCpuPerKMsg`, `${label}: server + PostgreSQL CPU per 1,000 msgs`, 'ms', figure.totalCpuPerKMsg, 'lower');
    add(`${key}.clientCpuPerKMsg`, `${label}: load-generator CPU per 1,000 msgs`, 'ms', figure.clientCpuPerKMsg, 'lower');
  };
  load('baseline.relay', 'Bare socket.io relay', results.baselines?.relay);
  load('baseline.pgInsert', 'Relay + one INSERT per message', results.baselines?.pgInsert);
  load('maxRate', 'Parley, max rate', results.maxRate);
  for (const fixed of results.fixedRate ?? []) load(`fixedRate.${fixed.offered}`, `Parley at ${fixed.offered} msgs/s offered (${fixed.label})`, fixed.figure);
  load('twoNodes', 'Parley, two nodes, max rate', results.twoNodes);
  if (results.baselines && results.maxRate) {
    add('ratio.relay', 'Parley max ÷ bare relay max', '×', results.maxRate.ratePerSec / results.baselines.relay.ratePerSec, 'higher');
    add('ratio.pgInsert', 'Parley max ÷ one-INSERT baseline max', '×', results.maxRate.ratePerSec / results.baselines.pgInsert.ratePerSec, 'higher');
  }
  if (results.twoNodes && results.maxRate)
    add('ratio.twoNodes', 'two nodes ÷ one node, max rate', '×', results.twoNodes.ratePerSec / results.maxRate.ratePerSec, 'higher');
  for (const window of results.pipelined ?? []) {
    add(`pipelined.${window.window}.outOfOrder`, `Pipelined, window ${window.window}: stored out of order`, 'count', window.counts.outOfOrder, 'lower');
    add(`pipelined.${window.window}.lost`, `Pipelined, window ${window.window}: lost`, 'count', window.counts.lost, 'lower');
    add(`pipelined.${window.window}.duplicated`, `Pipelined, window ${window.window}: duplicated`, 'count', window.counts.duplicated, 'lower');
  }
  const idle = results.idle;
  if (idle) {
    add('idle.connected', 'Idle scenario: sockets held', 'sockets', idle.connected, 'higher');
    add('idle.rssPerSocket', 'Server RSS per idle authenticated socket', 'KB', idle.rssPerSocketBytes / 1024, 'lower');
    add('idle.lag.p99', 'Event-loop lag p99, sockets idle', 'ms', idle.lagIdle.p99, 'lower');
    add('idle.chatLag.p99', 'Event-loop lag p99, 5 % chatting', 'ms', idle.chatting.lag.p99, 'lower');
    add('idle.chatAck.p99', 'send→ack p99 while 5 % chat', 'ms', idle.chatting.ack.p99, 'lower');
  }
  for (const [key, queue] of [
    ['queue', results.queue],
    ['queueTwoNodes', results.queueTwoNodes],
  ] as const) {
    if (!queue) continue;
    const where = key === 'queue' ? 'one node' : 'two nodes';
    add(`${key}.openAck.p50`, `Queue (${where}): open→acknowledged p50`, 'ms', queue.openAck.p50, 'lower');
    add(`${key}.openAck.p99`, `Queue (${where}): open→acknowledged p99`, 'ms', queue.openAck.p99, 'lower');
    add(`${key}.openAssigned.p50`, `Queue (${where}): open→assigned p50`, 'ms', queue.openAssigned.p50, 'lower');
    add(`${key}.openAssigned.p99`, `Queue (${where}): open→assigned p99`, 'ms', queue.openAssigned.p99, 'lower');
    add(`${key}.capViolations`, `Queue (${where}): cap violations`, 'count', queue.capViolations, 'lower');
  }
  addAttachmentFigures(results, add);
  const crypto = results.crypto;
  if (crypto) {
    add('crypto.encryptSign', 'Encrypt + sign one message', 'µs', crypto.encryptSignUs, 'lower');
    add('crypto.verifyDecrypt', 'Verify + decrypt one message', 'µs', crypto.verifyDecryptUs, 'lower');
    add('crypto.openEnvelopes', 'New epoch sealed to 3 recipients (an open)', 'µs', crypto.openEnvelopesUs, 'lower');
    add('crypto.passphrase', `Passphrase derivation (${crypto.kdf})`, 'ms', crypto.passphraseDerivationMs, 'lower');
  }
  const bundle = results.bundle;
  if (bundle?.status === 'measured') {
    add('bundle.firstScreen', 'Patient app, first screen JS (gzip)', 'KB', bundle.firstScreenGzipBytes / 1024, 'lower');
    add('bundle.lazySodium', 'Patient app, libsodium loaded when needed (gzip)', 'KB', bundle.lazySodiumGzipBytes / 1024, 'lower');
  }
  return figures;
}

/** One target of issue #16 (or one of issue #7's still meaningful), evaluated on this run. */
export interface TargetCheck {
  target: string;
  measured: string;
  status: 'pass' | 'miss' | 'not measured';
}

/** The issue's targets against this run's figures. */
export function checkTargets(results: BenchResults): TargetCheck[] {
  const checks: TargetCheck[] = [];
  const check = (target: string, value: number | undefined, limit: number, kind: 'min' | 'max', show: (value: number) => string) => {
    if (value === undefined || !Number.isFinite(value)) return checks.push({ target, measured: '—', status: 'not measured' });
    const isMet = kind === 'min' ? value >= limit : value <= limit;
    checks.push({ target, measured: show(value), status: isMet ? 'pass' : 'miss' });
  };
  const max = results.maxRate?.ratePerSec;
  const relay = results.baselines?.relay.ratePerSec;
  const pgInsert = results.baselines?.pgInsert.ratePerSec;
  const vs = (base: number | undefined) => (v: number) => `${v.toFixed(2)}× (${round(max!)} vs ${round(base!)} msgs/s)`;
  check('Full path ≥ 2.5× the one-INSERT-per-message server (the goal)', max && pgInsert ? max / pgInsert : undefined, 2.5, 'min', vs(pgInsert));
  check(
    'Full path ≥ 1.5× the one-INSERT-per-message server (the floor: land nothing below it)',
    max && pgInsert ? max / pgInsert : undefined,
    1.5,
    'min',
    vs(pgInsert),
  );
  check('Full path ≥ 0.5× the bare relay', max && relay ? max / relay : undefined, 0.5, 'min', vs(relay));
  const atHalfRelay = results.fixedRate?.find((fixed) => fixed.relayFraction === 0.5);
  check(
    'At 50 % of the bare relay’s max offered: p99 send→ack ≤ 25 ms',
    atHalfRelay?.figure.ack.p99,
    25,
    'max',
    (v) => `${round(v)} ms (${atHalfRelay!.offered} msgs/s offered)`,
  );
  check(
    'open→assigned p99 ≤ 100 ms with 1,000 patients arriving over 2 s',
    results.queue?.openAssigned.p99,
    100,
    'max',
    (v) => `${round(v)} ms (${results.queue!.patients} patients over ${results.queue!.spreadMs} ms)`,
  );
  for (const window of results.pipelined ?? []) {
    const { outOfOrder, lost, duplicated } = window.counts;
    check(
      `Pipelined sends, window ${window.window}: 0 out of order, 0 lost, 0 duplicated`,
      outOfOrder + lost + duplicated,
      0,
      'max',
      () => `${outOfOrder} out of order, ${lost} lost, ${duplicated} duplicated (${window.sent} sent, ${window.reconnects} reconnects)`,
    );
  }
  if (!results.pipelined)
    checks.push({ target: 'Pipelined sends (windows 8 and 32): 0 out of order, 0 lost, 0 duplicated', measured: '—', status: 'not measured' });
  check(
    'Idle memory per authenticated socket ≤ 32 KB, on a freshly started gateway',
    results.idle ? results.idle.rssPerSocketBytes / 1024 : undefined,
    32,
    'max',
    (v) => `${round(v)} KB`,
  );
  check('10,000 sockets held', results.idle?.connected, 10_000, 'min', (v) => `${v} sockets`);
  const lag = results.idle ? Math.max(results.idle.lagIdle.p99, results.idle.chatting.lag.p99) : undefined;
  check('Event-loop lag p99 ≤ 20 ms with the sockets held (idle and 5 % chatting)', lag, 20, 'max', (v) => `${round(v)} ms`);
  check(
    'No cap violations while measuring',
    results.queue ? results.queue.capViolations + (results.queueTwoNodes?.capViolations ?? 0) : undefined,
    0,
    'max',
    (v) => `${v}`,
  );
  check(
    'Patient first screen ≤ 150 KB gzipped JavaScript',
    results.bundle?.status === 'measured' ? results.bundle.firstScreenGzipBytes / 1024 : undefined,
    150,
    'max',
    (v) => `${round(v)} KB`,
  );
  return checks;
}

/** The latency-vs-offered-load chart (send→ack and send→delivered percentiles at each fixed rate and at the maximum). */
export function latencyChart(results: BenchResults): string | undefined {
  const fixed = [...(results.fixedRate ?? [])].sort((a, b) => a.offered - b.offered);
  if (fixed.length === 0) return undefined;
  const at = (pick: (figure: LoadFigure) => number) => fixed.map((entry) => ({ x: entry.offered, y: pick(entry.figure) }));
  const series: Series[] = [
    { name: 'send→ack p50', points: at((figure) => figure.ack.p50) },
    { name: 'send→ack p95', points: at((figure) => figure.ack.p95) },
    { name: 'send→ack p99', points: at((figure) => figure.ack.p99) },
    { name: 'send→delivered p99', points: at((figure) => figure.delivery.p99), dashed: true },
  ];
  return lineChart({
    title: 'Parley gateway: latency vs load (fixed offered rates)',
    xLabel: 'offered load (messages per second)',
    yLabel: 'latency (ms, log scale)',
    series,
    isLogY: true,
    yLine: { y: 25, label: 'target: p99 send→ack ≤ 25 ms at 50 % of the bare relay’s max' },
  });
}

/** Max throughput of the gateway and the baselines, as horizontal bars. */
export function throughputChart(results: BenchResults): string | undefined {
  const bars = [
    ['Bare socket.io relay', results.baselines?.relay.ratePerSec],
    ['Relay + 1 INSERT/msg (pg, autocommit)', results.baselines?.pgInsert.ratePerSec],
    ['Parley, one node', results.maxRate?.ratePerSec],
    ['Parley, two nodes (Redis)', results.twoNodes?.ratePerSec],
  ].filter((bar): bar is [string, number] => typeof bar[1] === 'number');
  if (bars.length === 0) return undefined;
  const width = 720;
  const rowH = 34;
  const left = 260;
  const height = 60 + bars.length * rowH;
  const max = Math.max(...bars.map((bar) => bar[1]));
  const out = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="12">`,
    `<rect width="${width}" height="${height}" fill="#ffffff"/>`,
  ];
  out.push(`<text x="${width / 2}" y="22" text-anchor="middle" font-size="15" font-weight="bold">Max sustained messages/s (median of runs)</text>`);
  bars.forEach(([name, value], index) => {
    const y = 40 + index * rowH;
    const barW = ((width - left - 90) * value) / max;
    out.push(`<text x="${left - 8}" y="${y + 17}" text-anchor="end">${name}</text>`);
    out.push(`<rect x="${left}" y="${y + 4}" width="${barW.toFixed(1)}" height="20" fill="${name.startsWith('Parley') ? '#1f77b4' : '#aaaaaa'}"/>`);
    out.push(`<text x="${left + barW + 6}" y="${y + 18}">${Math.round(value)}</text>`);
  });
  out.push('</svg>');
  return `${out.join('\n')}\n`;
}

const fmt = (value: number | undefined, unit = '') => (value === undefined || !Number.isFinite(value) ? '—' : `${round(value)}${unit}`);
const kb = (bytes: number) => (bytes >= 10 * 2 ** 20 ? `${round(bytes / 2 ** 20)} MB` : `${round(bytes / 1024)} KB`);

function loadRow(name: string, figure: LoadFigure | undefined, relay?: number, pgInsert?: number): string {
  if (!figure) return `| ${name} | — | | | | | | | | | |`;
  const ratio = (base?: number) => (base ? `${(figure.ratePerSec / base).toFixed(2)}×` : '—');
  return `| ${name} | ${fmt(figure.ratePerSec)} | ${ratio(relay)} | ${ratio(pgInsert)} | ${fmt(figure.ack.p50)} / ${fmt(figure.ack.p95)} / ${fmt(figure.ack.p99)} | ${fmt(figure.delivery.p50)} / ${fmt(figure.delivery.p95)} / ${fmt(figure.delivery.p99)} | ${cpuCells(figure)} | ${fmt(figure.clientCpuPerKMsg)} | ${runsOf(figure)} |`;
}

/** Server process, PostgreSQL, and their sum: ms of CPU per 1,000 acked messages. */
function cpuCells(figure: LoadFigure): string {
  return `${fmt(figure.serverCpuPerKMsg)} | ${fmt(figure.pgCpuPerKMsg)} | ${figure.totalCpuPerKMsg === undefined ? '—' : `**${fmt(figure.totalCpuPerKMsg)}**`}`;
}

function runsOf(figure: LoadFigure): string {
  const errors = figure.runs.flatMap((run) => Object.entries(run.errors).map(([code, count]) => `${code} ${count}`));
  const dry = figure.runs.reduce((sum, run) => sum + run.exhaustedSenders, 0);
  const shed = figure.runs.map((run) => run.shed ?? 0);
  const batches = figure.runs.map((run) => run.meanBatch).filter((batch): batch is number => batch !== undefined);
  return `${figure.runs.map((run) => round(run.ratePerSec)).join(', ')}${batches.length ? ` (mean batch ${batches.map((batch) => round(batch)).join(', ')})` : ''}${shed.some((count) => count > 0) ? `; rate_limited and retried: ${shed.join(', ')}` : ''}${errors.length ? `; errors: ${errors.join(', ')}` : ''}${dry ? `; ${dry} pools ran dry` : ''}`;
}

/** docs/benchmarks.md for a run. `findings` is the hand-written analysis kept next to the generator. */
export function renderDoc(results: BenchResults, findings: string, charts: { latency?: string; throughput?: string }, resultsFile?: string): string {
  const m = results.meta;
  const relay = results.baselines?.relay.ratePerSec;
  const pgInsert = results.baselines?.pgInsert.ratePerSec;
  const lines: string[] = [];
  lines.push('# Benchmarks', '');
  lines.push('<!-- Generated by `pnpm bench` (packages/bench); edit packages/bench/src/findings.md or the generator, not this file. -->', '');
  lines.push(
    `Measured **${m.date.slice(0, 16).replace('T', ' ')} UTC** with \`${m.command}\` (${m.mode} run, ${m.runs} run(s) per figure, median shown; ${m.durationS} s in all) at commit **${m.commit}**${m.isDirty ? ' — **dirty tree: not for the doc**' : ' (a clean tree: `pnpm bench` refuses a full run with uncommitted changes)'}.${resultsFile ? ` Every raw figure of this run: [\`${resultsFile}\`](../${resultsFile}), committed with this file.` : ''}`,
    '',
  );
  lines.push('## Machine', '');
  lines.push('| | |', '|---|---|');
  lines.push(`| CPU | ${m.machine.cpu}, ${m.machine.cores} cores, shared by the gateway, PostgreSQL and the load generators |`);
  lines.push(`| Memory | ${m.machine.memoryGb} GB |`);
  lines.push(`| OS / Node | ${m.machine.os} / ${m.machine.node} |`);
  lines.push(`| Load average at start | ${m.machine.load} |`);
  lines.push(`| Database | ${m.database || '—'} |`);
  lines.push(`| Redis | ${m.redis || '—'} |`);
  lines.push(
    `| Load generators | ${m.workers} forked processes, real socket.io clients (\`@parley/client\` for the gateway, \`socket.io-client\` for the baselines), ${m.pairs} patient–clinician pairs, both members sending |`,
  );
  lines.push(`| File descriptors | \`ulimit -n\` ${m.fdLimit} |`);
  if (results.setup)
    lines.push(
      `| Set-up | ${results.setup.clinicians} staff and ${results.setup.patients} patients activated for real through \`@parley/sdk\` (Argon2id on the server per account), ${results.setup.pairs} conversations opened and routed: ${results.setup.seconds} s |`,
    );
  lines.push('');
  lines.push('## Targets', '');
  lines.push('| Target (issue #16) | Measured | |', '|---|---|---|');
  for (const check of checkTargets(results))
    lines.push(`| ${check.target} | ${check.measured} | ${check.status === 'pass' ? '✅ pass' : check.status === 'miss' ? '❌ miss' : '— not measured'} |`);
  if (m.mode !== 'full') lines.push('', `_This is a ${m.mode} run with small counts: its figures are not comparable with the targets._`);
  for (const skipped of results.skipped) lines.push('', `**${skipped.scenario}: ${skipped.reason}**`);
  lines.push('');

  lines.push('## Relay throughput and latency (scenarios 1, 3, 7)', '');
  lines.push(
    `Closed loop: every sender keeps ${m.options.window} sends in flight for the whole run; the first ${m.options.maxWarmupMs} ms of each ${m.options.maxDurationMs} ms run are warm-up and not measured. "send→delivered" is measured at the other member of the pair, from the moment of sending. A send refused with \`rate_limited\` (the gateway shedding load) is retried with the same payload after a growing pause, as a client's outbox does, its latency counted from the first send; the refusals are listed with each run. **Interleaved:** the runs go round by round — relay, one-INSERT server, Parley, relay, … — so that a noisy neighbour on the shared machine hits all three alike; all three servers are up for the whole round, each with its own connected pairs, idle while another is measured.`,
    '',
    "CPU per 1,000 acked messages (ms; the same number is µs per message): the server process (the gateway, or the baseline's own process), **PostgreSQL** (its postmaster and every child process, read from `/proc/<pid>/stat` before and after each run; on a server shared with others only the backends of the bench's databases, plus the auxiliary processes), and their sum. The bare relay has no database: its PostgreSQL column is what PostgreSQL did in the background meanwhile.",
    '',
  );
  lines.push(
    '| Server | msgs/s | ÷ relay | ÷ 1-INSERT | send→ack p50 / p95 / p99 (ms) | send→delivered p50 / p95 / p99 (ms) | server CPU ms per 1k msgs | PostgreSQL CPU ms per 1k msgs | sum | load-gen CPU ms per 1k msgs | msgs/s of each run |',
  );
  lines.push('|---|---|---|---|---|---|---|---|---|---|---|');
  lines.push(loadRow('(a) bare socket.io relay', results.baselines?.relay, relay, pgInsert));
  lines.push(loadRow('(b) relay + one INSERT per message (raw pg, autocommit, pool of 10)', results.baselines?.pgInsert, relay, pgInsert));
  lines.push(loadRow('**Parley gateway** (auth, validation, authorisation, sequence, hash chain, commit before ack)', results.maxRate, relay, pgInsert));
  lines.push(loadRow('Parley, two nodes + Redis streams adapter (every message crosses nodes)', results.twoNodes, relay, pgInsert));
  lines.push('');
  if (charts.throughput) lines.push('![Max sustained messages per second](benchmarks-throughput.svg)', '');
  const maxRun = results.maxRate?.runs[0];
  if (maxRun) {
    const share = (cpuMs: number) => `${Math.round((cpuMs / (maxRun.durationMs * m.machine.cores)) * 100)} %`;
    lines.push(
      `What sharing ${m.machine.cores} cores costs: during a max-rate run the load generators used ${share(maxRun.clientCpuMs)} of the machine's CPU, the gateway ${share(maxRun.serverCpuMs)}${maxRun.pgCpuMs === undefined ? '' : ` and PostgreSQL ${share(maxRun.pgCpuMs)}`} (the other processes the rest). Every server here, baselines included, is measured with the same generators on the same cores, so the ratios hold better than the absolute figures; a dedicated client machine would raise all of them.`,
      '',
    );
  }
  const verified = [results.maxRate, results.twoNodes].flatMap((figure) => figure?.runs ?? []).reduce((sum, run) => sum + run.verified, 0);
  const verifyFailures = [results.maxRate, results.twoNodes].flatMap((figure) => figure?.runs ?? []).reduce((sum, run) => sum + run.verifyFailures, 0);
  lines.push(
    `Payloads are real: each sender's messages are encrypted and signed with the real crypto before the run starts (a pool per sender, so the load generators measure the server, not libsodium); receivers decrypted and verified a sample of ${verified} delivered messages (${verifyFailures} failures). The baselines relay frames of the same size.`,
    '',
  );

  if (results.fixedRate?.length) {
    lines.push('## Latency at fixed offered load (scenario 2)', '');
    lines.push(
      `Open loop: sends go out on schedule whether or not earlier ones were answered, round robin over the senders; latency counts from the scheduled time (no coordinated omission), and a \`rate_limited\` refusal is retried as above, so shed load shows as latency. ${m.options.fixedDurationMs} ms per run, the first ${m.options.fixedWarmupMs} ms not measured.`,
      '',
    );
    lines.push(
      '| Offered | msgs/s acked (until the last ack) | send→ack p50 / p95 / p99 (ms) | send→delivered p50 / p95 / p99 (ms) | gateway CPU ms per 1k msgs | PostgreSQL CPU ms per 1k msgs | sum | msgs/s of each run |',
      '|---|---|---|---|---|---|---|---|',
    );
    for (const fixed of results.fixedRate) {
      const f = fixed.figure;
      lines.push(
        `| ${fixed.offered} msgs/s (${fixed.label}) | ${fmt(f.ratePerSec)} | ${fmt(f.ack.p50)} / ${fmt(f.ack.p95)} / ${fmt(f.ack.p99)} | ${fmt(f.delivery.p50)} / ${fmt(f.delivery.p95)} / ${fmt(f.delivery.p99)} | ${cpuCells(f)} | ${runsOf(f)} |`,
      );
    }
    lines.push('');
    if (charts.latency) lines.push('![Latency vs offered load](benchmarks-latency.svg)', '');
  }

  const pipelined = results.pipelined;
  if (pipelined?.length) {
    lines.push('## Pipelined sends (scenario 8, issue #16)', '');
    lines.push(
      `${pipelined[0]!.senders} patients, each on its own raw \`socket.io-client\` socket authenticated with its session token, send ${pipelined[0]!.messagesPerSender} real encrypted messages each (built like every other sender's) with a window of sends in flight, never waiting for an ack before the next send. During each window's run ${pipelined[0]!.disconnects} random disconnects hit a sender right after one of its sends; it reconnects and, like an outbox, resends every unacknowledged send with the same clientMessageId and senderDeviceSeq, in order. Afterwards each conversation is read back with \`conversation:sync\` and counted: **out of order** (a stored message whose senderDeviceSeq is lower than one the same sender had stored at a lower seq), **lost** (sent, acknowledged or not, and absent), **duplicated** (one clientMessageId stored more than once, per extra copy).`,
      '',
    );
    lines.push(
      '| Window | sent | acked | reconnects | resent | refusals | out of order | lost (of them acked) | duplicated | s |',
      '|---|---|---|---|---|---|---|---|---|---|',
    );
    for (const window of pipelined) {
      const refusals = Object.entries(window.errors).map(([code, count]) => `${code} ${count}`);
      lines.push(
        `| ${window.window} | ${window.sent} | ${window.acked}${window.unacked ? ` (${window.unacked} never acked)` : ''} | ${window.reconnects} | ${window.resent} | ${refusals.join(', ') || '0'} | **${window.counts.outOfOrder}** | **${window.counts.lost}** (${window.counts.lostAcked}) | **${window.counts.duplicated}** | ${round(window.durationMs / 1000)} |`,
      );
    }
    lines.push('');
  }

  const idle = results.idle;
  if (idle) {
    lines.push('## Idle connections (scenario 4)', '');
    lines.push(
      `${idle.connected} authenticated sockets (of ${idle.requested} asked; ${idle.note}). Patients' session tokens, several sockets per session, each a separate WebSocket through \`@parley/client\`. **Measured on a gateway process started for this scenario** (after the load runs a gateway holds hundreds of MB that would hide the sockets' share): it ran ${round(idle.freshGatewayAgeMs / 1000)} s before the first RSS reading, during which a few sockets (one in twenty, at most 50) connected and closed again so that code loaded on a first connection is not counted per socket; the second reading follows the sockets' connection and the same settling time. Each reading follows a full garbage collection, so that the garbage connecting leaves behind is not counted per socket.`,
      '',
    );
    lines.push('| | |', '|---|---|');
    lines.push(`| Server RSS before / after | ${kb(idle.rssBeforeBytes)} / ${kb(idle.rssAfterBytes)} |`);
    lines.push(`| **RSS per idle socket** ((after − before) ÷ sockets) | **${kb(idle.rssPerSocketBytes)}** |`);
    lines.push(`| Event-loop lag, idle: p50 / p99 / max | ${fmt(idle.lagIdle.p50)} / ${fmt(idle.lagIdle.p99)} / ${fmt(idle.lagIdle.max)} ms |`);
    lines.push(
      `| Event-loop lag, ${idle.chatting.sockets} sockets (5 %) chatting, each sending a message every ${CHAT_INTERVAL_MS / 1000} s (${fmt(idle.chatting.ratePerSec)} msgs/s in all): p50 / p99 / max | ${fmt(idle.chatting.lag.p50)} / ${fmt(idle.chatting.lag.p99)} / ${fmt(idle.chatting.lag.max)} ms |`,
    );
    lines.push(
      `| send→ack while chatting: p50 / p99 | ${fmt(idle.chatting.ack.p50)} / ${fmt(idle.chatting.ack.p99)} ms (${fmt(idle.chatting.ratePerSec)} msgs/s) |`,
    );
    lines.push(
      '',
      'The lag is measured inside the gateway process (perf_hooks `monitorEventLoopDelay`: how late a 5 ms timer fires) by the bench probe, a module the bench loads into the gateway with `NODE_OPTIONS=--import` (`packages/bench/src/probe.ts`); the gateway itself is unchanged and the probe is absent from any other run. RSS is `process.memoryUsage().rss`, read by the probe right after a full garbage collection.',
      '',
    );
  }

  // Between markers: `pnpm bench --only attachments --doc` rewrites this section alone (doc-sections.ts).
  lines.push(markedSection(ATTACHMENTS_SECTION, attachmentsSection(results, resultsFile)), '');

  for (const [title, queue] of [
    ['one node', results.queue],
    ['two nodes (Redis)', results.queueTwoNodes],
  ] as const) {
    if (!queue) continue;
    if (title === 'one node') lines.push('## Queue and assignment (scenario 5)', '');
    lines.push(
      `**${title}**: ${queue.patients} patients open a conversation each, spread evenly over ${queue.spreadMs} ms, against ${queue.clinicians} available clinicians capped at ${queue.capPerClinician} each. open→acknowledged is the open's ack (the automatic acknowledgement is in the record by then); open→assigned is when the clinician's client receives \`conversation:assigned\`. Between runs the clinicians close everything.`,
      '',
    );
    lines.push('| | p50 | p95 | p99 | max |', '|---|---|---|---|---|');
    lines.push(`| open→acknowledged (ms) | ${fmt(queue.openAck.p50)} | ${fmt(queue.openAck.p95)} | ${fmt(queue.openAck.p99)} | ${fmt(queue.openAck.max)} |`);
    lines.push(
      `| open→assigned (ms) | ${fmt(queue.openAssigned.p50)} | ${fmt(queue.openAssigned.p95)} | ${fmt(queue.openAssigned.p99)} | ${fmt(queue.openAssigned.max)} |`,
    );
    const failed = queue.runs.flatMap((run) => Object.entries(run.failedOpens).map(([code, count]) => `${code} ${count}`));
    lines.push(
      '',
      `Assigned: ${Math.round(queue.assignedShare * 100)} % (median of runs); cap violations: ${queue.capViolations}${failed.length ? `; refused opens: ${failed.join(', ')}` : ''}.`,
      '',
    );
  }

  const crypto = results.crypto;
  const bundle = results.bundle;
  if (crypto || bundle) {
    lines.push('## Client crypto and the patient bundle (scenario 6)', '');
    if (crypto) {
      lines.push('In Node, one core, `@parley/sdk` / `@parley/crypto` (libsodium-wrappers-sumo), median of runs:', '');
      lines.push('| Operation | Cost |', '|---|---|');
      lines.push(`| Encrypt + sign one message (XChaCha20-Poly1305 + Ed25519) | ${fmt(crypto.encryptSignUs)} µs |`);
      lines.push(`| Verify + decrypt one message | ${fmt(crypto.verifyDecryptUs)} µs |`);
      lines.push(`| New epoch key sealed to 3 recipients (opening a conversation) | ${fmt(crypto.openEnvelopesUs)} µs |`);
      lines.push(`| Passphrase derivation (${crypto.kdf}) | ${fmt(crypto.passphraseDerivationMs)} ms |`);
      lines.push('');
    }
    if (bundle) {
      if (bundle.status !== 'measured') lines.push(`Patient bundle: not measured (${bundle.note}).`, '');
      else {
        lines.push(
          `Patient app (\`apps/patient/dist\`, gzip level 9): the first screen is every \`<script src>\` and \`<link rel="modulepreload">\` of \`index.html\`.${bundle.note ? ` Note: ${bundle.note}.` : ''}`,
          '',
        );
        lines.push('| | gzip | raw |', '|---|---|---|');
        for (const file of bundle.firstScreenFiles) lines.push(`| first screen: \`${file.file}\` | ${kb(file.gzipBytes)} | ${kb(file.bytes)} |`);
        lines.push(`| **first screen JavaScript** | **${kb(bundle.firstScreenGzipBytes)}** | |`);
        for (const file of bundle.lazySodiumFiles)
          lines.push(`| libsodium, loaded when needed: \`${file.file}\` | ${kb(file.gzipBytes)} | ${kb(file.bytes)} |`);
        lines.push(`| all JavaScript of the app | ${kb(bundle.allJsGzipBytes)} | |`);
        lines.push('');
      }
    }
  }

  const profile = results.profile;
  if (profile) {
    const us = profile.gatewayUsPerMsg;
    lines.push('## Where each microsecond per message goes (max rate)', '');
    lines.push(
      `At max rate the gateway used **${fmt(us)} µs of CPU per message**${profile.postgresUsPerMsg === undefined ? '' : ` and PostgreSQL **${fmt(profile.postgresUsPerMsg)} µs** (its processes, as in the table above): **${fmt(us + profile.postgresUsPerMsg)} µs** in all`} (medians of the max-rate runs). The gateway's share is split below by its CPU profile: one extra max-rate run (${fmt(profile.profiledRatePerSec)} msgs/s under the profiler; V8 sampling profiler every 0.5 ms, the same as \`node --cpu-prof\`, started and stopped by the probe around the run; raw profile in \`${profile.file}\`, not committed). Idle ${Math.round(profile.idleShare * 100)} % of the samples; each line's µs per message is its share of the busy samples × ${fmt(us)} µs.`,
      '',
    );
    lines.push('| Package | self time share | µs per message |', '|---|---|---|');
    for (const line of profile.packages) lines.push(`| ${line.name} | ${(line.share * 100).toFixed(1)} % | ${fmt(line.share * us)} |`);
    if (profile.postgresUsPerMsg !== undefined) lines.push(`| _PostgreSQL (its own processes, not in the profile)_ | | ${fmt(profile.postgresUsPerMsg)} |`);
    lines.push('', '| Function (top self time) | share | µs per message |', '|---|---|---|');
    for (const line of profile.functions)
      lines.push(`| \`${line.name.replace(/\|/g, '\\|')}\` | ${(line.share * 100).toFixed(1)} % | ${fmt(line.share * us)} |`);
    lines.push('');
  }

  const queueProfile = results.queueProfile;
  if (queueProfile) {
    lines.push(
      '**During one more queue run** after the measured ones, not counted in the table (one node; raw profile in `' +
        queueProfile.file +
        '`), idle ' +
        `${Math.round(queueProfile.idleShare * 100)} %:`,
      '',
    );
    lines.push('| Package | self time share |', '|---|---|');
    for (const line of queueProfile.packages.slice(0, 8)) lines.push(`| ${line.name} | ${(line.share * 100).toFixed(1)} % |`);
    lines.push('');
  }

  lines.push(findings.trim(), '');
  lines.push('## Reproduce', '');
  lines.push(
    '```sh',
    'pnpm bench                      # everything, on a clean tree (it refuses uncommitted changes); rewrites this file and writes packages/bench/results/<date>-<commit>.json and latest.json, to commit with it',
    'pnpm bench --quick              # small counts, one run: for development (results/dev-quick.json, not committed)',
    'pnpm bench --only max-rate,queue   # some scenarios (crypto, baselines, max-rate, fixed-rate, pipelined, idle, queue, two-nodes, attachments, bundle)',
    'pnpm bench --only attachments --doc   # the attachments section alone, on a clean tree: rewrites only that section, which names its commit',
    'pnpm bench --allow-dirty --no-doc  # a full run on a tree with uncommitted changes: marked so, never the doc',
    'pnpm bench --compare packages/bench/results/reference.json   # prints the change of every figure',
    "pnpm --filter @parley/bench build && node packages/bench/dist/first-load.js --runs 3   # the web clients' first load over slow and fast 3G in Chromium (about 5 minutes); rewrites only its section",
    '```',
    '',
  );
  lines.push(
    'The database is an embedded PostgreSQL unless `TEST_DATABASE_URL` names a server; the two-node scenarios use `TEST_REDIS_URL`, `REDIS_URL`, or a Redis on 127.0.0.1:6379, and are skipped (and say so) without one.',
    '',
  );
  return `${lines.join('\n')}\n`;
}

/** `--compare`: the change of every figure both runs have. */
export function compareRuns(previous: BenchResults, current: BenchResults): string {
  const before = figuresOf(previous);
  const after = figuresOf(current);
  const rows: string[] = [];
  rows.push(`Compared with ${previous.meta.date} (${previous.meta.mode}, ${previous.meta.commit})`);
  rows.push(`${'figure'.padEnd(64)} ${'before'.padStart(10)} ${'now'.padStart(10)}  change`);
  for (const [key, figure] of Object.entries(after)) {
    const old = before[key];
    if (!old) continue;
    const change = old.value === 0 ? 0 : (figure.value - old.value) / Math.abs(old.value);
    const isBetter = figure.better === 'higher' ? change > 0 : change < 0;
    const verdict = Math.abs(change) < 0.05 ? '' : isBetter ? '  better' : '  worse';
    const percent = `${change > 0 ? '+' : ''}${(change * 100).toFixed(1)} %`;
    rows.push(
      `${`${figure.label} (${figure.unit})`.slice(0, 64).padEnd(64)} ${String(round(old.value)).padStart(10)} ${String(round(figure.value)).padStart(10)}  ${percent.padStart(9)}${verdict}`,
    );
  }
  const missing = Object.keys(before).filter((key) => !after[key]);
  if (missing.length) rows.push(`(not in this run: ${missing.length} figures)`);
  rows.push('(better / worse: a change of more than 5 % in the good or bad direction)');
  return rows.join('\n');
}
