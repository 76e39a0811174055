// Shared jest settings: ESM on Node 20 (NestJS 12 is ESM-only), TypeScript transpiled by swc
// with legacy decorators and their metadata. Type-checking is `tsc --noEmit`, not jest's job.
export default {
  testEnvironment: 'node',
  reporters: ['default', '<rootDir>/../../scripts/jest-summary-reporter.js'],
  extensionsToTreatAsEsm: ['.ts'],
  moduleNameMapper: { '^(\\.{1,2}/.*)\\.js$': '$1' },
  transform: {
    '^.+\\.ts$': [
      '@swc/jest',
      {
        jsc: {
          parser: { syntax: 'typescript', decorators: true },
          transform: { legacyDecorator: true, decoratorMetadata: true },
          target: 'es2022',
        },
        module: { type: 'es6' },
      },
    ],
  },
};
