/**
 * The compiled CLI: `electron/cli/main.ts` bundled by Vite (the project's bundler) into `out/cli/main.mjs`, an ES
 * module for Node with every npm package left as an import from node_modules. `build/cli-build.mjs` runs it from the
 * bootstrap whenever the sources changed; `electron/cli/spatialclaw.mjs` loads it when it is current, so the CLI
 * starts without compiling TypeScript (tsx stays for development, when the bundle is stale).
 */
import { builtinModules } from 'node:module';
import { resolve } from 'node:path';
import { defineConfig } from 'vite';

const root = resolve(import.meta.dirname, '..');

export default defineConfig({
  root,
  logLevel: 'warn',
  build: {
    ssr: resolve(root, 'electron/cli/main.ts'),
    outDir: resolve(root, 'out/cli'),
    emptyOutDir: true,
    target: 'node20',
    minify: false,
    sourcemap: true,
    rolldownOptions: {
      output: { format: 'es', entryFileNames: 'main.mjs', chunkFileNames: '[name]-[hash].mjs' },
      // Node's own modules and every package stay imports: only our TypeScript is compiled in.
      external: (id) => id.startsWith('node:') || builtinModules.includes(id) || (!id.startsWith('.') && !id.startsWith('/') && !id.startsWith('\0')),
    },
  },
  ssr: { target: 'node' },
});
