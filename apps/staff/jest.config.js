import base from '../../jest.base.js';

export default { ...base, testMatch: ['<rootDir>/test/**/*.spec.ts'], testTimeout: 60_000 };
