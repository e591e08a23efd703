// Whether the compiled CLI (out/cli/main.mjs, built by build/cli-build.mjs) is current: plain Node, no
// dependencies, used by the launcher (electron/cli/spatialclaw.mjs) at every start (a few ms) and by the bootstrap.
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';

/** The sources compiled into the CLI: every .ts under electron/ and shared/ (not the Electron entry and preload). */
const SOURCE_DIRS = ['electron/cli', 'electron/services', 'shared'];

/** Newest modification time (ms) and count of the CLI's TypeScript sources under `root`. */
export function sourceStamp(root) {
  let newest = 0;
  let count = 0;
  const walk = (dir) => {
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      const p = join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.name.endsWith('.ts')) {
        count++;
        newest = Math.max(newest, statSync(p).mtimeMs);
      }
    }
  };
  for (const d of SOURCE_DIRS) if (existsSync(join(root, d))) walk(join(root, d));
  return { newest, count };
}

/** The compiled CLI's entry when it was built from the sources as they are now, else null. */
export function freshBundle(root) {
  const entry = join(root, 'out', 'cli', 'main.mjs');
  const stampFile = join(root, 'out', 'cli', 'sources.json');
  if (!existsSync(entry) || !existsSync(stampFile)) return null;
  try {
    const built = JSON.parse(readFileSync(stampFile, 'utf8'));
    const now = sourceStamp(root);
    return now.count === built.count && now.newest <= built.newest ? entry : null;
  } catch {
    return null;
  }
}
