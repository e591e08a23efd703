/**
 * Stopping a child started with `detached: true` (its own process group) together with everything it
 * started. Used for the Jupyter and perception servers.
 */
import type { ChildProcess } from 'node:child_process';

/** Whether the child is still running. */
export function running(child: ChildProcess | null | undefined): child is ChildProcess & { pid: number } {
  return !!child?.pid && child.exitCode === null && child.signalCode === null;
}

/** Send `signal` to the child's whole process group. Safe to call from an exit handler. */
export function signalGroup(child: ChildProcess | null | undefined, signal: NodeJS.Signals): void {
  if (!running(child)) return;
  try {
    process.kill(-child.pid, signal);
  } catch {
    /* already gone */
  }
}

/** SIGTERM the group, SIGKILL it after `graceMs`, and resolve once the child has exited. */
export async function stopGroup(child: ChildProcess | null | undefined, graceMs: number): Promise<void> {
  if (!running(child)) return;
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  signalGroup(child, 'SIGTERM');
  const timer = setTimeout(() => signalGroup(child, 'SIGKILL'), graceMs);
  await exited;
  clearTimeout(timer);
}
