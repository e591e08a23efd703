/**
 * One place that wires the kernel stack together: a Jupyter server (local or remote), the kernel
 * manager, the safety checker and optionally a warm pool. Used by the CLI, `serve` and the app.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, statSync } from 'node:fs';
import { extname, join, resolve } from 'node:path';
import { KernelManager } from '@jupyterlab/services';
import type { InputSpec } from '../../../shared/kernel.ts';
import { JupyterServer } from '../jupyter/server.ts';
import { dataDir } from '../paths.ts';
import type { KernelLimits } from './kernelspec.ts';
import { KernelPool } from './pool.ts';
import { SafetyChecker } from './safety.ts';
import { detectSandbox, type SandboxPreference, unsandboxedWarning } from './sandbox.ts';
import { KernelSession, type SessionOptions } from './session.ts';

export interface KernelRuntimeOptions {
  /** Use a running Jupyter server instead of starting one. */
  remote?: { url: string; token: string };
  kernelLimits?: Partial<KernelLimits>;
  /** Kernels the pool owns at most (0 = no pool; every session starts a kernel). */
  poolSize?: number;
  /** What an acquire does when all pool kernels are in use (KernelPoolOptions.overflow; default `wait`). */
  poolOverflow?: 'wait' | 'start';
  /** Kernels the pool starts at once (default: the CPUs). */
  poolStartConcurrency?: number;
  /** Resident memory (MiB) a released kernel may keep after its reset, else it is replaced (KernelPoolOptions.idleMaxMib; 0 = no bound). */
  poolIdleMaxMib?: number;
  nodelay?: boolean;
  /** The kernels' OS sandbox (local servers; docs/security.md); default `auto`. */
  sandbox?: SandboxPreference;
  /**
   * Where the warning goes when kernels run unsandboxed (at every start); default: stderr, once per process and
   * reason. The workbench also shows {@link KernelRuntime.sandboxWarning} in its status bar.
   */
  onWarning?: (message: string) => void;
}

const warned = new Set<string>();

export class KernelRuntime {
  private constructor(
    readonly server: JupyterServer,
    readonly manager: KernelManager,
    readonly safety: SafetyChecker,
    readonly pool: KernelPool | null,
  ) {}

  static async start(opts: KernelRuntimeOptions = {}): Promise<KernelRuntime> {
    const server = opts.remote
      ? await JupyterServer.connect(opts.remote.url, opts.remote.token)
      : await JupyterServer.startLocal({
          ...(opts.kernelLimits ? { kernelLimits: opts.kernelLimits } : {}),
          ...(opts.nodelay !== undefined ? { nodelay: opts.nodelay } : {}),
          ...(opts.sandbox ? { sandbox: opts.sandbox } : {}),
        });
    const manager = new KernelManager({ serverSettings: server.settings });
    const pool = opts.poolSize
      ? new KernelPool({
        manager,
        kernelName: server.kernelName,
        size: opts.poolSize,
        ...(opts.poolOverflow ? { overflow: opts.poolOverflow } : {}),
        ...(opts.poolStartConcurrency ? { startConcurrency: opts.poolStartConcurrency } : {}),
        ...(opts.poolIdleMaxMib !== undefined ? { idleMaxMib: opts.poolIdleMaxMib } : {}),
      })
      : null;
    const runtime = new KernelRuntime(server, manager, new SafetyChecker(), pool);
    const warning = runtime.sandboxWarning;
    if (warning) {
      if (opts.onWarning) opts.onWarning(warning);
      else if (!warned.has(warning)) {
        warned.add(warning);
        process.stderr.write(`${warning}\n`);
      }
    }
    return runtime;
  }

  /** The warning to show while kernels run unsandboxed ('' when they are sandboxed). */
  get sandboxWarning(): string {
    if (!this.server.isLocal) {
      return 'WARNING: agent kernels run on a remote Jupyter server that spatialclaw does not sandbox: model-written code runs with that server\'s rights (docs/security.md).';
    }
    return this.server.sandbox ? '' : unsandboxedWarning(this.server.sandboxStatus ?? detectSandbox(), this.server.sandboxPreference);
  }

