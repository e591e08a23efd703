// Builds the compiled CLI (out/cli/main.mjs) with Vite (build/cli.vite.config.ts) when the sources changed since the
// last build. Run by the bootstrap; by hand: `node build/cli-build.mjs [--force]`. The build goes to a temporary
// folder that then replaces out/cli, so a CLI starting meanwhile never sees half a bundle.
import { spawnSync } from 'node:child_process';
import { existsSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freshBundle, sourceStamp } from './cli-fresh.mjs';

/** Build when stale (or `force`); returns 'fresh' (nothing to do), 'built', or an error message. */
export function buildCli(root, { force = false } = {}) {
  if (!force && freshBundle(root)) return 'fresh';
  const stamp = sourceStamp(root); // before building: an edit during the build makes the result stale, not current
  const tmp = join(root, 'out', `cli.tmp-${process.pid}`);
  const vite = join(root, 'node_modules', 'vite', 'bin', 'vite.js');
  if (!existsSync(vite)) return `vite is not installed (${vite}); run npm ci`;
  const r = spawnSync(process.execPath, [vite, 'build', '-c', join(root, 'build', 'cli.vite.config.ts'), '--outDir', tmp], { cwd: root, encoding: 'utf8' });
  if (r.status !== 0) {
    rmSync(tmp, { recursive: true, force: true });
    return `vite build failed: ${(r.stderr || r.stdout || String(r.error)).trim().split('\n').slice(-5).join(' ')}`;
  }
  writeFileSync(join(tmp, 'sources.json'), JSON.stringify(stamp) + '\n');
  const out = join(root, 'out', 'cli');
  const old = join(root, 'out', `cli.old-${process.pid}`);
  if (existsSync(out)) renameSync(out, old);
  renameSync(tmp, out);
  rmSync(old, { recursive: true, force: true });
  return 'built';
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const root = dirname(dirname(fileURLToPath(import.meta.url)));
  const r = buildCli(root, { force: process.argv.includes('--force') });
  if (r !== 'fresh' && r !== 'built') {
    console.error(`[cli-build] ${r}`);
    process.exit(1);
  }
  console.log(`[cli-build] ${r === 'built' ? 'compiled the CLI into out/cli/main.mjs' : 'out/cli/main.mjs is current'}`);
}
