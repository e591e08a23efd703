/**
 * KernelPool: keeps N warm kernels with the runtime already imported, so a new sample gets a kernel
 * in milliseconds. `release()` resets the namespace instead of restarting; dead kernels are replaced;
 * after a period without use the pool shrinks to its minimum.
 */
import type { Kernel, KernelManager } from '@jupyterlab/services';
import { RESET_CODE, runQuiet, startInitialisedKernel } from './session.ts';

export interface KernelPoolOptions {
  manager: KernelManager;
  /** Kernelspec to start (`spatialclaw` on local servers, with OS limits). */
  kernelName: string;
  /** Warm kernels to keep ready (default 2). */
  size?: number;
  /** Warm kernels kept after `idleTimeoutMs` without an acquire (default 0). */
  minSize?: number;
  /** Shrink to `minSize` after this long without an acquire (default 10 min; 0 = never). */
  idleTimeoutMs?: number;
}

export interface PoolStats {
  warm: number;
  starting: number;
  inUse: number;
  started: number;
  replacedDead: number;
  culled: number;
}

export class KernelPool {
  private readonly warm: Kernel.IKernelConnection[] = [];
  private readonly inUse = new Set<Kernel.IKernelConnection>();
  private starting = 0;
  private lastAcquire = Date.now();
  private cullTimer: NodeJS.Timeout | null = null;
  private closed = false;
  private readonly counters = { started: 0, replacedDead: 0, culled: 0 };
  private readonly size: number;
  private readonly minSize: number;
  private readonly idleTimeoutMs: number;
  private fillPromise: Promise<void> | null = null;

  constructor(private readonly opts: KernelPoolOptions) {
    this.size = opts.size ?? 2;
    this.minSize = Math.min(opts.minSize ?? 0, this.size);
    this.idleTimeoutMs = opts.idleTimeoutMs ?? 10 * 60_000;
    if (this.size < 0 || !Number.isInteger(this.size)) throw new Error(`pool size must be a non-negative integer, got ${this.size}`);
    if (this.idleTimeoutMs > 0) {
      this.cullTimer = setInterval(() => void this.cull(), Math.min(this.idleTimeoutMs, 30_000));
      this.cullTimer.unref();
    }
  }

  stats(): PoolStats {
    return { warm: this.warm.length, starting: this.starting, inUse: this.inUse.size, ...this.counters };
  }

  /** Start kernels until `size` are warm; resolves when they are ready. */
  fill(): Promise<void> {
    this.fillPromise ??= this.fillLoop().finally(() => {
      this.fillPromise = null;
    });
    return this.fillPromise;
  }

  private async fillLoop(): Promise<void> {
    // One at a time: kernels starting in parallel on a 2-core machine only slow each other down.
    while (!this.closed && this.warm.length + this.starting < this.target()) {
      this.starting++;
      try {
        const k = await startInitialisedKernel(this.opts.manager, this.opts.kernelName);
        this.counters.started++;
        this.watch(k);
        if (this.closed) await k.shutdown().catch(() => undefined);
        else this.warm.push(k);
      } finally {
        this.starting--;
      }
    }
  }

  private target(): number {
    const idle = this.idleTimeoutMs > 0 && Date.now() - this.lastAcquire > this.idleTimeoutMs;
    return idle ? this.minSize : this.size;
  }

  private watch(k: Kernel.IKernelConnection): void {
    k.statusChanged.connect((_k, status) => {
      if (status !== 'dead' && status !== 'autorestarting') return;
      const i = this.warm.indexOf(k);
      if (i >= 0) {
        // A warm kernel died (e.g. killed by the OS): drop it and start a replacement.
        this.warm.splice(i, 1);
        this.counters.replacedDead++;
        void k.shutdown().catch(() => undefined);
        void this.fill().catch(() => undefined);
      }
    });
  }

  /**
   * A ready kernel with the runtime imported. Warm kernels are handed out at once and the pool
   * refills in the background; when none is warm, one is started (a cold start).
   */
  async acquire(): Promise<Kernel.IKernelConnection> {
    if (this.closed) throw new Error('the kernel pool is closed');
    this.lastAcquire = Date.now();
    let k: Kernel.IKernelConnection | undefined;
    while ((k = this.warm.shift())) {
      if (k.status !== 'dead' && !k.isDisposed) break;
      this.counters.replacedDead++;
    }
    if (!k) {
      k = await startInitialisedKernel(this.opts.manager, this.opts.kernelName);
      this.counters.started++;
      this.watch(k);
    }
    this.inUse.add(k);
    void this.fill().catch(() => undefined);
    return k;
  }

  /**
   * Give a kernel back. Its namespace is reset (no restart) and it rejoins the warm set, unless the
   * pool is full or the reset fails, in which case it is shut down.
   */
  async release(k: Kernel.IKernelConnection): Promise<void> {
    this.inUse.delete(k);
    const healthy = !this.closed && k.status !== 'dead' && !k.isDisposed;
    if (healthy && this.warm.length < this.target()) {
      const err = await runQuiet(k, RESET_CODE, 30_000);
      if (!err && (k.status as Kernel.Status) !== 'dead') {
        this.warm.push(k);
        return;
      }
    }
    await k.shutdown().catch(() => undefined);
    void this.fill().catch(() => undefined);
  }

  /** Shut down warm kernels beyond the current target. */
  async cull(): Promise<void> {
    while (this.warm.length > this.target()) {
      const k = this.warm.pop();
      if (!k) break;
      this.counters.culled++;
      await k.shutdown().catch(() => undefined);
    }
  }

  /** Shut down every kernel the pool owns (warm and in use). */
  async close(): Promise<void> {
    this.closed = true;
    if (this.cullTimer) clearInterval(this.cullTimer);
    await this.fillPromise?.catch(() => undefined);
    const all = [...this.warm, ...this.inUse];
    this.warm.length = 0;
    this.inUse.clear();
    await Promise.all(all.map((k) => k.shutdown().catch(() => undefined)));
  }
}
