/**
 * KernelPool: keeps up to `size` kernels with the runtime already imported, so a sample gets a kernel as
 * soon as one is ready. Kernels start in the background with bounded parallelism; an `acquire()` that
 * finds none warm waits (FIFO) for the next one ready instead of starting its own. `release()` resets the
 * kernel in place (no restart) and hands it to the next waiter or back to the warm set, unless the reset
 * reports the interpreter tainted or the kernel keeps more resident memory than `idleMaxMib` after it
 * (docs/kernel-protocol.md, "Release (pool)"), in which case it is shut down and replaced. Dead kernels are
 * replaced; after a period without use the pool shrinks to its minimum.
 */
import { readdirSync, readFileSync } from 'node:fs';
import os from 'node:os';
import type { Kernel, KernelManager } from '@jupyterlab/services';
import { DEFAULTS } from '../../../shared/defaults.ts';
import { sandboxOfServer } from './sandbox.ts';
import { finishWarmUp, residentMib, resetKernel, startInitialisedKernel } from './session.ts';

export interface KernelPoolOptions {
  manager: KernelManager;
  /** Kernelspec to start (`spatialclaw` on local servers, with OS limits). */
  kernelName: string;
  /** Kernels the pool owns at most, warm, starting and in use together (default 2). */
  size?: number;
  /** Warm kernels kept after `idleTimeoutMs` without an acquire (default 0). */
  minSize?: number;
  /** Shrink to `minSize` after this long without an acquire (default 10 min; 0 = never). */
  idleTimeoutMs?: number;
  /**
   * Kernels started at once (default: the CPUs). A start is half waiting (process spawn, ZMQ handshake), half CPU: on
   * 2 cores, 2 at once had 8 kernels ready ~1.5 s sooner than 1 at a time; 4 at once delayed the first one
   * (bench:batch, 2026-12-05).
   */
  startConcurrency?: number;
  /**
   * When all `size` kernels are in use: `wait` (default) queues the acquire until one is released;
   * `start` starts an extra kernel for it, shut down on release (for hosts whose sessions can be held
   * open indefinitely, e.g. a console, where waiting could block a run for good).
   */
  overflow?: 'wait' | 'start';
  /** How long a reset on release may take before the kernel is given up (default 30 s). */
  resetTimeoutMs?: number;
  /**
   * Resident memory, MiB, a released kernel may keep after its reset; above it the kernel is shut down and
   * replaced (`restartedMemory`). 0 = no bound. Default `DEFAULTS.kernelIdleMaxMb` (setting `kernel_idle_max_mb`).
   */
  idleMaxMib?: number;
}

export interface PoolStats {
  warm: number;
  starting: number;
  inUse: number;
  /** Acquires waiting for a kernel. */
  waiting: number;
  /** Released kernels being reset in place for the next sample. */
  resetting: number;
  started: number;
  /** Acquires served by a kernel that an earlier session had used (reset in place). */
  reused: number;
  /** Released kernels shut down because their reset reported the interpreter tainted. */
  restartedTainted: number;
  /** Released kernels shut down because their resident memory after the reset exceeded `idleMaxMib`. */
  restartedMemory: number;
  /** Released kernels shut down because their reset failed. */
  resetFailed: number;
  replacedDead: number;
  culled: number;
  /**
   * Resident memory of each warm kernel, MiB, as last measured (after its start, or after the reset of its
   * last release), in warm-set order; kernels whose memory could not be read are left out.
   */
  idleRssMib: number[];
}

interface Waiter {
  resolve: (k: Kernel.IKernelConnection) => void;
  reject: (e: unknown) => void;
}

type Conn = Kernel.IKernelConnection;

/**
 * Whether `pid` is still one of our kernel processes (`spatial_runtime.kernel_launch` in its command line, from
 * /proc): a kernel that died and was restarted by its server has a new pid, and the old one may belong to another
 * process by now. False where /proc cannot be read (the pool then shuts kernels down as usual).
 */
/**
 * The host pid of kernel `kernelId`'s Python process on this machine: the `spatial_runtime.kernel_launch` process whose
 * command line names its connection file `kernel-<id>.json` (not the bwrap around a sandboxed one). Found in /proc, not
 * from the kernel's own `os.getpid()`, which in the sandbox is its PID-namespace pid. Null where there is none (or no
 * /proc).
 */
