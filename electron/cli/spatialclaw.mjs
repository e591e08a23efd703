#!/usr/bin/env node
// Launcher for the `spatialclaw` CLI. It runs the compiled CLI (out/cli/main.mjs, built by the bootstrap with Vite)
// when that was built from the current sources, else the TypeScript sources through tsx (development: an edit makes
// the bundle stale until the next `npm run setup` / `node build/cli-build.mjs`). SPATIALCLAW_CLI=tsx forces tsx.
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { freshBundle } from '../../build/cli-fresh.mjs';

// A shard task of a sharded run (--shard, docs/cluster.md): SLURM's warning signal SIGUSR1 may come while the CLI
// still loads; keep it for the shard (electron/cli/shard-stop.ts) instead of Node's default (start the inspector).
if (process.argv.some((a) => a === '--shard' || a.startsWith('--shard='))) {
  const early = { usr1: false, handler: () => { early.usr1 = true; } };
  globalThis.__spatialclawEarlySignal = early;
  process.on('SIGUSR1', early.handler);
}

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
