/**
 * A Jupyter server that hosts the agent kernels: either spawned locally from the project's Python
 * environment, or a remote one reached by URL and token. Both give the same {@link JupyterServer}
 * object, so the kernel code has a single code path.
 *
 * Local servers bind 127.0.0.1 on a free port with a random token, use a root dir inside the app's
 * data dir, run in their own process group (../child.ts), and are killed (group-wide) on `stop()` or
 * process exit. The server gets an allow-listed environment ({@link JUPYTER_SERVER_ENV}) plus its own token,
 * and its kernels get that environment without the token ({@link kernelEnvNames}): a cell cannot read the
 * server's token or any API key from `os.environ` (docs/security.md, "Secrets").
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { delimiter, join, resolve } from 'node:path';
import { ServerConnection } from '@jupyterlab/services';
import WebSocket from 'ws';
import { ManagedChild, waitHealthy } from '../child.ts';
import { env, ENV, minimalChildEnv, platformEnv } from '../config/env.ts';
import { DEFAULT_KERNEL_LIMITS, KERNEL_NAME, type KernelLimits, writeKernelSpec } from '../kernel/kernelspec.ts';
import { chooseSandbox, KernelSandbox, registerServerSandbox, SANDBOX_UID, type SandboxPreference, type SandboxStatus } from '../kernel/sandbox.ts';
import { dataDir } from '../paths.ts';
import { resolvePython } from '../python.ts';
import { registerSecret } from '../runs/secrets.ts';

export interface LocalServerOptions {
  /** Python executable with jupyter_server and ipykernel; default {@link resolvePython}. */
  python?: string;
  /** Server root dir (kernels' default cwd); default `<dataDir>/jupyter-root`. */
  rootDir?: string;
  /** Milliseconds to wait for `/api` to answer; default 60 000. */
  startTimeoutMs?: number;
  /**
   * Extra environment for the server and its kernels, added to the allow-listed variables of this process
   * (config/env.ts `minimalChildEnv`, {@link JUPYTER_SERVER_ENV}). Every variable given here reaches the kernels too.
   */
  env?: NodeJS.ProcessEnv;
  /** OS limits for kernels started with the `spatialclaw` kernelspec; default 16 GiB, no CPU cap. */
  kernelLimits?: Partial<KernelLimits>;
  /**
   * Set TCP_NODELAY on kernel websockets (default true). Without it, Nagle's algorithm plus delayed
   * ACK make a small round trip take ~44 ms instead of ~4 ms. `false` exists for benchmarking.
   */
  nodelay?: boolean;
  /** Where each start attempt's port comes from (tests); default {@link freePort}. */
  port?: () => Promise<number>;
  /** Start attempts when the chosen port is taken before the server binds it; default {@link PORT_TRIES}. */
  portTries?: number;
  /**
   * The kernels' OS sandbox (docs/security.md): `auto` (default: bubblewrap where it works, else unsandboxed with
   * {@link JupyterServer.sandboxStatus} saying why), `on` (refuse to start without one), `off`.
   */
  sandbox?: SandboxPreference;
}

/** How many ports `startLocal` tries when the one it chose was taken by another process before the server bound it. */
export const PORT_TRIES = 5;

/** What jupyter_server prints when it cannot bind its port (with `port_retries=0`). */
const PORT_TAKEN = /port \d+ is not available|port \d+ is already in use|EADDRINUSE|address already in use/i;

/**
 * Variables of this process the local Jupyter server gets besides config/env.ts `BASE_CHILD_ENV`: Jupyter's own
 * folders (`JUPYTER_CONFIG_DIR`, `JUPYTER_DATA_DIR`, ...; never `JUPYTER_TOKEN`, whose name looks secret), the
 * kernels' frame cache bound and the server's start-up switch (`SPATIALCLAW_FAST_SERVER_START`, server only).
 */
export const JUPYTER_SERVER_ENV: readonly string[] = ['JUPYTER_*', 'SPATIALCLAW_FRAME_CACHE_MAX_MB', 'SPATIALCLAW_FAST_SERVER_START'];

/** The variable telling `spatial_runtime.server_launch` which variables its kernels get (comma-separated names). */
export const KERNEL_ENV_VAR = 'SPATIALCLAW_KERNEL_ENV';

/** Variables of the server's environment that only the server uses: its kernels never get them. */
const SERVER_ONLY_ENV = new Set(['JUPYTER_TOKEN', 'SPATIALCLAW_NODELAY', 'SPATIALCLAW_FAST_SERVER_START', 'SPATIALCLAW_PARENT_PID', KERNEL_ENV_VAR]);

