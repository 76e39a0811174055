/**
 * `pnpm bench`: runs the scenarios against the built gateway, prints a summary, writes the results as JSON and, for a
 * full run on a clean tree, docs/benchmarks.md with its charts. The doc's run writes its JSON where it is committed with
 * the doc (packages/bench/results/<date>-<commit>.json and latest.json); other runs write results/dev-<mode>.json (ignored).
 * A full run refuses a tree with uncommitted changes (the doc must name a commit that is what was measured) unless
 * `--allow-dirty`, whose results say so and never become the doc. A run of the attachments scenario alone with `--doc`
 * rewrites only that section of the doc (it names its own commit and command) and commits its JSON beside the full run's.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { runBench, type BenchResults } from './bench.js';
import { attachmentsSection } from './attachments-report.js';
import { ATTACHMENTS_SECTION, FIRST_LOAD_SECTION, sectionOf, withSection } from './doc-sections.js';
import { gitState, REPO_ROOT } from './environment.js';
import { parseOptions } from './options.js';
import { checkTargets, compareRuns, figuresOf, latencyChart, renderDoc, throughputChart } from './report.js';
import { round } from './stats.js';

const FINDINGS = join(dirname(fileURLToPath(import.meta.url)), '../src/findings.md');
const RESULTS = join(REPO_ROOT, 'packages/bench/results');

async function main(): Promise<void> {
  let options;
  try {
    // pnpm runs scripts from the package folder; paths given on the command line are the caller's.
    options = parseOptions(process.argv.slice(2), (mode) => join(RESULTS, mode === 'full' ? 'latest.json' : `dev-${mode}.json`));
  } catch (error) {
    process.stderr.write(`${(error as Error).message}\n`);
    process.exitCode = 2;
    return;
  }
  const git = gitState();
  if (process.env['BENCH_GATEWAY_ENTRY']) {
    options.writeDoc = false;
    process.stdout.write(`BENCH_GATEWAY_ENTRY: measuring ${process.env['BENCH_GATEWAY_ENTRY']}, not this commit's gateway: no doc\n`);
  }
  // A full run, and any run that would write the doc, measures a commit: nothing uncommitted may be in what it builds.
  if ((options.mode === 'full' || options.writeDoc) && git.isDirty && !options.allowDirty) {
    const changes = execFileSync('git', ['status', '--porcelain'], { cwd: REPO_ROOT, encoding: 'utf8' }).trimEnd().split('\n');
    process.stderr.write(
      `pnpm bench: the working tree has uncommitted changes, so ${git.commit} is not what would be measured; commit them (or measure a clean checkout), or pass --allow-dirty for a development run that never writes the doc:\n${changes.slice(0, 20).join('\n')}${changes.length > 20 ? `\n… ${changes.length - 20} more` : ''}\n`,
    );
    process.exitCode = 2;
    return;
  }
  const callerDir = process.env['INIT_CWD'] ?? process.cwd();
  // Only the doc's full run writes the committed results (latest.json); any other run, a full one allowed on a dirty tree
  // or one that rewrites only its section included, its own file.
  const isSectionRun = options.writeDoc && options.only !== undefined;
  const isDefaultOut = options.outPath === join(RESULTS, 'latest.json');
  const outPath =
    isDefaultOut && (!options.writeDoc || isSectionRun)
      ? join(RESULTS, `dev-${options.mode}${options.only ? `-${options.only.join('-')}` : ''}${git.isDirty ? '-dirty' : ''}.json`)
      : resolve(callerDir, options.outPath);
  const comparePath = options.comparePath ? resolve(callerDir, options.comparePath) : undefined;
  if (comparePath && !existsSync(comparePath)) throw new Error(`--compare: ${comparePath} does not exist`);
  const log = (line: string) => process.stdout.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${line}\n`);
  const overall = setTimeout(() => {
    // The bench bounds every loop; this is the last resort if something hangs regardless.
    process.stderr.write('bench: gave up after 30 minutes\n');
    process.exit(1);
  }, 30 * 60_000);
  overall.unref();
  const results = await runBench(options, log);
  await mkdir(dirname(outPath), { recursive: true });
  const json = `${JSON.stringify(results, null, 2)}\n`;
  await writeFile(outPath, json);
  log(`results: ${outPath}`);
  let resultsFile: string | undefined;
  if (options.writeDoc && !(isSectionRun && !results.attachments)) {
    // The copy committed with the doc, named by date and commit (and scenario, for a section's run); latest.json is the full run.
    resultsFile = `packages/bench/results/${results.meta.date.slice(0, 10)}-${results.meta.commit}${isSectionRun ? `-${options.only!.join('-')}` : ''}.json`;
    await writeFile(join(REPO_ROOT, resultsFile), json);
    log(`results: ${resultsFile} (commit it with the doc)`);
  }
  printSummary(results);
  const docPath = join(REPO_ROOT, 'docs/benchmarks.md');
  if (isSectionRun) {
    // Only the attachments section, which names this run's commit and command; the rest of the doc stays the full run's.
    if (!results.attachments) {
      process.stderr.write('attachments: not measured (see above): docs/benchmarks.md is unchanged\n');
      process.exitCode = 1;
    } else {
      await writeFile(docPath, withSection(readFileSync(docPath, 'utf8'), ATTACHMENTS_SECTION, attachmentsSection(results, resultsFile)));
      log('wrote the attachments section of docs/benchmarks.md');
    }
  } else if (options.writeDoc) {
    const findings = existsSync(FINDINGS) ? readFileSync(FINDINGS, 'utf8') : '';
    const latency = latencyChart(results);
    const throughput = throughputChart(results);
    // The first-load figures come from their own command (first-load.ts, Chromium over throttled networks): kept as they are.
    const firstLoad = existsSync(docPath) ? sectionOf(readFileSync(docPath, 'utf8'), FIRST_LOAD_SECTION) : undefined;
    const doc = renderDoc(results, findings, { latency, throughput }, resultsFile);
    await writeFile(docPath, firstLoad ? withSection(doc, FIRST_LOAD_SECTION, firstLoad) : doc);
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
  const dirty = results.meta.isDirty ? ', dirty tree: not for the doc' : '';
  process.stdout.write(
    `\nFigures (${results.meta.mode}, median of ${results.meta.runs} run(s), commit ${results.meta.commit}${dirty}):\n${rows.join('\n')}\n\nTargets:\n`,
  );
  for (const check of checkTargets(results))
    process.stdout.write(`  ${check.status === 'pass' ? 'PASS' : check.status === 'miss' ? 'MISS' : '  - '}  ${check.target}: ${check.measured}\n`);
  for (const skipped of results.skipped) process.stdout.write(`  ${skipped.scenario}: ${skipped.reason}\n`);
}

main().catch((error: unknown) => {
  process.stderr.write(`bench failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exitCode = 1;
});
