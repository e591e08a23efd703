#!/usr/bin/env node
// Launcher for the `spatialclaw` CLI: runs the TypeScript sources directly through tsx.
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = dirname(dirname(dirname(fileURLToPath(import.meta.url))));
if (!existsSync(join(root, 'node_modules', 'tsx', 'package.json'))) {
  console.error(`spatialclaw: node_modules is missing in ${root}.`);
  console.error('fix: run `npm run setup` (or `npm ci`) in that folder, then retry.');
  process.exit(1);
}
const { register } = await import('tsx/esm/api');
register();
await import('./main.ts');