/**
 * The names of the variables a kernel of a server started with `serverEnv` gets: all of the server's but its token
 * and its own settings. `spatial_runtime.server_launch` keeps only these (and jupyter_client's `JPY_*`) in each
 * kernel's environment.
 */
export function kernelEnvNames(serverEnv: NodeJS.ProcessEnv): string[] {
  return Object.keys(serverEnv).filter((k) => serverEnv[k] !== undefined && !SERVER_ONLY_ENV.has(k)).sort();
}

export class JupyterServerError extends Error {
  override name = 'JupyterServerError';
}

/** Ask the OS for a free TCP port on 127.0.0.1. */
export function freePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => resolvePort(port));
    });
  });
}

/**
 * A `ws` WebSocket class that authenticates with `Authorization: token ...`, for @jupyterlab/services
 * in Node (Node 20 has no global WebSocket, and browsers' WebSocket cannot set headers).
 */
function authWebSocket(token: string): typeof globalThis.WebSocket {
  class AuthWebSocket extends WebSocket {
    constructor(url: string | URL, protocols?: string | string[]) {
      super(url, protocols, { headers: { Authorization: `token ${token}` } });
    }
  }
  return AuthWebSocket as unknown as typeof globalThis.WebSocket;
}

export class JupyterServer {
  /** Base URL without trailing slash, e.g. `http://127.0.0.1:8888`. */
  readonly baseUrl: string;
  /** The access token (never logged or written to disk by this class). */
  readonly token: string;
  /** Connection settings for `@jupyterlab/services` (Node's `ws` WebSocket, token auth). */
  readonly settings: ServerConnection.ISettings;
  /** Kernelspec to start agent kernels with: `spatialclaw` (with OS limits) locally, `python3` on remote servers. */
  kernelName = 'python3';
  /** The host's half of the kernels' sandbox; null: kernels are not sandboxed (remote servers, or none here). */
  sandbox: KernelSandbox | null = null;
  /** What the sandbox detection found (local servers), for warnings and `doctor`; null for remote servers. */
  sandboxStatus: SandboxStatus | null = null;
  /** The sandbox the user asked for (local servers). */
  sandboxPreference: SandboxPreference = 'auto';
  /** This server's private Jupyter runtime folder (connection files, IPC sockets), removed on stop. */
  private runtimeDir: string | null = null;
  private readonly child: ManagedChild | null;

  private constructor(baseUrl: string, token: string, child: ManagedChild | null) {
    this.baseUrl = baseUrl.replace(/\/+$/, '');
    this.token = token;
    this.child = child;
    // Run writers of this process redact the token wherever it would be written (../runs/secrets.ts).
    registerSecret(child ? 'JUPYTER_TOKEN' : ENV.jupyterToken, token);
    this.settings = ServerConnection.makeSettings({
      baseUrl: this.baseUrl + '/',
      wsUrl: this.baseUrl.replace(/^http/, 'ws') + '/',
      token,
      // The token goes in an Authorization header on every request and on the kernel websocket,
      // never in a URL (URLs end up in logs).
      appendToken: false,
      WebSocket: authWebSocket(token),
    });
  }

  /** Whether this object owns (spawned) the server process. */
  get isLocal(): boolean {
    return this.child !== null;
  }

  /** PID of the spawned server (also its process group id), or undefined for remote servers. */
  get pid(): number | undefined {
    return this.child?.pid;
  }

  /** Last non-blank lines the server printed on stdout and stderr (for error messages); '' for remote servers. */
  logTail(lines = 20): string {
    return this.child?.tail(lines) ?? '';
  }

