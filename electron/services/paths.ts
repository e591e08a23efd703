/**
 * Filesystem locations used by the host services. Plain Node: no `electron` import.
 */
import { existsSync, mkdirSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { env, ENV, platformEnv } from './config/env.ts';

/**
 * The repository / application root: the folder holding package.json, python-runtime/ and test/fixtures/.
 * Override with SPATIALCLAW_ROOT (used by packaged builds that unpack resources elsewhere).
 */
export function appRoot(): string {
  const root = env('root');
  if (root) return resolve(root);
  // This file lives at <root>/electron/services/paths.ts (or is bundled into <root>/out/main/).
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 5; i++) {
    if (existsSync(join(dir, 'package.json')) && existsSync(join(dir, 'python-runtime'))) return dir;
    dir = dirname(dir);
  }
  throw new Error(`cannot locate the SpatialClaw root (package.json + python-runtime/); set ${ENV.root}`);
}

/**
 * Per-user data directory (runs, kernel scratch dirs, the Jupyter root dir). Never the user's home itself.
 * SPATIALCLAW_HOME overrides; otherwise the platform's usual app-data location.
 */
export function dataDir(): string {
  const home = env('home');
  let dir: string;
  if (home) dir = resolve(home);
  else if (process.platform === 'darwin') dir = join(homedir(), 'Library', 'Application Support', 'SpatialClaw');
  else if (process.platform === 'win32') dir = join(platformEnv('APPDATA') ?? join(homedir(), 'AppData', 'Roaming'), 'SpatialClaw');
  else dir = join(platformEnv('XDG_DATA_HOME') ?? join(homedir(), '.local', 'share'), 'spatialclaw');
  mkdirSync(dir, { recursive: true });
  return dir;
}

/** The bundled real samples (see test/fixtures/README.md for their sources and licences). */
export function samplesDir(): string {
  return join(appRoot(), 'test', 'fixtures');
}
