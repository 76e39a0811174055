import { PROTOCOL_VERSION } from '@parley/protocol';
import { svelte } from '@sveltejs/vite-plugin-svelte';
import { defineConfig } from 'vite';
import { compression } from 'vite-plugin-compression2';

export default defineConfig({
  base: '/',
  // Brotli (quality 11) and gzip (level 9) copies beside every text file; the gateway serves the one the browser accepts.
  plugins: [svelte(), compression({ algorithms: ['brotliCompress', 'gzip'] })],
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
