import { defineConfig } from 'vitest/config';

// The server serves dist/ under a strict CSP (no inline scripts or styles), so the build must
// emit only external files: no module-preload polyfill (it is an inline script) and no
// inlined assets.
export default defineConfig({
  base: './',
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    target: 'es2022',
    modulePreload: { polyfill: false },
    assetsInlineLimit: 0,
    sourcemap: false,
  },
  server: {
    proxy: {
      '/api': { target: process.env.LOUPE_URL ?? 'http://127.0.0.1:7070', ws: true },
      '/healthz': { target: process.env.LOUPE_URL ?? 'http://127.0.0.1:7070' },
    },
  },
  test: {
    include: ['src/**/*.test.ts'],
    environment: 'node',
  },
});
