import { resolve } from 'node:path';
import react from '@vitejs/plugin-react';
import { defineConfig } from 'electron-vite';

export default defineConfig({
  main: {
    build: {
      lib: { entry: resolve(import.meta.dirname, 'electron/main/index.ts'), formats: ['es'] },
      outDir: 'out/main',
    },
  },
  preload: {
    // Sandboxed preloads cannot load ESM: emit CommonJS as out/preload/index.cjs. They can `require`
    // only `electron`, so every other dependency (zod) is bundled in rather than externalised.
    build: {
      externalizeDeps: false,
      lib: { entry: resolve(import.meta.dirname, 'electron/preload/index.ts'), formats: ['cjs'], fileName: () => 'index.cjs' },
      outDir: 'out/preload',
    },
  },
  renderer: {
    root: 'renderer',
    plugins: [react()],
    build: {
      outDir: resolve(import.meta.dirname, 'out/renderer'),
      // electron-vite leaves the renderer unminified by default; three.js makes that a 2+ MB chunk.
      minify: true,
      rolldownOptions: { input: resolve(import.meta.dirname, 'renderer/index.html') },
    },
  },
});
