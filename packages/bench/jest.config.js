import base from '../../jest.base.js';

export default {
  ...base,
  testMatch: ['<rootDir>/{src,test}/**/*.spec.ts'],
  // The smoke run starts PostgreSQL, a gateway and load workers: generous, but bounded.
  testTimeout: 120_000,
};