  /**
   * Spawn `python -m jupyter_server` on 127.0.0.1 with a free port and a random token, and wait for `/api`.
   * @throws JupyterServerError if the process cannot start, exits, or `/api` does not answer within the
   *   timeout; the message includes the server's last output lines. The server is stopped then.
   */
  static async startLocal(opts: LocalServerOptions = {}): Promise<JupyterServer> {
    const python = opts.python ?? resolvePython();
    const rootDir = opts.rootDir ?? join(dataDir(), 'jupyter-root');
    mkdirSync(rootDir, { recursive: true });
    // A free port is chosen here and bound by the server a moment later: under load another process can take it in
    // between. Then the server exits at once saying so, and a fresh port is tried.
    const tries = Math.max(1, opts.portTries ?? PORT_TRIES);
    const taken: number[] = [];
    for (;;) {
      const port = await (opts.port ?? freePort)();
      try {
        return await JupyterServer.startOn(port, python, rootDir, opts);
      } catch (e) {
        if (!(e instanceof JupyterServerError) || !PORT_TAKEN.test(e.message)) throw e;
        taken.push(port);
        if (taken.length >= tries) {
          throw new JupyterServerError(
            `could not start the local Jupyter server: each port chosen for it (${taken.join(', ')} on 127.0.0.1) was taken by ` +
            `another process before the server could bind it, ${tries} times in a row. Nothing is missing from the install; ` +
            'this happens when other programs open many ports at once: run the command again.');
        }
      }
    }
  }

  /** One start attempt of {@link startLocal} on `port`. */
  private static async startOn(port: number, python: string, rootDir: string, opts: LocalServerOptions): Promise<JupyterServer> {
    const token = randomBytes(24).toString('hex');
    const limits = { ...DEFAULT_KERNEL_LIMITS, ...opts.kernelLimits };
    const preference = opts.sandbox ?? 'auto';
    const chosen = chooseSandbox(preference);
    // A private runtime folder per server (short: IPC socket paths must fit in 108 bytes): connection files of
    // earlier servers do not pile up, and a sandboxed kernel is given only its own.
    const runtimeDir = mkdtempSync(join(tmpdir(), 'scw-'));
    const sandbox = chosen.bwrap ? new KernelSandbox(join(runtimeDir, 'k')) : null;
    if (sandbox) mkdirSync(sandbox.root, { mode: 0o700 });
    // RLIMIT_NPROC counts every process and thread of the kernel's uid. Only a kernel of its own uid (a root host's
    // sandbox: nobody) gets the default cap; a kernel running as the desktop user would count the user's browser too.
    const ownUid = sandbox !== null && typeof process.getuid === 'function' && process.getuid() === 0;
    if (!ownUid && opts.kernelLimits?.maxProcs === undefined) limits.maxProcs = 0;
    const jupyterPath = writeKernelSpec(dataDir(), python, limits,
      sandbox && chosen.bwrap ? { root: sandbox.root, bwrap: chosen.bwrap, uid: SANDBOX_UID } : null);
    const args = [
      // jupyter_server, with TCP_NODELAY set on kernel websockets (docs/kernel-protocol.md).
      '-m', 'spatial_runtime.server_launch',
      '--ServerApp.ip=127.0.0.1',
      `--ServerApp.port=${port}`,
      '--ServerApp.port_retries=0',
      `--ServerApp.root_dir=${rootDir}`,
      '--ServerApp.open_browser=False',
      '--ServerApp.log_level=WARN',
      // A kernel that has not exited 0.5 s after its shutdown request gets SIGTERM, SIGKILL 0.5 s later (default
      // 2.5 + 2.5 s). Ours exit at once (kernel_launch.exit_now); a few of 8 shut down together sometimes miss the
      // request and held a batch's end for 2.5 s. Everything a run needs is recorded before kernels are shut down.
      '--KernelManager.shutdown_wait_time=1.0',
      // No IOPub data-rate limit: over it the server silently dropped a cell's output ("IOPub data rate exceeded")
      // and show() images. The kernels cap each cell's text themselves (spatial_runtime.kernel_io: head and tail
      // kept, a marker says how much was dropped) before it leaves the kernel. The message-rate limit stays.
      '--ZMQChannelsWebsocketConnection.iopub_data_rate_limit=0',
    ];
    // Sandboxed kernels have no network: they talk to the server over Unix sockets (ZMQ ipc transport).
    if (sandbox) args.push('--KernelManager.transport=ipc');
    if (typeof process.getuid === 'function' && process.getuid() === 0) args.push('--allow-root');
    const settings: NodeJS.ProcessEnv = {
      ...opts.env,
      PYTHONUNBUFFERED: '1',
      JUPYTER_PATH: [jupyterPath, platformEnv('JUPYTER_PATH')].filter(Boolean).join(delimiter),
      SPATIALCLAW_NODELAY: opts.nodelay === false ? '0' : '1',
      // Kernels decode each video once per selection and size, then read the frames back from this cache.
      SPATIALCLAW_FRAME_CACHE: frameCacheDir(),
      JUPYTER_RUNTIME_DIR: runtimeDir,
    };
    // The server's environment without its token: what the kernels get, by name.
    const serverEnv = minimalChildEnv(settings, JUPYTER_SERVER_ENV);
    const child = ManagedChild.start({
      name: 'jupyter server',
      command: python,
      args,
      cwd: rootDir,
      group: true, // stop() kills the server and every kernel it started
      // The server stops by itself if this process dies without stopping it (e.g. SIGKILL).
      parentWatch: true,
      logStdout: true,
      exitOnSignal: true,
      fix: 'run `spatialclaw doctor`; if jupyter_server is missing, run `npm run setup`',
      error: (message) => new JupyterServerError(message),
      // The token travels in the environment (JUPYTER_TOKEN), not argv, so `ps` does not show it.
      env: { ...serverEnv, JUPYTER_TOKEN: token, [KERNEL_ENV_VAR]: kernelEnvNames(serverEnv).join(',') },
      keepEnv: [...JUPYTER_SERVER_ENV],
    });
    const server = new JupyterServer(`http://127.0.0.1:${port}`, token, child);
    server.kernelName = KERNEL_NAME;
    server.sandbox = sandbox;
    registerServerSandbox(server.baseUrl, sandbox);
    server.sandboxStatus = chosen.status;
    server.sandboxPreference = preference;
    server.runtimeDir = runtimeDir;
    try {
      await server.waitReady(opts.startTimeoutMs ?? 60_000);
    } catch (e) {
      await server.stop();
      throw e;
    }
    return server;
  }

