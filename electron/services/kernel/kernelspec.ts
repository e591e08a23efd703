/**
 * The `spatialclaw` kernelspec: an IPython kernel started through `spatial_runtime.kernel_launch`,
 * which applies OS limits (setrlimit) before ipykernel starts.
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
}

export const DEFAULT_KERNEL_LIMITS: KernelLimits = { memoryBytes: 16 * 1024 ** 3, cpuSeconds: 0 };

/**
 * Write `<base>/jupyter-<hash>/kernels/spatialclaw/kernel.json` for this interpreter and these limits.
 * @returns the directory to put on the server's JUPYTER_PATH.
 */
export function writeKernelSpec(baseDir: string, python: string, limits: KernelLimits): string {
  for (const [k, v] of Object.entries(limits)) {
    if (!Number.isInteger(v) || v < 0) throw new Error(`kernel limit ${k} must be a non-negative integer, got ${v}`);
  }
  const hash = createHash('sha256').update(JSON.stringify([python, limits])).digest('hex').slice(0, 12);
  const jupyterPath = join(baseDir, `jupyter-${hash}`);
  const dir = join(jupyterPath, 'kernels', KERNEL_NAME);
  mkdirSync(dir, { recursive: true });
  const spec = {
    argv: [python, '-m', 'spatial_runtime.kernel_launch',
      '--mem-bytes', String(limits.memoryBytes), '--cpu-seconds', String(limits.cpuSeconds),
      // No IPython history: model code must not land in the user's ~/.ipython/…/history.sqlite (the run record
      // keeps every cell), and kernels exiting together would queue on that one SQLite file (8 at once: 2.1 s).
      '--HistoryManager.enabled=False',
      '-f', '{connection_file}'],
    display_name: 'SpatialClaw agent kernel',
    language: 'python',
    interrupt_mode: 'signal',
    metadata: { debugger: false },
  };
  writeFileSync(join(dir, 'kernel.json'), JSON.stringify(spec, null, 2));
  return jupyterPath;
}