export function kernelHostPid(kernelId: string): number | null {
  let entries: string[];
  try {
    entries = readdirSync('/proc');
  } catch {
    return null;
  }
  for (const entry of entries) {
    if (!/^\d+$/.test(entry)) continue;
    let cmd: string;
    try {
      cmd = readFileSync(`/proc/${entry}/cmdline`, 'utf8');
    } catch {
      continue;
    }
    if (cmd.includes('spatial_runtime.kernel_launch') && cmd.includes(`kernel-${kernelId}.json`) && !cmd.split('\0')[0]!.endsWith('bwrap')) {
      return Number(entry);
    }
  }
  return null;
}

export class KernelPool {
  /** Shut a kernel down and remove its sandbox folders (sandbox.ts), if it had any. */
  private shutDown(k: Conn): Promise<void> {
    const id = k.id;
    return k.shutdown().then(
      () => sandboxOfServer(this.opts.manager.serverSettings.baseUrl)?.forget(id),
      () => undefined,
    );
  }
  private readonly warm: Conn[] = [];
  private readonly inUse = new Set<Conn>();
  /** Kernels being reset after a release. */
  private resetting = 0;
  private starting = 0;
  private readonly waiters: Waiter[] = [];
  /** Kernels a session has used (so the next hand-out of one counts as a reuse). */
  private readonly used = new WeakSet<Conn>();
  /** Kernels started beyond `size` (overflow `start`): shut down on release. */
  private readonly extra = new WeakSet<Conn>();
  private lastAcquire = Date.now();
  private cullTimer: NodeJS.Timeout | null = null;
  private closed = false;
  /** The last resident-memory measurement of each kernel, MiB. */
  private readonly rss = new WeakMap<Conn, number>();
  private readonly counters = { started: 0, reused: 0, restartedTainted: 0, restartedMemory: 0, resetFailed: 0, replacedDead: 0, culled: 0 };
  private readonly size: number;
  private readonly minSize: number;
  private readonly idleTimeoutMs: number;
  private readonly startConcurrency: number;
  private readonly overflow: 'wait' | 'start';
  private readonly resetTimeoutMs: number;
  private readonly idleMaxMib: number;
  /** Resolved when no start is in progress; the error of the last failed start since the last fill() call. */
  private idleResolvers: Array<(err: unknown) => void> = [];
  private lastStartError: unknown = null;
  /** Why the last released kernel was not reused: the kernel's taint reasons, its resident memory over the bound, or the reset error. */
  lastTaint: string[] = [];

  constructor(private readonly opts: KernelPoolOptions) {
    this.size = opts.size ?? 2;
    this.minSize = Math.min(opts.minSize ?? 0, this.size);
    this.idleTimeoutMs = opts.idleTimeoutMs ?? 10 * 60_000;
    this.startConcurrency = opts.startConcurrency ?? Math.max(1, os.availableParallelism());
    this.overflow = opts.overflow ?? 'wait';
    this.resetTimeoutMs = opts.resetTimeoutMs ?? 30_000;
    this.idleMaxMib = opts.idleMaxMib ?? DEFAULTS.kernelIdleMaxMb;
    if (!(this.idleMaxMib >= 0) || !Number.isFinite(this.idleMaxMib)) throw new Error(`idleMaxMib must be a non-negative number (0 = no bound), got ${this.idleMaxMib}`);
    if (this.size < 0 || !Number.isInteger(this.size)) throw new Error(`pool size must be a non-negative integer, got ${this.size}`);
    if (this.startConcurrency < 1 || !Number.isInteger(this.startConcurrency)) {
      throw new Error(`startConcurrency must be a positive integer, got ${this.startConcurrency}`);
    }
    if (this.idleTimeoutMs > 0) {
      this.cullTimer = setInterval(() => void this.cull(), Math.min(this.idleTimeoutMs, 30_000));
      this.cullTimer.unref();
    }
  }

  stats(): PoolStats {
    const idleRssMib = this.warm.flatMap((k) => {
      const mib = this.rss.get(k);
      return mib === undefined ? [] : [mib];
    });
    return { warm: this.warm.length, starting: this.starting, inUse: this.inUse.size, waiting: this.waiters.length, resetting: this.resetting, ...this.counters, idleRssMib };
  }

