import base from '../../jest.base.js';

export default {
  ...base,
  testMatch: ['<rootDir>/{src,test}/**/*.spec.ts'],
  globalSetup: '<rootDir>/test/global-setup.mjs',
  globalTeardown: '<rootDir>/test/global-teardown.mjs',
  testTimeout: 60_000,
  // Test files share one PostgreSQL server (each gets its own database); two workers suit a 2-core machine.
  maxWorkers: 2,
};
