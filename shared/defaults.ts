/**
 * Every default of the host, the CLI and the workbench UI, in one place. The resolved configuration
 * (electron/services/config/resolve.ts) starts from these; flags, environment variables and
 * `<data dir>/settings.json` override them in that order of precedence (flags first).
 *
 * Python-side defaults live with their code: the kernel runtime's in `spatial_runtime` (frames sampled from
 * a video, image limits) and the perception server's in `spatial_perception.app.ServerConfig`.
 */
export const DEFAULTS = {
  /** Backends of a perception server started on this host (`perception start`, `--perception local`, Settings). */
  localPerceptionBackends: ['rgbd', 'classical'] as readonly string[],
  /** The agent profile (shared/profiles.ts): `default` or `paper`. */
  profile: 'default' as 'default' | 'paper',
  /** Agent steps (cells) per sample. */
  maxSteps: 30,
  /** Largest step budget a request may ask for. */
  maxStepsLimit: 200,
  /** How the model acts: one Python cell per step. */
  executor: 'code' as 'code' | 'single_pass' | 'tool_call',
  /** Ask the planner for a plan before the first step. */
  plan: true,
  /** Kernels the workbench keeps (warm or in use, reset and reused between samples); more start on demand and stop when released. */
  poolSize: 1,
  /**
   * Kernel address-space limit (RLIMIT_AS), GiB: the most the machine-derived default ({@link defaultMemoryGib})
   * gives, and the Settings form's placeholder.
   */
  memoryGib: 16,
  /** The least the machine-derived kernel memory default gives, GiB (an initialised kernel maps about 1 GiB; BLAS threads add more on many cores). */
  memoryGibMin: 4,
  /** Share of the machine's memory the machine-derived kernel memory default divides among the kernels; the rest is the OS's, the host's, Jupyter's and a local perception server's. */
  memoryShare: 0.75,
  /** Kernels the machine-derived kernel memory default counts on at least: a sample's kernel and a console kernel. */
  memoryKernelsMin: 2,
  /**
   * Resident memory, MiB, a pooled kernel may keep after the reset on release; a kernel above it is shut down
   * and replaced instead of reused (0 = no bound). An idle initialised kernel measured 205 MiB (Linux, Python
   * 3.11; docs/benchmarks.md): 512 leaves about 2.5× that, so only what a sample left reachable past the reset
   * (or a runtime that grew) costs a restart.
   */
  kernelIdleMaxMb: 512,
  /** Per-cell timeout, seconds. */
  cellTimeoutS: 600,
  /**
   * Samples run in parallel by `spatialclaw run` / `eval` (one kernel each). `auto`: as many as the model accepts in
   * flight (the sum of its endpoints' `max_in_flight`), at most twice the CPUs (docs/throughput.md).
   */
  concurrency: 'auto' as number | 'auto',
  /** A console replay kernel is closed after this long unused, milliseconds. */
  replayIdleMs: 10 * 60_000,
  /** Failed steps in a row that end a sample (termination `consecutive_failures`). */
  maxConsecutiveFailures: 5,
  /** Frames sampled uniformly from a video input (the kernel runtime's default too). */
  videoFrames: 16,
  /** Input frames attached to the model's first message. */
  keyFrames: 8,
  /** Images (key frames + show() images) a sample may send over its whole history. */
  imageBudget: 24,
  /** Images per model request (model config `images.per_request`). */
  imagesPerRequest: 8,
  /**
   * Of those, slots kept for observation images (show(), plots): key frames take at most
   * imagesPerRequest - observationSlots, so the latest observation's images always reach the model.
   */
  observationSlots: 3,
  /** Long edge, pixels, images are resized to before they are sent (model config `images.max_long_edge`). */
  maxLongEdge: 1024,
} as const;

/**
 * The default kernel memory limit (RLIMIT_AS, GiB) on a machine with `totalBytes` of memory (`os.totalmem()`)
 * when up to `kernels` kernels run at once (the pool size; `run`/`eval`: the concurrency):
 *
 *   min(memoryGib, max(memoryGibMin, floor_0.5(memoryShare × total GiB / max(memoryKernelsMin, kernels))))
 *
 * i.e. three quarters of the memory shared by the kernels (at least two), rounded down to half a GiB, between
 * 4 and 16 GiB. 24 GiB, one pooled kernel: 9 GiB (two kernels fit); 64 GiB or more: 16 GiB. On a small machine
 * with many kernels the 4 GiB floor can add up to more than the memory; set `memory_gib` (settings.json) then.
 * Only the default: a flag or settings.json `memory_gib` wins.
 * @throws RangeError when `totalBytes` is not a positive number or `kernels` is negative.
 */
export function defaultMemoryGib(totalBytes: number, kernels: number): number {
  if (!(totalBytes > 0) || !Number.isFinite(totalBytes)) throw new RangeError(`total memory must be a positive number of bytes, got ${totalBytes}`);
  if (!(kernels >= 0)) throw new RangeError(`the number of kernels must be 0 or more, got ${kernels}`);
  const share = (DEFAULTS.memoryShare * totalBytes) / 1024 ** 3 / Math.max(DEFAULTS.memoryKernelsMin, kernels);
  return Math.min(DEFAULTS.memoryGib, Math.max(DEFAULTS.memoryGibMin, Math.floor(share * 2) / 2));
}
