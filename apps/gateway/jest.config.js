import base from '../../jest.base.js';

export default {
  ...base,
  testMatch: ['<rootDir>/{src,test}/**/*.spec.ts'],
  globalSetup: '<rootDir>/test/global-setup.mjs',
  globalTeardown: '<rootDir>/test/global-teardown.mjs',
  testTimeout: 60_000,
  // Test files share one PostgreSQL server (each gets its own database). One file at a time: the fault suite's
  // gateway processes, restarts and proxies took both cores and starved timing-sensitive files beside it
  // (assignment and drain waits timed out in CI). Serial costs about two and a half minutes; `-w 2` overrides it.
  maxWorkers: 1,
};