  /** A session on a pooled kernel when there is a pool, else on a freshly started one. */
  async openSession(overrides: Pick<SessionOptions, 'interruptGraceMs' | 'restartTimeoutMs'> = {}): Promise<KernelSession> {
    const kernel = this.pool ? await this.pool.acquire() : undefined;
    return KernelSession.open({
      ...overrides,
      manager: this.manager,
      kernelName: this.server.kernelName,
      safety: this.safety,
      sandbox: this.server.sandbox,
      ...(kernel ? { kernel } : {}),
    });
  }

  /** End a session: pooled kernels go back to the pool (reset), others are shut down. */
  async closeSession(session: KernelSession): Promise<void> {
    if (this.pool) {
      await session.close(false);
      await this.pool.release(session.kernel);
    } else {
      await session.close(true);
    }
  }

  /** A fresh per-session scratch directory under the data dir (the kernel's cwd). */
  newScratchDir(): string {
    const dir = join(dataDir(), 'sessions', `${new Date().toISOString().replace(/[:.]/g, '-')}-${randomBytes(3).toString('hex')}`);
    if (!this.server.isLocal) return dir; // created by the remote kernel
    mkdirSync(dir, { recursive: true });
    return dir;
  }

  /**
   * Stop the pool's kernels, the safety checker and (local) the Jupyter server. `fast`: the pool's kernels on this
   * machine are killed rather than shut down one by one (KernelPool.close `kill`); for a batch whose results are
   * all recorded.
   */
  async close(opts: { fast?: boolean } = {}): Promise<void> {
    this.safety.close();
    await this.pool?.close({ kill: opts.fast === true && this.server.isLocal });
    this.manager.dispose();
    await this.server.stop();
  }
}

const VIDEO_EXT = new Set(['.mp4', '.mov', '.avi', '.mkv', '.webm', '.m4v', '.mpg', '.mpeg']);

export class InputArgumentError extends Error {
  override name = 'InputArgumentError';
}

/**
 * Build InputSpecs from CLI-style arguments. Checks that the paths exist (the kernel checks their
 * contents) so a typo gets an immediate, clear error.
 */
export function inputSpecsFromArgs(args: {
  input: string[];
  depth?: string | undefined;
  camera?: string | undefined;
  poses?: string | undefined;
  frames?: number | undefined;
  maxFps?: number | undefined;
}): InputSpec[] {
  if (args.input.length === 0) throw new InputArgumentError('no --input given: pass a video, an image, a folder of images, or an RGB-D folder');
  const must = (p: string, what: string): string => {
    const abs = resolve(p);
    if (!existsSync(abs)) throw new InputArgumentError(`${what} ${abs} does not exist; check the path`);
    return abs;
  };
  if (args.depth || args.camera || args.poses) {
    if (args.input.length !== 1) throw new InputArgumentError('--depth/--camera/--poses describe one RGB-D input; pass exactly one --input (the colour folder)');
    if (!args.depth || !args.camera) throw new InputArgumentError('an RGB-D input needs both --depth DIR and --camera FILE (JSON {"fx","fy","cx","cy"})');
    return [{
      kind: 'rgbd',
      path: must(args.input[0]!, 'colour folder'),
      depth: must(args.depth, 'depth folder'),
      camera: must(args.camera, 'camera file'),
      poses: args.poses ? must(args.poses, 'poses file') : null,
    }];
  }
  return args.input.map((p) => {
    const abs = must(p, 'input');
    if (statSync(abs).isDirectory()) {
      return existsSync(join(abs, 'sample.json')) ? { kind: 'rgbd_sample', path: abs } : { kind: 'images', path: abs };
    }
    if (VIDEO_EXT.has(extname(abs).toLowerCase())) {
      return {
        kind: 'video',
        path: abs,
        ...(args.frames ? { num_frames: args.frames } : {}),
        ...(args.maxFps ? { max_fps: args.maxFps } : {}),
      };
    }
    return { kind: 'images', path: abs };
  });
}
