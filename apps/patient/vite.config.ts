import { svelte } from '@sveltejs/vite-plugin-svelte';
import { defineConfig } from 'vite';

export default defineConfig({
  base: '/',
  plugins: [svelte()],
  build: {
    target: 'es2022',
    sourcemap: true,
    // libsodium (sumo, WebAssembly inside) is loaded lazily when a crypto flow starts; it is big on purpose.
    chunkSizeWarningLimit: 600,
    rolldownOptions: {
      output: {
        // Named chunks, so the size report and the browser tests can tell the crypto chunk from the first screen's.
        chunkFileNames: (chunk) => (chunk.moduleIds.some((id) => id.includes('libsodium')) ? 'assets/libsodium-[hash].js' : 'assets/[name]-[hash].js'),
      },
    },
  },
  server: { proxy: { '/socket.io': { target: 'http://127.0.0.1:3000', ws: true } } },
});
