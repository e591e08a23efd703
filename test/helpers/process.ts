import { kernelHostPid as poolKernelHostPid } from '../../electron/services/kernel/pool.ts';

/** Whether a process (pid > 0) or a process group (pass -pgid) still exists. */
export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** The host pid of a kernel's Python process (pool.ts `kernelHostPid`). @throws when no such process runs. */
export function kernelHostPid(kernelId: string): number {
  const pid = poolKernelHostPid(kernelId);
  if (pid === null) throw new Error(`no kernel_launch process for kernel ${kernelId}`);
  return pid;
}
