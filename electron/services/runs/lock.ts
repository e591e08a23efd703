/**
 * The run lock: `run.lock` holds `{pid, host, since}` while a RunWriter has the run open, so that two
 * processes never write one run. A lock left by a process that died (on this host) is stale and is taken
 * over; a lock written on another host cannot be checked and is respected. Sharded runs have one lock per shard
 * instead ({@link acquireShardLock}), whose staleness SLURM decides.
 */
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join, resolve } from 'node:path';
import { type ShardLock, ShardLockSchema, type SlurmTaskIds } from '../../../shared/cluster.ts';
import { currentTask, jobState, LIVE_STATES, taskJobRef } from '../cluster/slurm.ts';
import { RUN_LOCK, SHARD_LOCK, shardDir } from './layout.ts';

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

// ---------------------------------------------------------------------------------------------------
// Shard locks (sharded runs, shared/cluster.ts): one per shard, holding the SLURM job and task ids

/** shards/<kkk>/shard.lock of shard `shard`, or null when missing or unreadable. */
function readShardLock(dir: string, shard: number): ShardLock | null {
  try {
    const r = ShardLockSchema.safeParse(JSON.parse(readFileSync(join(shardDir(dir, shard), SHARD_LOCK), 'utf8')));
    return r.success ? r.data : null;
  } catch {
    return null;
  }
}

/** Shards open in this process: `<resolved run dir>\0<shard>`. */
const openShards = new Set<string>();

/**
 * The holder of a shard's lock, or null when the shard is not locked or its lock is stale:
 * - held by this process: live while the shard is open here;
 * - the same SLURM task (a requeued task starting again): the earlier incarnation is gone, so stale;
 * - with SLURM ids: live iff SLURM reports that job pending or running (`squeue`, `scontrol`, `sacct`), not by pid;
 * - else (no SLURM ids, SLURM cannot be asked, or `askSlurm` is false), on the same host: live iff the pid is alive;
 * - another host without SLURM ids: cannot be checked, counts as live.
 */
export function shardLockHolder(dir: string, shard: number, opts: { askSlurm?: boolean; self?: SlurmTaskIds | null } = {}): ShardLock | null {
  const l = readShardLock(dir, shard);
  if (l === null) return null;
  if (l.host === hostname() && l.pid === process.pid) return openShards.has(`${resolve(dir)}\0${shard}`) ? l : null;
  const self = opts.self === undefined ? currentTask() : opts.self;
  if (self && l.slurm && taskJobRef(l.slurm) === taskJobRef(self) && (l.slurm.restart_count ?? 0) < (self.restart_count ?? 0)) return null;
  // A SLURM task's lock: SLURM's word on its job decides (a pid may have been reused); the pid only when SLURM
  // cannot be asked.
  if (l.slurm && opts.askSlurm !== false) {
    try {
      const state = jobState(taskJobRef(l.slurm));
      return state !== null && LIVE_STATES.has(state) ? l : null;
    } catch {
      /* SLURM does not answer: fall back to what can be checked here */
    }
  }
  if (l.host === hostname()) return alive(l.pid) ? l : null;
  return l;
}

/**
 * Take shard `shard`'s lock (`shards/<kkk>/shard.lock`, the folder is made) for this process, recording the SLURM
 * task from the environment. A lock that {@link shardLockHolder} finds stale is taken over.
 * @returns `stale: true` when a stale lock was taken over, with its holder.
 * @throws Error naming the lock and its holder (the SLURM task or the process) when the shard is held, with what to do.
 */
export function acquireShardLock(dir: string, shard: number, shards: number): { stale: boolean; previous: ShardLock | null } {
  const key = `${resolve(dir)}\0${shard}`;
  if (openShards.has(key)) throw new Error(`shard ${shard} of ${dir} is already open in this process`);
  const folder = shardDir(dir, shard);
  mkdirSync(folder, { recursive: true });
  const path = join(folder, SHARD_LOCK);
  const slurm = currentTask();
  const me: ShardLock = { pid: process.pid, host: hostname(), since: new Date().toISOString(), shard, shards, ...(slurm ? { slurm } : {}) };
  const text = `${JSON.stringify(me)}\n`;
  let previous: ShardLock | null = null;
  let exists = false;
  try {
    writeFileSync(path, text, { flag: 'wx' });
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    exists = true;
  }
  if (exists) {
    previous = readShardLock(dir, shard);
    const holder = shardLockHolder(dir, shard, { self: slurm });
    if (holder !== null) {
      const who = holder.slurm ? `SLURM task ${taskJobRef(holder.slurm)} on ${holder.host}` : `process ${holder.pid} on ${holder.host}`;
      const fix = holder.slurm ? `wait for it, or cancel it (scancel ${taskJobRef(holder.slurm)})` : holder.host === hostname() ? `stop process ${holder.pid}` : `if that process is gone, delete ${path}`;
      throw new Error(`${path}: shard ${shard} is open in ${who} since ${holder.since}; ${fix}`);
    }
    writeFileSync(path, text);
  }
  openShards.add(key);
  return { stale: previous !== null, previous };
}

/** Release a shard's lock: forget it here and delete shard.lock if this process wrote it. */
export function releaseShardLock(dir: string, shard: number): void {
  openShards.delete(`${resolve(dir)}\0${shard}`);
  const l = readShardLock(dir, shard);
  if (l !== null && l.pid === process.pid && l.host === hostname()) rmSync(join(shardDir(dir, shard), SHARD_LOCK), { force: true });
}
