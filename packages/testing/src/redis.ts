import { randomBytes } from 'node:crypto';

/**
 * The Redis server the multi-node tests use: TEST_REDIS_URL (`.ci/run` provides one), or `undefined` when it is
 * not set, in which case those tests are skipped.
 */
export function testRedisUrl(): string | undefined {
  return process.env['TEST_REDIS_URL'] || undefined;
}

/**
 * A new name for the socket.io Redis streams adapter's stream (and PUB/SUB channel prefix), unique to the caller:
 * give the same one to every gateway of one test (REDIS_STREAM_NAME), so that they talk to each other and never to the
 * gateways of another test file or run sharing the same Redis.
 */
export function redisKeyPrefix(): string {
  return `parley-test-${randomBytes(6).toString('hex')}`;
}
