/**
 * `pnpm bench`: runs the scenarios of issue #7 against the built gateway, prints a summary, writes the results as JSON
 * (packages/bench/results/latest.json) and, for a full run, docs/benchmarks.md with its charts.
 */
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { runBench, type BenchResults } from './bench.js';
import { firstLoadSectionOf, withFirstLoadSection } from './doc-sections.js';
import { REPO_ROOT } from './environment.js';
import { parseOptions } from './options.js';
import { checkTargets, compareRuns, figuresOf, latencyChart, renderDoc, throughputChart } from './report.js';
import { round } from './stats.js';

const FINDINGS = join(dirname(fileURLToPath(import.meta.url)), '../src/findings.md');

async function main(): Promise<void> {
  let options;
  try {
    // pnpm runs scripts from the package folder; paths given on the command line are the caller's.
    options = parseOptions(process.argv.slice(2), join(REPO_ROOT, 'packages/bench/results/latest.json'));
  } catch (error) {
    process.stderr.write(`${(error as Error).message}\n`);
    process.exitCode = 2;
    return;
  }
  const callerDir = process.env['INIT_CWD'] ?? process.cwd();
  const outPath = resolve(callerDir, options.outPath);
  const comparePath = options.comparePath ? resolve(callerDir, options.comparePath) : undefined;
  if (comparePath && !existsSync(comparePath)) throw new Error(`--compare: ${comparePath} does not exist`);
  const log = (line: string) => process.stdout.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${line}\n`);
  const overall = setTimeout(() => {
    // The bench bounds every loop; this is the last resort if something hangs regardless.
    process.stderr.write('bench: gave up after 20 minutes\n');
    process.exit(1);
  }, 20 * 60_000);
  overall.unref();
  const results = await runBench(options, log);
  await mkdir(dirname(outPath), { recursive: true });
  await writeFile(outPath, `${JSON.stringify(results, null, 2)}\n`);
  log(`results: ${outPath}`);
  printSummary(results);
  if (options.writeDoc) {
    const findings = existsSync(FINDINGS) ? readFileSync(FINDINGS, 'utf8') : '';
    const latency = latencyChart(results);
    const throughput = throughputChart(results);
    const docPath = join(REPO_ROOT, 'docs/benchmarks.md');
    // The first-load figures come from their own command (first-load.ts, Chromium over throttled networks): kept as they are.
    const firstLoad = existsSync(docPath) ? firstLoadSectionOf(readFileSync(docPath, 'utf8')) : undefined;
    const doc = renderDoc(results, findings, { latency, throughput });
    await writeFile(docPath, firstLoad ? withFirstLoadSection(doc, firstLoad) : doc);
    if (latency) await writeFile(join(REPO_ROOT, 'docs/benchmarks-latency.svg'), latency);
    if (throughput) await writeFile(join(REPO_ROOT, 'docs/benchmarks-throughput.svg'), throughput);
    log('wrote docs/benchmarks.md and its charts');
  }
  if (comparePath) process.stdout.write(`\n${compareRuns(JSON.parse(readFileSync(comparePath, 'utf8')) as BenchResults, results)}\n`);
}

function printSummary(results: BenchResults): void {
  const rows = Object.values(figuresOf(results)).map(
    (figure) => `  ${`${figure.label}`.padEnd(70)} ${String(round(figure.value)).padStart(10)} ${figure.unit}`,
  );
  process.stdout.write(`\nFigures (${results.meta.mode}, median of ${results.meta.runs} run(s)):\n${rows.join('\n')}\n\nTargets:\n`);
  for (const check of checkTargets(results))
    process.stdout.write(`  ${check.status === 'pass' ? 'PASS' : check.status === 'miss' ? 'MISS' : '  - '}  ${check.target}: ${check.measured}\n`);
  for (const skipped of results.skipped) process.stdout.write(`  ${skipped.scenario}: ${skipped.reason}\n`);
}

main().catch((error: unknown) => {
  process.stderr.write(`bench failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exitCode = 1;
});
