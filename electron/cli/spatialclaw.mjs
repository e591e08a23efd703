#!/usr/bin/env node
// Launcher for the `spatialclaw` CLI. It runs the compiled CLI (out/cli/main.mjs, built by the bootstrap with Vite)
// when that was built from the current sources, else the TypeScript sources through tsx (development: an edit makes
// the bundle stale until the next `npm run setup` / `node build/cli-build.mjs`). SPATIALCLAW_CLI=tsx forces tsx.
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { freshBundle } from '../../build/cli-fresh.mjs';

const root = dirname(dirname(dirname(fileURLToPath(import.meta.url))));
if (!existsSync(join(root, 'node_modules', 'tsx', 'package.json'))) {
  console.error(`spatialclaw: node_modules is missing in ${root}.`);
  console.error('fix: run `npm run setup` (or `npm ci`) in that folder, then retry.');
  process.exit(1);
}
const bundle = process.env.SPATIALCLAW_CLI === 'tsx' ? null : freshBundle(root);
if (bundle) {
  await import(pathToFileURL(bundle).href);
} else {
  const { register } = await import('tsx/esm/api');
  register();
  await import('./main.ts');
}
