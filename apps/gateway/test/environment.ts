import { testRedisUrl } from '@parley/testing';

/**
 * `describe` when the machine has what a suite needs; otherwise `describe.skip` with the reason in the suite's name,
 * so that its tests are reported as skipped (and counted so in `npm test`'s closing line) instead of vanishing from
 * the count. The only skip the tests allow: one chosen at load time for an environment the machine lacks.
 * `missing` is that reason, or undefined when nothing is missing. A skipped suite's body still runs to list its tests:
 * it must not use what is missing before its hooks.
 */
export function describeIf(missing: string | undefined): (name: string, body: () => void) => void {
  return missing ? (name, body) => describe.skip(`${name} [skipped: ${missing}]`, body) : (name, body) => describe(name, body);
}

/** Why the tests that need a Redis cannot run here, or undefined when TEST_REDIS_URL is set (`.ci/run` sets it). */
export const missingRedis = testRedisUrl() ? undefined : 'TEST_REDIS_URL is not set (.ci/run provides a Redis)';
