import { svelte } from '@sveltejs/vite-plugin-svelte';
import { defineConfig } from 'vite';

export default defineConfig({
  base: '/staff/',
  plugins: [svelte()],
  build: { target: 'es2022', sourcemap: true },
  server: { proxy: { '/socket.io': { target: 'http://127.0.0.1:3000', ws: true } } },
});
