// Writes each jest run's counts to test-results/<package>.json so scripts/test.mjs can print one
// closing line for the whole workspace.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const root = new URL('..', import.meta.url).pathname;

export default class SummaryReporter {
  onRunComplete(_contexts, results) {
    const name = JSON.parse(readFileSync(join(process.cwd(), 'package.json'), 'utf8')).name.replace(/[@/]/g, '_');
    mkdirSync(join(root, 'test-results'), { recursive: true });
    writeFileSync(
      join(root, 'test-results', `${name}.json`),
      JSON.stringify({
        passed: results.numPassedTests,
        failed: results.numFailedTests + results.numRuntimeErrorTestSuites,
        skipped: results.numPendingTests + results.numTodoTests,
      }),
    );
  }
}