  /** Kernels owned now: warm, starting, in use and being reset. */
  private total(): number {
    return this.warm.length + this.starting + this.inUse.size + this.resetting;
  }

  /**
   * Start kernels (in the background, at most `startConcurrency` at once) until `size` are owned.
   * @returns a promise that resolves when no start is in progress any more; rejects with the error of a
   *   start that failed meanwhile.
   */
  fill(): Promise<void> {
    this.lastStartError = null;
    this.pump();
    if (this.starting === 0) return Promise.resolve();
    return new Promise((resolve, reject) => {
      this.idleResolvers.push((err) => (err ? reject(err instanceof Error ? err : new Error(String(err))) : resolve()));
    });
  }

  private target(): number {
    const idle = this.idleTimeoutMs > 0 && Date.now() - this.lastAcquire > this.idleTimeoutMs;
    return idle ? this.minSize : this.size;
  }

  /** The fill loop: start kernels while one is needed (warm target or an unserved waiter) and allowed. */
  private pump(): void {
    while (!this.closed && this.starting < this.startConcurrency) {
      // Waiters not covered by kernels already on their way (starting, or being reset after a release).
      const unserved = this.waiters.length - this.starting - this.resetting;
      const belowTarget = this.total() < this.target();
      const room = this.total() < this.size;
      if (room && (belowTarget || unserved > 0)) this.startOne(false);
      else if (!room && unserved > 0 && this.overflow === 'start') this.startOne(true);
      else break;
    }
  }

  private startOne(extra: boolean): void {
    this.starting++;
    // Deferred init: a waiting sample can prepare ~0.7 s sooner; its session loads the rest while the model thinks.
    void startInitialisedKernel(this.opts.manager, this.opts.kernelName).then(
      (k) => {
        this.starting--;
        this.counters.started++;
        if (extra) this.extra.add(k);
        this.watch(k);
        if (this.closed) void this.shutDown(k);
        else {
          if (!this.waiters.length) {
            // Nobody waits: finish the init now, then measure what a warm kernel keeps resident (stats().idleRssMib).
            // A sample that takes it meanwhile queues behind (one shell channel); failures here fail nothing.
            void finishWarmUp(k, this.resetTimeoutMs)
              .then(() => residentMib(k, this.resetTimeoutMs))
              .then((mib) => { if (mib !== null) this.rss.set(k, mib); }, () => undefined);
          }
          this.handOut(k);
        }
        this.afterStart();
      },
      (err: unknown) => {
        this.starting--;
        this.lastStartError = err;
        // A waiter gets the error (as a cold start would have thrown); no blind retry without one.
        this.waiters.shift()?.reject(err);
        this.afterStart();
      },
    );
  }

  private afterStart(): void {
    this.pump();
    if (this.starting > 0) return;
    const resolvers = this.idleResolvers;
    this.idleResolvers = [];
    const err = this.lastStartError;
    for (const r of resolvers) r(err);
  }

  /** Give a ready kernel to the oldest waiter, else keep it warm. */
  private handOut(k: Conn): void {
    const w = this.waiters.shift();
    if (!w) {
      this.warm.push(k);
      return;
    }
    if (this.used.has(k)) this.counters.reused++;
    this.inUse.add(k);
    w.resolve(k);
  }

  private watch(k: Conn): void {
    k.statusChanged.connect((_k, status) => {
      if (status !== 'dead' && status !== 'autorestarting') return;
      const i = this.warm.indexOf(k);
      if (i >= 0) {
        // A warm kernel died (e.g. killed by the OS): drop it and start a replacement.
        this.warm.splice(i, 1);
        this.counters.replacedDead++;
        void this.shutDown(k);
        this.pump();
      }
    });
  }

  private static alive(k: Conn): boolean {
    return k.status !== 'dead' && k.status !== 'autorestarting' && !k.isDisposed;
  }

