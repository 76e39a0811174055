import base from '../../jest.base.js';

export default {
  ...base,
  testMatch: ['<rootDir>/{src,test}/**/*.spec.ts'],
  globalSetup: '<rootDir>/test/global-setup.mjs',
  globalTeardown: '<rootDir>/test/global-teardown.mjs',
  testTimeout: 60_000,
  // Two files at a time on one PostgreSQL server, each in its own database. The fault suite runs alone after the
  // rest (test/exclusive-last-runner.mjs): beside it, files waiting for an assignment or a drain ran out of time.
  maxWorkers: 2,
  runner: '<rootDir>/test/exclusive-last-runner.mjs',
};
