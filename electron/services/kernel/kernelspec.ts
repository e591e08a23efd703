/**
 * The `spatialclaw` kernelspec: an IPython kernel started through `spatial_runtime.kernel_launch`,
 * which applies OS limits (setrlimit) before ipykernel starts. With a sandbox, `spatial_runtime.sandbox_launch`
 * runs first and replaces itself with bubblewrap around kernel_launch (docs/security.md).
 */
import { createHash } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export const KERNEL_NAME = 'spatialclaw';

/** OS limits for each kernel process. 0 means unlimited. */
export interface KernelLimits {
  /** Address-space cap (RLIMIT_AS) in bytes; default 16 GiB. */
  memoryBytes: number;
  /** CPU-time cap (RLIMIT_CPU) in seconds; default 0 (unlimited). */
  cpuSeconds: number;
  /** Processes and threads of the kernel's uid (RLIMIT_NPROC); default 4096; 0 leaves the inherited limit. */
  maxProcs?: number;
  /** Largest file a cell may write, bytes (RLIMIT_FSIZE); default 4 GiB; 0 leaves the inherited limit. */
  maxFileBytes?: number;
}

export const DEFAULT_KERNEL_LIMITS: KernelLimits = { memoryBytes: 16 * 1024 ** 3, cpuSeconds: 0, maxProcs: 4096, maxFileBytes: 4 * 1024 ** 3 };

/** How kernels are sandboxed (../kernel/sandbox.ts decides; null: not sandboxed). */
export interface KernelSandboxSpec {
  /** This server's sandbox root: per-kernel folders `<root>/<kernel id>/…`. */
  root: string;
  /** The bubblewrap executable. */
  bwrap: string;
  /** The uid a root host drops kernels to (65534). */
  uid: number;
}

/**
 * Write `<base>/jupyter-<hash>/kernels/spatialclaw/kernel.json` for this interpreter and these limits.
 * @returns the directory to put on the server's JUPYTER_PATH.
 */
export function writeKernelSpec(baseDir: string, python: string, limits: KernelLimits, sandbox: KernelSandboxSpec | null = null): string {
  for (const [k, v] of Object.entries(limits)) {
    if (!Number.isInteger(v) || v < 0) throw new Error(`kernel limit ${k} must be a non-negative integer, got ${v}`);
  }
  const hash = createHash('sha256').update(JSON.stringify([python, limits, sandbox])).digest('hex').slice(0, 12);
  const jupyterPath = join(baseDir, `jupyter-${hash}`);
  const dir = join(jupyterPath, 'kernels', KERNEL_NAME);
  mkdirSync(dir, { recursive: true });
  const launcher = sandbox
    ? ['spatial_runtime.sandbox_launch', '--root', sandbox.root, '--bwrap', sandbox.bwrap, '--uid', String(sandbox.uid), '--']
    : ['spatial_runtime.kernel_launch'];
  const spec = {
    argv: [python, '-m', ...launcher,
      '--mem-bytes', String(limits.memoryBytes), '--cpu-seconds', String(limits.cpuSeconds),
      '--max-procs', String(limits.maxProcs ?? 0), '--max-file-bytes', String(limits.maxFileBytes ?? 0),
      // No IPython history: model code must not land in the user's ~/.ipython/…/history.sqlite (the run record
      // keeps every cell), and kernels exiting together would queue on that one SQLite file (8 at once: 2.1 s).
      '--HistoryManager.enabled=False',
      '-f', '{connection_file}'],
    display_name: 'SpatialClaw agent kernel',
    language: 'python',
    // A sandboxed kernel's process is bwrap, which does not pass SIGINT on: interrupt over the control channel
    // (ipykernel then signals itself).
    interrupt_mode: sandbox ? 'message' : 'signal',
    metadata: { debugger: false },
  };
  writeFileSync(join(dir, 'kernel.json'), JSON.stringify(spec, null, 2));
  return jupyterPath;
}
