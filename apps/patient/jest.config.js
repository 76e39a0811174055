import base from '../../jest.base.js';

export default { ...base, testMatch: ['<rootDir>/{src,test}/**/*.spec.ts'], testTimeout: 60_000 };
