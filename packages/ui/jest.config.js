import base from '../../jest.base.js';

export default {
  ...base,
  testMatch: ['<rootDir>/src/**/*.spec.ts'],
  transform: { '\\.svelte\\.ts$': '<rootDir>/test/svelte-module-transform.cjs', ...base.transform },
};
