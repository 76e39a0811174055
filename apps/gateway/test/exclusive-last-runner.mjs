// jest's runner (jest-runner) with one change: test files that must run alone (EXCLUSIVE) run after all the others
// have finished, instead of beside them. Everything else runs on jest's workers in parallel as usual.
//
// Why: the fault suite (test/faults) runs real gateway processes, kills and restarts them and PostgreSQL, and pushes
// traffic through proxies for minutes; beside it, on a 2-core machine, files that wait for something within a bound
// (an assignment, a drain, a socket closed within one sweep) ran out of time. Run last, it has the machine to itself.
import { createRequire } from 'node:module';

// jest-runner is jest's own dependency, not the gateway's: resolve it where jest does (jest → @jest/core → jest-runner).
const fromJest = createRequire(createRequire(import.meta.url).resolve('jest'));
const fromCore = createRequire(fromJest.resolve('@jest/core'));
const { default: TestRunner } = fromCore('jest-runner');

/** Test files run alone, after the rest. */
const EXCLUSIVE = /\/test\/faults\//;

export default class ExclusiveLastRunner extends TestRunner {
  async runTests(tests, watcher, options) {
    const shared = tests.filter((test) => !EXCLUSIVE.test(test.path));
    const alone = tests.filter((test) => EXCLUSIVE.test(test.path));
    if (shared.length > 0) await super.runTests(shared, watcher, options);
    if (alone.length > 0 && !watcher.isInterrupted()) await super.runTests(alone, watcher, options);
  }
}
