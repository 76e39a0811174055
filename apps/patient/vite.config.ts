import { resolve } from 'node:path';
import { PROTOCOL_VERSION } from '@parley/protocol';
import { svelte } from '@sveltejs/vite-plugin-svelte';
import { build, defineConfig, type Plugin } from 'vite';
import { compression } from 'vite-plugin-compression2';
import { DEMO_RELEASE_KEY_FILE, loadReleaseKey, writeReleaseManifest, type ReleaseKey } from '../../scripts/release-signing';

/**
 * The verified code bundle (docs/patient-client.md, "Verified code bundle"): after the app's build, builds the service
 * worker on its own as `/sw.js` (one classic script, unhashed: browsers look for updates at a fixed address) with the
 * release public key built in, then hashes every file and signs `release-manifest.json` with the release key.
 */
function verifiedBundle(): Plugin {
  let key: ReleaseKey;
  let outDir = '';
  return {
    name: 'parley-verified-bundle',
    apply: 'build',
    configResolved(config) {
      outDir = resolve(config.root, config.build.outDir);
    },
    buildStart() {
      // The release key's file (docs/operations.md, "Release key"); without one, the demo key, made on the first build.
      key = loadReleaseKey({ keyFile: process.env['PARLEY_RELEASE_KEY_FILE'] || undefined });
      if (key.isDemo) this.info(`signing with the DEMO release key ${DEMO_RELEASE_KEY_FILE} (set PARLEY_RELEASE_KEY_FILE for a release)`);
    },
    async closeBundle() {
      await build({
        configFile: false,
        root: import.meta.dirname,
        logLevel: 'warn',
        define: { __RELEASE_PUBLIC_KEY__: JSON.stringify(key.publicKey) },
        build: {
          outDir,
          emptyOutDir: false,
          copyPublicDir: false,
          target: 'es2022',
          lib: { entry: resolve(import.meta.dirname, 'src/sw/sw.ts'), formats: ['iife'], name: 'parleyServiceWorker', fileName: () => 'sw.js' },
        },
      });
      await writeReleaseManifest(outDir, key);
    },
  };
}

export default defineConfig({
  base: '/',
  // Brotli (quality 11) and gzip (level 9) copies beside every text file; the gateway serves the one the browser accepts.
  plugins: [svelte(), compression({ algorithms: ['brotliCompress', 'gzip'] }), verifiedBundle()],
  // The landing screen checks the gateway's protocol version without loading @parley/protocol (zod) or @parley/client.
  define: { __PROTOCOL_VERSION__: JSON.stringify(PROTOCOL_VERSION) },
  build: {
    target: 'es2022',
    sourcemap: true,
    // libsodium (sumo, WebAssembly inside) is loaded lazily when a crypto flow starts; it is big on purpose.
    chunkSizeWarningLimit: 600,
    rolldownOptions: {
      output: {
        // Named chunks, so the size report and the browser tests can tell the crypto chunk from the first screen's.
        chunkFileNames: (chunk) => {
          if (chunk.moduleIds.some((id) => id.includes('libsodium'))) return 'assets/libsodium-[hash].js';
          // Svelte's runtime, shared by the first screen and the screens loaded later (rolldown names it after a module inside).
          if (chunk.moduleIds.every((id) => id.includes('/node_modules/svelte/'))) return 'assets/svelte-[hash].js';
          return 'assets/[name]-[hash].js';
        },
      },
    },
  },
  server: { proxy: { '/socket.io': { target: 'http://127.0.0.1:3000', ws: true } } },
});
