/**
 * `spatialclaw serve`: the workbench in a browser. Builds the host's services (electron/services/app/,
 * the same composition root as the CLI and the Electron app), serves them as the same WorkbenchHost the
 * Electron main process uses, over HTTP + WebSocket on 127.0.0.1 (electron/services/workbench/http.ts).
 *
 * stdout, for people and for scripts:
 *   SpatialClaw Workbench: http://127.0.0.1:PORT/#token=TOKEN
 *   READY {"url":"http://127.0.0.1:PORT","port":PORT,"token":"TOKEN"}
 * The token travels in the URL fragment, which the browser never sends to the server; it is printed
 * only in these two lines, never logged elsewhere.
 */
import { detectSandbox, type SandboxPreference, unsandboxedWarning } from '../services/kernel/sandbox.ts';
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { createServices } from '../services/app/index.ts';
import { minimalChildEnv } from '../services/config/env.ts';
import { appRoot } from '../services/paths.ts';
import { WorkbenchHost } from '../services/workbench/host.ts';
import { startWorkbenchServer, type WorkbenchServer } from '../services/workbench/http.ts';

export interface ServeOptions {
  port?: number;
  host?: string;
  /** Runs root (default: <data dir>/runs). */
  runs?: string;
  /** Serve the renderer from this folder instead of out/renderer (which is built on first use). */
  static?: string;
}

/** Build the renderer with electron-vite (progress on stderr). Resolves when out/renderer/index.html exists. */
async function buildRenderer(root: string): Promise<void> {
  const require = createRequire(join(root, 'package.json'));
  let cli: string;
  try {
    const pkgFile = require.resolve('electron-vite/package.json');
    const bin = (JSON.parse(readFileSync(pkgFile, 'utf8')) as { bin: Record<string, string> }).bin['electron-vite']!;
    cli = join(dirname(pkgFile), bin);
  } catch {
    throw new Error(`the renderer is not built and electron-vite is not installed in ${root} (fix: run \`npm ci\` there, then \`npm run build\`)`);
  }
  console.error('spatialclaw serve: the renderer is not built yet; building it once with electron-vite (about a minute)...');
  const code = await new Promise<number | null>((res) => {
    // Build output goes to stderr (fd 2 for both) so stdout stays the two lines scripts read.
    const child = spawn(process.execPath, [cli, 'build'], { cwd: root, stdio: ['ignore', 2, 2], env: minimalChildEnv({}, ['NODE_*', 'npm_*', 'ELECTRON_*', 'VITE_*', 'CI']) });
    child.on('error', () => res(-1));
    child.on('close', (c) => res(c));
  });
  if (code !== 0 || !existsSync(join(root, 'out', 'renderer', 'index.html'))) {
    throw new Error(`building the renderer failed (electron-vite exit ${code}) (fix: run \`npm run build\` in ${root}, correct the errors it reports, then run serve again)`);
  }
  console.error('spatialclaw serve: renderer built.');
}

/** Run the server until SIGINT/SIGTERM. Returns the exit code. */
export async function serve(opts: ServeOptions): Promise<number> {
  const root = appRoot();
  let staticDir = join(root, 'out', 'renderer');
  if (opts.static) {
    staticDir = resolve(opts.static);
    if (!existsSync(join(staticDir, 'index.html'))) throw new Error(`--static ${staticDir} has no index.html (fix: point it at a built renderer folder, or leave it out to use out/renderer)`);
  } else if (!existsSync(join(staticDir, 'index.html'))) {
    await buildRenderer(root);
  }
  const host = await WorkbenchHost.create({ services: createServices({ runsRoot: opts.runs }) });
  let server: WorkbenchServer;
  try {
    server = await startWorkbenchServer({
      handlers: host.handlers,
      onEvent: (l) => host.onEvent(l),
      host: opts.host ?? '127.0.0.1',
      port: opts.port ?? 0,
      staticDir,
      log: (line) => console.error(line),
    });
  } catch (e) {
    await host.close();
    throw e;
  }
  console.log(`SpatialClaw Workbench: ${server.url}/#token=${server.token}`);
  console.log(`READY ${JSON.stringify({ url: server.url, port: server.port, token: server.token })}`);
  console.error('spatialclaw serve: open the URL above in a browser; Ctrl-C stops the server and its kernels.');
  // At every start: kernels outside the OS sandbox are said so here and in the workbench's banner (docs/security.md).
  let preference: SandboxPreference = 'auto';
  try {
    preference = host.services.settings.config().sandbox;
  } catch {
    // an invalid settings.json: the workbench shows that error itself
  }
  const sandboxWarning = unsandboxedWarning(detectSandbox(), preference);
  if (sandboxWarning) console.error(sandboxWarning);

  const s = server;
  await new Promise<void>((res) => {
    let stopping = false;
    const stop = (signal: string): void => {
      if (stopping) return;
      stopping = true;
      console.error(`spatialclaw serve: ${signal}, shutting down...`);
      void (async () => {
        try {
          await s.close();
        } finally {
          await host.close();
        }
        res();
      })();
    };
    process.once('SIGINT', () => stop('SIGINT'));
    process.once('SIGTERM', () => stop('SIGTERM'));
  });
  return 0;
}
