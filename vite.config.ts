/**
 * The web page (src/web) is built by Vite into dist/web, which `style-transfer serve` serves.
 * `npx vite build` builds it; `npx vite` runs a dev server that forwards /api to a server started
 * with `style-transfer serve` on port 8080.
 */
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';

export default defineConfig({
  root: fileURLToPath(new URL('./src/web', import.meta.url)),
  base: './',
  build: {
    outDir: fileURLToPath(new URL('./dist/web', import.meta.url)),
    emptyOutDir: true,
    target: 'es2022',
  },
  // The browser-mode worker imports onnxruntime-web, whose wasm files Vite emits as assets; module
  // workers keep its dynamic imports working.
  worker: { format: 'es' },
  server: {
    proxy: { '/api': 'http://127.0.0.1:8080' },
  },
});
