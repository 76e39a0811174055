import { svelte } from '@sveltejs/vite-plugin-svelte';
import { defineConfig } from 'vite';
import { compression } from 'vite-plugin-compression2';

export default defineConfig({
  // Relative asset URLs: the same build works at /staff/ of the demo's one origin and at / of the staff's own origin
  // in production (STAFF_PUBLIC_URL, docs/operations.md "Two origins").
  base: './',
  // Brotli (quality 11) and gzip (level 9) copies beside every text file; the gateway serves the one the browser accepts.
  plugins: [svelte(), compression({ algorithms: ['brotliCompress', 'gzip'] })],
  build: { target: 'es2022', sourcemap: true },
  server: { proxy: { '/socket.io': { target: 'http://127.0.0.1:3000', ws: true } } },
});
