// @ts-check
// One ESLint configuration for the whole workspace (`pnpm lint`). Formatting is Prettier's (.prettierrc): the
// formatting rules are switched off last. Rules run without type information, so a lint of every package stays fast.
import js from '@eslint/js';
import prettier from 'eslint-config-prettier';
import svelte from 'eslint-plugin-svelte';
import { defineConfig, globalIgnores } from 'eslint/config';
import globals from 'globals';
import tseslint from 'typescript-eslint';

const WORKSPACE_PACKAGES = ['bench', 'client', 'crypto', 'gateway', 'patient', 'protocol', 'sdk', 'staff', 'testing', 'ui', 'web'];
/** Test code may drive the system as a client would (the gateway's tests use @parley/crypto), so the rule is about shipped code. */
const TESTS = ['**/*.spec.ts', '**/test/**'];

/**
 * The dependency rule: the workspace packages a folder's shipped code may import, and nothing else of the workspace.
 * The same lists as the package manifests' check in apps/gateway/test/architecture.spec.ts; everywhere, a package is
 * used through its exports entry only, and only @parley/crypto imports libsodium.
 * @param {string[]} files
 * @param {string[]} allowed workspace package names without the `@parley/` scope
 * @param {{ ignores?: string[], isLibsodiumAllowed?: boolean }} [options] `ignores`: the tests, unless the rule holds for them too
 * @returns {import('eslint').Linter.Config}
 */
function mayImport(files, allowed, { ignores = TESTS, isLibsodiumAllowed = false } = {}) {
  const denied = WORKSPACE_PACKAGES.filter((name) => !allowed.includes(name));
  return {
    name: `parley/dependency-rule ${files.join(' ')}`,
    files,
    ignores,
    rules: {
      'no-restricted-imports': [
        'error',
        {
          paths: denied.map((name) => ({ name: `@parley/${name}`, message: `The dependency rule keeps @parley/${name} out of this folder.` })),
          patterns: [
            { group: ['@parley/*/**'], message: 'Import a workspace package through its exports entry, never a file inside it.' },
            ...(isLibsodiumAllowed ? [] : [{ group: ['libsodium*'], message: 'Only @parley/crypto imports libsodium.' }]),
          ],
        },
      ],
    },
  };
}

export default defineConfig(
  globalIgnores([
    '**/dist/',
    '**/.turbo/',
    '.data/',
    '**/test-results/',
    // Generated: the crypto known-answer vectors and the benchmark charts (written by their scripts).
    'packages/crypto/test/vectors.json',
    '**/*.svg',
  ]),
  js.configs.recommended,
  tseslint.configs.recommended,
  svelte.configs.recommended,
  {
    name: 'parley/globals',
    languageOptions: { globals: { ...globals.node } },
  },
  {
    name: 'parley/browser-globals',
    files: ['apps/patient/src/**', 'apps/staff/src/**', 'packages/web/src/**', 'packages/ui/src/**'],
    languageOptions: { globals: { ...globals.browser } },
  },
  {
    name: 'parley/svelte-typescript',
    files: ['**/*.svelte', '**/*.svelte.ts'],
    languageOptions: { parserOptions: { parser: tseslint.parser, extraFileExtensions: ['.svelte'] } },
  },
  {
    name: 'parley/commonjs',
    files: ['**/*.cjs'],
    languageOptions: { sourceType: 'commonjs' },
    rules: { '@typescript-eslint/no-require-imports': 'off' },
  },
  {
    name: 'parley/svelte-components',
    files: ['**/*.svelte'],
    // svelte-check (the TypeScript compiler) resolves names, types included; the core rule knows no TypeScript types.
    rules: { 'no-undef': 'off' },
  },
  {
    name: 'parley/rules',
    rules: {
      // It reports every Map, Set, Date and URLSearchParams in a rune module, the local ones and the private
      // bookkeeping (subscriptions, timers) included: state classes change what the screen shows by assigning $state.
      'svelte/prefer-svelte-reactivity': 'off',
      // `_` marks what a signature needs but the body does not use (an ack callback, a Nest parameter).
      '@typescript-eslint/no-unused-vars': [
        'error',
        { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrorsIgnorePattern: '^_', destructuredArrayIgnorePattern: '^_', ignoreRestSiblings: true },
      ],
    },
  },
  // Everywhere by default: exports entries only, libsodium only in @parley/crypto (tests included).
  mayImport(['**/*.ts', '**/*.svelte', '**/*.js', '**/*.mjs'], WORKSPACE_PACKAGES, { ignores: [] }),
  mayImport(['apps/gateway/src/**'], ['protocol']),
  mayImport(['apps/patient/src/**', 'apps/staff/src/**'], ['client', 'crypto', 'protocol', 'sdk', 'ui', 'web']),
  mayImport(['packages/client/src/**'], ['protocol']),
  mayImport(['packages/sdk/src/**'], ['client', 'crypto', 'protocol']),
  mayImport(['packages/web/src/**'], ['client']),
  mayImport(['packages/ui/**'], []),
  mayImport(['packages/protocol/**'], [], { ignores: [] }),
  mayImport(['packages/crypto/**'], [], { ignores: [], isLibsodiumAllowed: true }),
  prettier,
  svelte.configs.prettier,
);