  /**
   * A ready kernel with the runtime imported: a warm one at once, else the next one the fill loop makes
   * ready or a session releases (first come, first served). Kicks the fill loop either way.
   * @throws when the pool is closed, or with the start error of the kernel this acquire waited for.
   */
  async acquire(): Promise<Conn> {
    if (this.closed) throw new Error('the kernel pool is closed');
    this.lastAcquire = Date.now();
    let k: Conn | undefined;
    while ((k = this.warm.shift())) {
      if (KernelPool.alive(k)) break;
      this.counters.replacedDead++;
      void this.shutDown(k);
    }
    if (k) {
      if (this.used.has(k)) this.counters.reused++;
      this.inUse.add(k);
      this.pump();
      return k;
    }
    const p = new Promise<Conn>((resolve, reject) => this.waiters.push({ resolve, reject }));
    this.pump();
    return p;
  }

  /**
   * Give a kernel back. It is reset in place (no restart) and goes to the next waiter or back to the warm
   * set; it is shut down (and replaced by the fill loop) when it died, its reset failed or reported the
   * interpreter tainted, it keeps more than `idleMaxMib` resident after the reset, it was an overflow
   * kernel, or the pool is above its (idle) target.
   */
  async release(k: Conn): Promise<void> {
    if (!this.inUse.delete(k)) return;
    this.used.add(k);
    let keep = !this.closed && KernelPool.alive(k) && !this.extra.has(k);
    if (keep) {
      this.resetting++;
      try {
        const verdict = await resetKernel(k, this.resetTimeoutMs);
        if ('error' in verdict) {
          this.counters.resetFailed++;
          this.lastTaint = [verdict.error];
          keep = false;
        } else {
          if (verdict.rss_mib !== null) this.rss.set(k, verdict.rss_mib);
          if (verdict.tainted) {
            this.counters.restartedTainted++;
            this.lastTaint = verdict.reasons;
            keep = false;
          } else if (this.idleMaxMib > 0 && verdict.rss_mib !== null && verdict.rss_mib > this.idleMaxMib) {
            this.counters.restartedMemory++;
            this.lastTaint = [`resident memory ${Math.ceil(verdict.rss_mib)} MiB after reset exceeds kernel_idle_max_mb ${this.idleMaxMib}`];
            keep = false;
          }
        }
      } finally {
        this.resetting--;
      }
      keep &&= !this.closed && KernelPool.alive(k) && (this.waiters.length > 0 || this.warm.length < this.target());
    }
    if (keep) this.handOut(k);
    else await this.shutDown(k);
    this.pump();
  }

  /** Shut down warm kernels beyond the current target. */
  async cull(): Promise<void> {
    while (this.warm.length > this.target()) {
      const k = this.warm.pop();
      if (!k) break;
      this.counters.culled++;
      await this.shutDown(k);
    }
  }

  /**
   * Shut down every kernel the pool owns (warm and in use); pending acquires are rejected. With `kill` (kernels on
   * this machine, whose state nobody needs any more: a batch whose samples are all recorded), each kernel is SIGKILLed by its process id instead of asked to shut down (8 graceful shutdowns together take
   * about 0.5 s on 2 cores). Kernels whose process id is unknown are shut down as usual. The server, stopped next,
   * cleans up their connection files.
   */
  async close(opts: { kill?: boolean } = {}): Promise<void> {
    this.closed = true;
    if (this.cullTimer) clearInterval(this.cullTimer);
    for (const w of this.waiters.splice(0)) w.reject(new Error('the kernel pool is closed'));
    // Kernels still starting are waited for (then shut down or killed like the others): leaving their starts
    // pending past the server's stop kept the process alive. At concurrency 16-32 on 2 cores this is most of a
    // batch's 1.6-4.8 s tail (docs/benchmarks.md).
    if (this.starting > 0) await new Promise<unknown>((r) => this.idleResolvers.push(r));
    const all = [...this.warm, ...this.inUse];
    this.warm.length = 0;
    this.inUse.clear();
    await Promise.all(all.map((k) => {
      const pid = opts.kill ? kernelHostPid(k.id) : null;
      if (pid !== null) {
        try {
          process.kill(pid, 'SIGKILL');
          k.dispose(); // no reconnection attempts to a kernel that is gone
          return Promise.resolve();
        } catch {
          /* already gone, or not ours to signal: shut it down as usual */
        }
      }
      return this.shutDown(k);
    }));
  }
}
