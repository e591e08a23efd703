/**
 * Progress of a batch in flight: which stage the run is in (Jupyter server, kernels, samples), how many kernels
 * of the pool are ready, and where each sample in flight is (shared/run.ts `RunProgress`). `spatialclaw run` /
 * `eval` feed it from the runner's phase hooks and the pool's stats, print {@link describeProgress} lines and write
 * the snapshot to the run folder's `progress.json`, which the workbench shows for a live run.
 */
import { join } from 'node:path';
import { describeProgress, type RunProgress, type SamplePhase, SamplePhaseSchema } from '../../../shared/run.ts';
import { writeFileAtomic } from '../fs/atomic.ts';
import type { PoolStats } from '../kernel/pool.ts';
import { PROGRESS_JSON } from '../runs/layout.ts';


export interface ProgressOptions {
  /** Samples the run was asked to do, and how many were recorded before (--resume). */
  total: number;
  done: number;
  /** Kernels the pool keeps at most (one per sample in flight). */
  kernelTarget: number;
  /** Milliseconds clock (tests). Default `Date.now`. */
  now?: () => number;
  /**
   * When the command started, on the `now` clock (ms): `elapsed_s`, `first_model_call_s` and `first_sample_done_s`
   * count from it, as the CLI's printed phase lines do (docs/run-format.md). Default: when the tracker is made.
   */
  startedAt?: number;
}

type Listener = (p: RunProgress, line: string) => void;

export class RunProgressTracker {
  private stage: RunProgress['stage'] = 'jupyter';
  private readonly phases = new Map<string, SamplePhase>();
  private done: number;
  private readonly t0: number;
  private readonly now: () => number;
  private pool: (() => PoolStats) | null = null;
  private firstModelCallMs: number | null = null;
  private firstSampleDoneMs: number | null = null;
  private readonly listeners: Listener[] = [];

  constructor(private readonly opts: ProgressOptions) {
    this.now = opts.now ?? Date.now;
    this.t0 = opts.startedAt ?? this.now();
    this.done = opts.done;
  }

  /** Read the kernel pool's stats from now on (the pool exists once the Jupyter server is up). */
  attachPool(stats: (() => PoolStats) | null): void {
    this.pool = stats;
    if (this.stage === 'jupyter') this.stage = 'kernels';
    this.changed();
  }

  /** A sample moved to `phase`, or left the run's flight (`null`: recorded, or given up). */
  sample(id: string, phase: SamplePhase | null): void {
    if (phase === 'model' && this.firstModelCallMs === null) this.firstModelCallMs = this.now();
    if (phase === null) this.phases.delete(id);
    else this.phases.set(id, phase);
    if (this.stage === 'kernels' && phase !== null && phase !== 'kernel') this.stage = 'running';
    this.changed();
  }

  /** A sample was recorded. */
  sampleDone(id: string): void {
    this.done++;
    this.firstSampleDoneMs ??= this.now();
    this.phases.delete(id);
    this.changed();
  }

  /** Every sample is done (or the run stopped): shutting down; then `done` once recorded. */
  finish(stage: 'finishing' | 'done'): void {
    this.stage = stage;
    this.phases.clear();
    this.changed();
  }

  snapshot(): RunProgress {
    const counts = Object.fromEntries(SamplePhaseSchema.options.map((p) => [p, 0])) as Record<SamplePhase, number>;
    for (const p of this.phases.values()) counts[p]++;
    const s = this.pool?.();
    const secs = (ms: number | null): number | null => (ms === null ? null : Math.round(ms - this.t0) / 1000);
    return {
      t: new Date(this.now()).toISOString(),
      elapsed_s: Math.round(this.now() - this.t0) / 1000,
      stage: this.stage,
      kernels: s ? { ready: s.warm + s.inUse + s.resetting, starting: s.starting, target: this.opts.kernelTarget, started: s.started, reused: s.reused } : null,
      samples: { total: this.opts.total, done: this.done, phases: counts },
      first_model_call_s: secs(this.firstModelCallMs),
      first_sample_done_s: secs(this.firstSampleDoneMs),
    };
  }

  /** Called with the snapshot and its line at every change (callers throttle). */
  onChange(listener: Listener): () => void {
    this.listeners.push(listener);
    return () => this.listeners.splice(this.listeners.indexOf(listener), 1);
  }

  /** Tell the listeners now (e.g. a timer while kernels start: the pool changes without a sample moving). */
  changed(): void {
    if (!this.listeners.length) return;
    const p = this.snapshot();
    const line = describeProgress(p);
    for (const l of [...this.listeners]) l(p, line);
  }
}

/**
 * Keep `<runDir>/progress.json` up to date from a tracker: at every change of stage at once, otherwise at most once
 * per `intervalMs`, and while kernels start on a timer (the pool changes between sample events). Write errors are
 * ignored: progress must never stop a run.
 * @returns a function that writes the last snapshot and stops.
 */
export function writeProgressFile(tracker: RunProgressTracker, runDir: string, intervalMs = 1000): () => void {
  const path = join(runDir, PROGRESS_JSON);
  let last = 0;
  let lastStage: RunProgress['stage'] | null = null;
  let pending: RunProgress | null = null;
  const write = (p: RunProgress): void => {
    last = Date.now();
    lastStage = p.stage;
    pending = null;
    try {
      writeFileAtomic(path, `${JSON.stringify(p)}\n`);
    } catch {
      /* a full disk or a removed folder: the run goes on */
    }
  };
  const off = tracker.onChange((p) => {
    if (p.stage !== lastStage || Date.now() - last >= intervalMs) write(p);
    else pending = p;
  });
  const tick = setInterval(() => {
    if (pending) write(pending);
    else tracker.changed();
  }, intervalMs);
  tick.unref();
  return () => {
    clearInterval(tick);
    off();
    write(tracker.snapshot());
  };
}
