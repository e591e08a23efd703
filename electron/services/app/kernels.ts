/**
 * The kernel runtime of one host (a Jupyter server, the kernel manager, the safety checker and a warm
 * pool), started on first use with the resolved pool size, memory limit and idle-memory bound, and stopped
 * on close.
 */
import { kernelLimitsOf } from '../config/resolve.ts';
import type { SettingsService } from '../config/settings.ts';
import { KernelRuntime } from '../kernel/runtime.ts';

export interface KernelServiceOptions {
  /** Use a running Jupyter server instead of starting one (`kernel run --jupyter-url`). */
  remote?: { url: string; token: string };
}

export class KernelService {
  private runtimeP: Promise<KernelRuntime> | null = null;

  constructor(
    private readonly settings: SettingsService,
    private readonly opts: KernelServiceOptions = {},
  ) {}

  /**
   * The runtime, started on the first call with the pool size and memory limit resolved at that moment
   * (saved settings apply when the runtime next starts). A failed start is retried by the next call.
   * @throws SettingsError (settings.json invalid), or the Jupyter server's start error.
   */
  runtime(): Promise<KernelRuntime> {
    if (!this.runtimeP) {
      const c = this.settings.config();
      // Overflow `start`: a console kernel may be held open for minutes; a run must not wait for it.
      this.runtimeP = KernelRuntime.start({
        poolSize: c.poolSize,
        poolOverflow: 'start',
        poolIdleMaxMib: c.kernelIdleMaxMb,
        kernelLimits: kernelLimitsOf(c),
        sandbox: c.sandbox,
        ...(this.opts.remote ? { remote: this.opts.remote } : {}),
      });
      this.runtimeP.catch(() => (this.runtimeP = null));
    }
    return this.runtimeP;
  }

  /** The runtime if it was started (or is starting), without starting one; null otherwise or when its start failed. */
  async ifStarted(): Promise<KernelRuntime | null> {
    return this.runtimeP ? this.runtimeP.catch(() => null) : null;
  }

  /** Stop the runtime (its pool, kernels and Jupyter server) if it was started; `fast`: KernelRuntime.close's. */
  async close(opts: { fast?: boolean } = {}): Promise<void> {
    const rt = await this.ifStarted();
    this.runtimeP = null;
    await rt?.close(opts).catch(() => undefined);
  }
}
