/**
 * The run lock: `run.lock` holds `{pid, host, since}` while a RunWriter has the run open, so that two
 * processes never write one run. A lock left by a process that died (on this host) is stale and is taken
 * over; a lock written on another host cannot be checked and is respected.
 */
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join, resolve } from 'node:path';
import { RUN_LOCK } from './layout.ts';

/** The contents of run.lock. */
export interface LockInfo {
  /** Process id of the writer. */
  pid: number;
  /** `os.hostname()` of the writer's machine. */
  host: string;
  /** ISO time the lock was taken. */
  since: string;
}

/** Folders open in this process (resolved paths), so that one process cannot open a run twice. */
const openRuns = new Set<string>();

/** Whether a process with this pid exists (EPERM: it exists but belongs to another user). */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** run.lock of `dir`, or null when it is missing or unreadable. */
function readLock(dir: string): LockInfo | null {
  try {
    const l = JSON.parse(readFileSync(join(dir, RUN_LOCK), 'utf8')) as Partial<LockInfo>;
    return typeof l.pid === 'number' && typeof l.host === 'string' ? { pid: l.pid, host: l.host, since: String(l.since ?? '') } : null;
  } catch {
    return null;
  }
}

/**
 * The lock's holder when a live process (this one included, while the run is open here) or a process on
 * another host (which cannot be checked) holds it; null when the run is not locked or the lock is stale.
 */
export function lockHolder(dir: string): LockInfo | null {
  const l = readLock(dir);
  if (l === null) return null;
  if (l.host !== hostname()) return l;
  if (l.pid === process.pid) return openRuns.has(resolve(dir)) ? l : null;
  return alive(l.pid) ? l : null;
}

/**
 * Take the lock of the run in `dir` for this process.
 * @returns `stale: true` when a lock left by a dead process was taken over.
 * @throws Error naming run.lock when the run is open in this process, in another live process, or was
 *   opened on another host (the message says to delete the lock if that process is gone).
 */
export function acquireLock(dir: string): { stale: boolean } {
  const path = join(dir, RUN_LOCK);
  const key = resolve(dir);
  if (openRuns.has(key)) throw new Error(`${dir} is already open in this process`);
  const me = `${JSON.stringify({ pid: process.pid, host: hostname(), since: new Date().toISOString() })}\n`;
  let exists = false;
  try {
    writeFileSync(path, me, { flag: 'wx' });
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    exists = true;
  }
  if (exists) {
    const holder = lockHolder(dir);
    if (holder !== null) {
      throw new Error(
        holder.host === hostname()
          ? `${path}: the run is open in process ${holder.pid} (since ${holder.since})`
          : `${path}: the run was opened on host ${holder.host} (process ${holder.pid}); if that process is gone, delete ${path}`,
      );
    }
    writeFileSync(path, me);
  }
  openRuns.add(key);
  return { stale: exists };
}

/** Release the lock of `dir`: forget it in this process and delete run.lock if this process wrote it. */
export function releaseLock(dir: string): void {
  openRuns.delete(resolve(dir));
  const l = readLock(dir);
  if (l !== null && l.pid === process.pid && l.host === hostname()) rmSync(join(dir, RUN_LOCK), { force: true });
}