  /**
   * Use a running (possibly remote) Jupyter server. Checks `/api` with the token before returning.
   * @throws JupyterServerError when the server is unreachable or rejects the token.
   */
  static async connect(url: string, token: string, timeoutMs = 10_000): Promise<JupyterServer> {
    let parsed: URL;
    try {
      parsed = new URL(url);
    } catch {
      throw new JupyterServerError(`not a valid Jupyter server URL: ${JSON.stringify(url)} (expected e.g. http://host:8888)`);
    }
    const server = new JupyterServer(parsed.origin + parsed.pathname, token, null);
    await server.waitReady(timeoutMs);
    return server;
  }

  /** GET `/api/status` with the token; used for readiness and health checks. */
  async ping(signal?: AbortSignal): Promise<Response> {
    return fetch(`${this.baseUrl}/api/status`, { headers: { Authorization: `token ${this.token}` }, signal: signal ?? null });
  }

  /** Poll `/api/status` until it answers, the token is rejected, the local server exits, or time is up. */
  private async waitReady(timeoutMs: number): Promise<void> {
    await waitHealthy(async () => {
      try {
        const res = await this.ping(AbortSignal.timeout(2000));
        if (res.ok) return null;
        if (res.status === 403 || res.status === 401) {
          throw new JupyterServerError(`jupyter server at ${this.baseUrl} rejected the token (HTTP ${res.status}); check the token`);
        }
        return `HTTP ${res.status}`;
      } catch (e) {
        if (e instanceof JupyterServerError) throw e;
        return e instanceof Error ? e.message : String(e);
      }
    }, {
      timeoutMs,
      child: this.child,
      timeoutError: (lastError) => new JupyterServerError(
        `jupyter server at ${this.baseUrl} did not answer /api within ${timeoutMs} ms (last error: ${lastError}).` +
          (this.child ? `\n${this.logTail()}` : ' Is the URL right and the server running?'),
      ),
    });
  }

  /** Kill the whole process group immediately (SIGKILL). Safe to call from an exit handler. No-op for remote servers. */
  killNow(): void {
    this.child?.killNow();
  }

  /**
   * Stop a local server: SIGTERM to its process group, SIGKILL after `graceMs`, then kill whatever is left
   * in the group (kernels). No-op for remote servers.
   */
  async stop(graceMs = 3000): Promise<void> {
    await this.child?.stop({ graceMs });
    if (this.sandbox) registerServerSandbox(this.baseUrl, null);
    if (this.runtimeDir) rmSync(this.runtimeDir, { recursive: true, force: true });
    this.runtimeDir = null;
  }
}

/**
 * The kernels' frame cache folder: $SPATIALCLAW_FRAME_CACHE, else `<data dir>/cache/frames`; `off` (or `0`) gives ''
 * (disabled). An absolute path, since kernels change directory before binding their inputs.
 */
export function frameCacheDir(): string {
  const v = env('frameCache');
  if (v === 'off' || v === '0') return '';
  return resolve(v ?? join(dataDir(), 'cache', 'frames'));
}
