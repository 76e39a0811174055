// Jest transform for rune modules (`*.svelte.ts`): swc strips the types, then Svelte compiles the runes for the
// browser runtime, as vite-plugin-svelte does when an app builds them.
const { transformSync } = require('@swc/core');
const { compileModule } = require('svelte/compiler');

module.exports = {
  process(source, filename) {
    const { code } = transformSync(source, {
      filename,
      // Class fields stay fields: Svelte reads `$state` from a field's initialiser.
      jsc: { parser: { syntax: 'typescript' }, target: 'es2022', transform: { useDefineForClassFields: true } },
      module: { type: 'es6' },
    });
    const { js } = compileModule(code, { filename, generate: 'client', dev: false });
    return { code: js.code, map: js.map };
  },
};
