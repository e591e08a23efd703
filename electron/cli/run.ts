/**
 * `spatialclaw run`: a batch of questions from a JSONL dataset, with progress, accuracy and --resume,
 * recorded as one run folder (docs/run-format.md). Model, perception server and kernels come from the same
 * services as `spatialclaw ask` and the workbench (electron/services/app/), configured by the same
 * resolved config (flags > environment > settings.json > defaults).
 */
import { existsSync, readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join, resolve } from 'node:path';
import { z } from 'zod';
import type { ProfileName } from '../../shared/profiles.ts';
import { type SampleResult, type SampleSpec, SampleSpecSchema } from '../../shared/run.ts';
import { agentOptions, agentRecord } from '../services/agent/options.ts';
import { RunProgressTracker, writeProgressFile } from '../services/agent/progress.ts';
import { type SampleOrder, scheduleSamples } from '../services/agent/schedule.ts';
import { loadApiDoc, modelSecretValues, runBatch, runVersions, type SampleContext } from '../services/agent/runner.ts';
import { createServices } from '../services/app/index.ts';
import type { ConfigFlags, Executor } from '../services/config/resolve.ts';
import { SettingsService } from '../services/config/settings.ts';
import type { PoolStats } from '../services/kernel/pool.ts';
import { ModelClient } from '../services/model/client.ts';
import { ModelRegistry } from '../services/model/registry.ts';
import { redactConfig } from '../services/model/config.ts';
import { newRunId } from '../services/runs/layout.ts';
import { type PerceptionCacheSummary, perceptionCacheSummary } from '../services/runs/cache-summary.ts';
import { assertNoSecrets } from '../services/runs/secrets.ts';
import { RunWriter } from '../services/runs/writer.ts';
import { shardDir } from '../services/runs/layout.ts';
import { shardOf } from '../../shared/shards.ts';
import { DEFAULT_SIGNAL_BEFORE_S, ShardStop } from './shard-stop.ts';
import { batchSummary, formatBatchSummary } from '../services/runs/batch-summary.ts';
import { type ModelFlags, modelFlags, requireModel } from './ask.ts';

const DatasetRowSchema = z.object({
  id: z.union([z.string(), z.number()]).transform(String),
  inputs: z.array(z.unknown()).min(1),
  question: z.string(),
  choices: z.array(z.string()).optional(),
  answer: z.union([z.string(), z.number()]).optional(),
  question_type: z.string().optional(),
});

const issuesOf = (e: z.ZodError): string => e.issues.map((x) => `${x.path.join('.')}: ${x.message}`).join('; ');

/**
 * Read a JSONL dataset: one {id, inputs, question, choices?, answer?, question_type?} per line. Relative
 * input paths are resolved against the file's folder.
 * @throws Error naming the file and line of the first bad row, or a duplicate id.
 */
export function readDataset(file: string): SampleSpec[] {
  const path = resolve(file);
  if (!existsSync(path)) throw new Error(`dataset ${path} does not exist`);
  const base = resolve(path, '..');
  const out: SampleSpec[] = [];
  const seen = new Set<string>();
  readFileSync(path, 'utf8').split('\n').forEach((line, i) => {
    if (!line.trim()) return;
    let row: unknown;
    try {
      row = JSON.parse(line);
    } catch {
      throw new Error(`${path}:${i + 1}: not valid JSON`);
    }
    const parsed = DatasetRowSchema.safeParse(row);
    if (!parsed.success) throw new Error(`${path}:${i + 1}: ${issuesOf(parsed.error)}`);
    const inputs = parsed.data.inputs.map((inp) => {
      const v = inp as Record<string, unknown>;
      const abs = (p: unknown): unknown => (typeof p === 'string' ? resolve(base, p) : p);
      return { ...v, path: abs(v['path']), ...(v['depth'] ? { depth: abs(v['depth']) } : {}), ...(v['camera'] ? { camera: abs(v['camera']) } : {}), ...(v['poses'] ? { poses: abs(v['poses']) } : {}) };
    });
    const spec = SampleSpecSchema.safeParse({ ...parsed.data, inputs });
    if (!spec.success) throw new Error(`${path}:${i + 1}: ${issuesOf(spec.error)}`);
    if (seen.has(spec.data.id)) throw new Error(`${path}:${i + 1}: duplicate sample id ${spec.data.id}`);
    seen.add(spec.data.id);
    out.push(spec.data);
  });
  if (out.length === 0) throw new Error(`${path} has no samples`);
  return out;
}

export interface RunOptions extends ModelFlags {
  dataset: string;
  /** `media` (default): samples with the same inputs run one after another; `dataset`: the file's order. */
  order?: SampleOrder;
  /** Samples in flight, or `auto` ({@link resolveConcurrency}). */
  concurrency?: number | 'auto';
  limit?: number;
  /** `--resume` (with --out DIR) or `--resume DIR`. */
  resume?: boolean | string;
  out?: string;
  perception?: string;
  profile?: ProfileName;
  executor?: Executor;
  maxSteps?: number;
  /** `--cell-timeout`: per-cell timeout, seconds (default: the resolved config's `cellTimeoutS`). */
  cellTimeout?: number;
  /** `--sample-timeout`: wall-clock budget per sample, seconds (default: settings.json `sample_timeout_s`, else none). */
  sampleTimeout?: number;
  /** false with `--no-plan`. */
  plan?: boolean;
  /** `--no-artifacts`: do not copy perception artifacts into the run folder. */
  artifacts?: boolean;
  /** Submit to SLURM as a sharded run (docs/cluster.md) instead of running here. */
  slurm?: boolean;
  /** `--slurm`: how many shards (job-array tasks); default {@link DEFAULT_SHARDS}. */
  shards?: number;
  partition?: string;
  /** `--slurm`: each task's time limit, `HH:MM:SS` (or any form sbatch's --time takes). */
  time?: string;
  gpusPerTask?: number;
  /** Extra sbatch arguments, each passed as one argument (`--sbatch-arg=--qos=high`). */
  sbatchArg?: string[];
  /** `--slurm`: seconds before the time limit at which SLURM signals a task to stop and requeue (default 300). */
  signalBefore?: number;
  /** `--slurm`: stay and show progress per shard until the finalize job ends. */
  wait?: boolean;
  /** Run one shard of a sharded run: `K/N` (the job array's tasks pass it; also usable by hand). */
  shard?: string;
}

/** Shards of `--slurm` without `--shards`. */
export const DEFAULT_SHARDS = 4;

/** `K/N` → {shard K, shards N}. @throws naming the value when it is not `K/N` with 0 ≤ K < N. */
export function parseShardRef(v: string): { shard: number; shards: number } {
  const m = /^(\d+)\/(\d+)$/.exec(v.trim());
  const shard = m ? Number(m[1]) : NaN;
  const shards = m ? Number(m[2]) : NaN;
  if (!m || shards < 1 || shard >= shards) throw new Error(`--shard must be K/N with 0 <= K < N (e.g. 2/8), got ${JSON.stringify(v)}`);
  return { shard, shards };
}

/** Run the dataset; returns the exit code. */
export async function runDataset(o: RunOptions): Promise<number> {
  return executeRun(o, {
    describe: () => ({ kind: 'run', dataset: resolve(o.dataset) }),
    samples: async () => readDataset(o.dataset),
    summary: async (dir, wallS) => `\n${formatBatchSummary(batchSummary(dir, { wallS }))}`,
  });
}

/** What a batch command adds to the shared run: its samples, its run.json fields, its scorer and its end summary. */
export interface RunPlan {
  /** Fields of run.json's `config` that say what was run (kind, dataset or benchmarks). */
  describe: () => Record<string, unknown>;
  /** The samples, in order; read before anything starts (errors name the file or benchmark). */
  samples: () => Promise<SampleSpec[]>;
  /** The benchmark scorer (eval), started before the first sample and closed at the end. */
  scorer?: (() => Promise<SampleContext['scorer'] & { close: () => Promise<void> }>) | undefined;
  /** What to print once the run is recorded; `wallS`: seconds since the command started. */
  summary: (dir: string, wallS: number) => Promise<string>;
}

/**
 * Run samples as one run folder with the services of the resolved config: progress per sample, --limit, --resume.
 * Shared by `spatialclaw run` (a JSONL dataset) and `spatialclaw eval` (benchmarks). Returns the exit code.
 */
/** The configuration flags of a batch command. */
export function runFlags(o: RunOptions | Omit<RunOptions, 'dataset'>): ConfigFlags {
  return {
    ...modelFlags(o), perception: o.perception, profile: o.profile, executor: o.executor, maxSteps: o.maxSteps, cellTimeoutS: o.cellTimeout, sampleTimeoutS: o.sampleTimeout, plan: o.plan === false ? false : undefined, concurrency: o.concurrency,
  };
}

/**
 * run.json's `config` of a batch run: what was run (the plan's fields), the model (without secrets), the agent and
 * the scheduling. @throws when it would hold a secret's value.
 */
export function runRecord(plan: RunPlan, config: ReturnType<SettingsService['config']>, model: ModelClient, concurrency: number, o: Pick<RunOptions, 'order'>, auto: boolean): { runConfig: Record<string, unknown>; options: ReturnType<typeof agentOptions> } {
  const cfg = model.config;
  const options = agentOptions({ profile: config.profile, executor: config.executor, maxSteps: config.maxSteps, plan: config.plan, cellTimeoutS: config.cellTimeoutS, sampleTimeoutS: config.sampleTimeoutS, model: cfg });
  const runConfig = {
    ...plan.describe(), model: redactConfig(cfg), executor: config.executor, max_steps: config.maxSteps,
    profile: options.profile.name, agent: agentRecord(options), concurrency, order: o.order ?? 'media', ...(auto ? { concurrency_auto: true } : {}),
  };
  assertNoSecrets(runConfig, modelSecretValues(cfg));
  return { runConfig, options };
}

/** `--resume DIR` names the run folder itself; `--resume` alone needs `--out DIR`. */
export function resumeDir(o: Pick<RunOptions, 'resume' | 'out'>): string | undefined {
  if (typeof o.resume === 'string') {
    if (o.out && resolve(o.out) !== resolve(o.resume)) throw new Error(`--resume ${o.resume} and --out ${o.out} name different folders; give the run folder once`);
    return o.resume;
  }
  return o.out;
}

export async function executeRun(o: RunOptions | Omit<RunOptions, 'dataset'>, plan: RunPlan): Promise<number> {
  if (o.slurm) {
    const { submitShardedRun } = await import('./slurm-run.ts');
    return submitShardedRun(o, plan);
  }
  if (o.wait || o.shards !== undefined || o.partition !== undefined || o.time !== undefined || o.gpusPerTask !== undefined || o.sbatchArg?.length || (o.signalBefore !== undefined && !o.shard)) {
    throw new Error('--shards, --partition, --time, --gpus-per-task, --sbatch-arg, --signal-before and --wait only apply with --slurm');
  }
  const t0 = Date.now();
  const shard = o.shard ? parseShardRef(o.shard) : null;
  const flags = runFlags(o);
  // Samples in flight: as asked, or (auto) as many as the model takes in flight, at most 2 × CPUs. One kernel per
  // sample in flight, started in the background and reused between samples (reset in place; a sample that changed
  // the interpreter gets a fresh one). settings.json's pool_size is the workbench's.
  const early = new SettingsService(flags).config();
  const model = new ModelClient(requireModel({ models: new ModelRegistry() }, early, o));
  const concurrency = resolveConcurrency(early.concurrency, model.capacity());
  const services = createServices({ ...flags, poolSize: concurrency });
  let scorer: Awaited<ReturnType<NonNullable<RunPlan['scorer']>>> | undefined;
  let stopProgress: (() => void) | null = null;
  try {
    const config = services.settings.config();
    // The Jupyter server starts while the samples are read, and the tool reference for the system prompt builds
    // meanwhile (one Python process for the whole run).
    const runtimeP = services.kernels.runtime();
    runtimeP.catch(() => undefined);
    const earlyOptions = agentOptions({ profile: config.profile, executor: config.executor, maxSteps: config.maxSteps, plan: config.plan, cellTimeoutS: config.cellTimeoutS, sampleTimeoutS: config.sampleTimeoutS, model: model.config });
    loadApiDoc(earlyOptions.profile.kernel.name).catch(() => undefined);
    let samples = await plan.samples();
    // After the samples: the plan's description names what they were read from (eval: the benchmarks).
    const { runConfig, options } = runRecord(plan, config, model, concurrency, o, early.concurrency === 'auto');
    if (o.limit) samples = samples.slice(0, o.limit);
    // A shard runs only its own samples (shared/shards.ts: a stable hash of the sample id).
    if (shard) samples = samples.filter((x) => shardOf(x.id, shard.shards) === shard.shard);
    // Samples about the same video run one after another (perception and frame caches hit); --order dataset keeps the file's order.
    samples = scheduleSamples(samples, o.order ?? 'media');
    const out = resumeDir(o);
    if (o.resume && !out) throw new Error('--resume needs the run folder: --resume DIR (or --out DIR --resume)');
    if (shard && !out) throw new Error('--shard K/N needs the sharded run folder: --out DIR (made by --slurm)');
    const dir = resolve(out ?? join(config.runsRoot, newRunId()));
    const writer = shard
      ? await RunWriter.openShard(dir, { ...shard, total: samples.length })
      : o.resume && existsSync(join(dir, 'run.json'))
        ? await RunWriter.resume(dir)
        : await RunWriter.create(dir, { config: runConfig, versions: runVersions(), total_samples: samples.length });
    const already = samples.filter((s) => writer.doneIds.has(s.id)).length;
    const where = shard ? `shard ${shard.shard} of ${shard.shards} of ${dir}` : dir;
    if (already) console.log(`resuming ${where}: ${already} of ${samples.length} samples already done`);
    else if (shard) console.log(`shard ${shard.shard} of ${shard.shards}: ${samples.length} samples${writer.recovery.movedAside.length ? ` (${writer.recovery.movedAside.length} unfinished attempts moved aside)` : ''}`);
    const todo = samples.length - already;
    const progress = new RunProgressTracker({ total: samples.length, done: already, kernelTarget: Math.min(concurrency, Math.max(todo, 1)), now: Date.now, startedAt: t0 });
    stopProgress = writeProgressFile(progress, shard ? shardDir(dir, shard.shard) : dir);
    const stopPrinting = printProgress(progress, t0);
    progress.changed(); // the first line at once (the Jupyter server is starting)
    let status: 'finished' | 'failed' = 'finished';
    let runtime: Awaited<typeof runtimeP> | null = null;
    // A shard stops on SLURM's warning signal (time limit, preemption), SIGTERM (scancel) or SIGINT: no new sample
    // starts, samples in flight get a grace period, then the shard records how it ended (shards/<kkk>/state.json).
    const stop = shard ? new ShardStop(o.signalBefore ?? DEFAULT_SIGNAL_BEFORE_S) : null;
    // A run here stops at Ctrl-C (SIGINT) or SIGTERM: recorded `interrupted`, lock released, samples in flight left for --resume.
    const interrupt = shard ? null : new LocalInterrupt();
    try {
      runtime = await runtimeP;
      const pool = runtime.pool;
      progress.attachPool(pool ? () => pool.stats() : null);
      // Kernels start now, while the scorer and the perception server come up; fewer when fewer samples are left.
      if (pool && todo >= concurrency) pool.fill().catch(() => undefined);
      scorer = plan.scorer ? await plan.scorer() : undefined;
      const perception = await services.perception.resolve(config.perception);
      const batch = runBatch(samples, {
        runtime,
        model,
        writer,
        perception,
        concurrency,
        ...(stop ? { drain: stop.drain.signal } : interrupt ? { drain: interrupt.drain.signal } : {}),
        ...(o.artifacts === false ? { keepArtifacts: false } : {}),
        ...(scorer ? { scorer } : {}),
        options,
        onPhase: (id, phase) => progress.sample(id, phase),
        // Where a sample's bound inputs differ from what it asked for (e.g. fewer video frames than --frames).
        onInputNotes: (id, notes) => {
          for (const n of notes) console.log(`${id}: input note: ${n}`);
        },
        // A sample an infrastructure fault hurt (a perception server crash) is not recorded: --resume redoes it.
        onInfraError: (id, error) => {
          progress.sample(id, null);
          console.log(`[infrastructure] ${id}: ${error}`);
        },
        onDone: (r: SampleResult, done: number, total: number) => {
          progress.sampleDone(r.id);
          const pct = Math.round((done / total) * 100);
          const bar = '#'.repeat(Math.round(pct / 5)).padEnd(20, '.');
          console.log(`[${bar}] ${done}/${total} ${r.id}: ${JSON.stringify(r.answer)}${r.score !== null ? ` score ${r.score.toFixed(2)}` : ''} (${r.termination}, ${r.steps} steps, ${r.duration_s.toFixed(1)} s)${r.error ? ` error: ${r.error}` : ''}`);
        },
      });
      if (stop) {
        const ended = await stop.race(batch);
        if (ended === 'stopped') {
          // Samples still in flight after the grace period are abandoned: left unfinished, redone when the shard resumes.
          const abandoned = writer.activeIds;
          batch.catch(() => undefined);
          stopPrinting();
          const how = stop.how();
          await writer.finish('interrupted', { status: how.status, reason: `${how.reason}; ${abandoned.length} samples in flight abandoned (redone on resume)`, abandoned });
          console.log(`shard ${shard!.shard}: stopped by ${how.reason}; ${writer.doneIds.size} samples of the run done, ${abandoned.length} abandoned: ${abandoned.join(', ') || 'none'}`);
          await services.kernels.close({ fast: true }).catch(() => undefined);
          return how.then();
        }
      } else if (interrupt) {
        if (await interrupt.race(batch) === 'stopped') {
          // No grace: samples in flight are abandoned (left unfinished: not in samples.jsonl, redone by --resume).
          const abandoned = writer.activeIds;
          batch.catch(() => undefined);
          stopPrinting();
          await writer.finish('interrupted');
          console.log(`\ninterrupted by ${interrupt.signal}: ${writer.doneIds.size} samples done, ${abandoned.length} in flight abandoned` +
            `${abandoned.length ? ` (${abandoned.join(', ')})` : ''}; continue with --resume ${dir}`);
          const code = interrupt.signal === 'SIGINT' ? 130 : 143;
          exitAnywayAfter(code, INTERRUPT_EXIT_GRACE_MS);
          await services.kernels.close({ fast: true }).catch(() => undefined);
          return code;
        }
      } else {
        await batch;
      }
      progress.finish('finishing');
    } catch (e) {
      status = 'failed';
      throw e;
    } finally {
      stopPrinting();
      stop?.dispose();
      interrupt?.dispose();
      if (!writer.closed) {
        if (shard && stop?.stopped && samples.some((x) => !writer.doneIds.has(x.id))) {
          const how = stop.how();
          await writer.finish('interrupted', { status: how.status, reason: how.reason });
        } else if (shard && status === 'finished' && samples.some((x) => !writer.doneIds.has(x.id))) {
          await writer.finish('interrupted', { status: 'interrupted', reason: 'stopped before every sample of the shard was done' });
        } else if (status === 'finished' && samples.some((x) => !writer.doneIds.has(x.id))) {
          // Samples left unrecorded by an infrastructure fault (infra-errors.jsonl): the run is not finished until --resume redoes them.
          await writer.finish('interrupted');
        } else {
          await writer.finish(status);
        }
      }
    }
    if (shard) {
      console.log(`shard ${shard.shard} of ${shard.shards} recorded in ${dir} (${((Date.now() - t0) / 1000).toFixed(1)} s): ${samples.filter((x) => writer.doneIds.has(x.id)).length} of ${samples.length} samples done`);
      console.log(throughputSummary(progress.snapshot(), model, runtime, null));
      progress.finish('done');
      // A signal that came when every sample was done anyway needs no requeue.
      return stop?.stopped && samples.some((x) => !writer.doneIds.has(x.id)) ? stop.how().then() : 0;
    }
    console.log(await plan.summary(dir, (Date.now() - t0) / 1000));
    let cache: PerceptionCacheSummary | null = null;
    try {
      cache = perceptionCacheSummary(dir);
    } catch {
      /* the summary above already read the run; a torn events file only costs this line */
    }
    console.log(throughputSummary(progress.snapshot(), model, runtime, cache));
    progress.finish('done');
    console.log(`run recorded in ${dir} (${((Date.now() - t0) / 1000).toFixed(1)} s)`);
    return 0;
  } finally {
    stopProgress?.();
    await scorer?.close();
    // Every sample is recorded (or the run failed): the kernels' state is not needed, kill them rather than wait.
    await services.kernels.close({ fast: true });
    await services.close();
  }
}

/** How long an interrupted run may take to stop its kernels and servers once its record is complete. */
const INTERRUPT_EXIT_GRACE_MS = 15_000;

/**
 * Once an interrupted run's record is complete, nothing may keep the CLI from exiting: a kernel or server that does not
 * stop, or a socket still trying to reconnect (seen once on CI: the run was recorded `interrupted` and the CLI never
 * exited). After `ms` the process exits with `code`; its exit handler kills the children it started (../services/child.ts).
 */
function exitAnywayAfter(code: number, ms: number): void {
  setTimeout(() => {
    console.error(`spatialclaw: the kernels and servers did not stop within ${ms / 1000} s of the interrupt; exiting anyway (the run is recorded)`);
    process.exit(code);
  }, ms).unref();
}

/**
 * Ctrl-C (SIGINT) or SIGTERM during a run on this machine (a shard has its own: ./shard-stop.ts): no new sample starts
 * and the run is recorded `interrupted` at once, its lock released. Samples in flight are abandoned, not recorded, so
 * `--resume` redoes them. A second signal exits at once.
 */
class LocalInterrupt {
  /** Aborted at the first signal: the batch starts no new sample. */
  readonly drain = new AbortController();
  signal: 'SIGINT' | 'SIGTERM' | null = null;
  private stopped: (() => void) | null = null;
  private readonly stoppedP = new Promise<void>((r) => {
    this.stopped = r;
  });
  private readonly handler = (sig: 'SIGINT' | 'SIGTERM'): void => {
    if (this.signal) process.exit(sig === 'SIGINT' ? 130 : 143);
    this.signal = sig;
    this.drain.abort();
    this.stopped?.();
  };

  constructor() {
    process.on('SIGINT', this.handler);
    process.on('SIGTERM', this.handler);
  }

  /** 'done' when the batch ends first, 'stopped' when a signal comes first. */
  async race(batch: Promise<unknown>): Promise<'done' | 'stopped'> {
    return Promise.race([batch.then(() => 'done' as const), this.stoppedP.then(() => 'stopped' as const)]);
  }

  dispose(): void {
    process.off('SIGINT', this.handler);
    process.off('SIGTERM', this.handler);
  }
}

/**
 * Samples in flight for `--concurrency`: the number given, or for `auto` the model's capacity (the sum of its
 * endpoints' `max_in_flight`: more samples would only queue for the model) capped at twice the CPUs (each sample in
 * flight holds a kernel, about 0.2 GiB idle, and runs its cells on a CPU between model calls).
 */
export function resolveConcurrency(asked: number | 'auto', modelCapacity: number, cpus = availableParallelism()): number {
  if (asked !== 'auto') return asked;
  return Math.max(1, Math.min(modelCapacity, 2 * cpus));
}

const secs = (t0: number): string => `${((Date.now() - t0) / 1000).toFixed(1).padStart(5)} s`;

/**
 * Print the tracker's progress line while the run starts up: at each change of stage at once, other changes at most
 * once a second, until the first sample is recorded; after that (per-sample lines take over) only a change of stage
 * or, when nothing changed for 30 s, a reminder of where the samples are.
 * @returns a function that stops printing.
 */
function printProgress(tracker: RunProgressTracker, t0: number): () => void {
  let lastLine = '';
  let lastStage = '';
  let lastAt = 0;
  let firstCall = false;
  return tracker.onChange((p, line) => {
    const now = Date.now();
    if (!firstCall && p.first_model_call_s !== null) {
      firstCall = true;
      // The tracker's own time of the call (it counts from the same start, t0), so the line and progress.json agree.
      console.log(`[${p.first_model_call_s.toFixed(1).padStart(5)} s] first model call sent`);
    }
    if (line === lastLine && p.stage === lastStage) {
      if (p.first_sample_done_s === null || now - lastAt < 30_000) return;
    } else if (p.stage === lastStage && now - lastAt < (p.first_sample_done_s === null ? 1000 : 30_000)) return;
    if (p.stage === 'finishing' || p.stage === 'done') return;
    lastLine = line;
    lastStage = p.stage;
    lastAt = now;
    console.log(`[${secs(t0)}] ${line}`);
  });
}

/** The end-of-run lines on throughput: time to the first model call, the kernel pool, the model endpoints. */
function throughputSummary(p: ReturnType<RunProgressTracker['snapshot']>, model: ModelClient, runtime: { pool: { stats(): PoolStats } | null } | null, cache: PerceptionCacheSummary | null): string {
  const lines = ['throughput:'];
  if (p.first_model_call_s !== null) lines.push(`  first model call ${p.first_model_call_s.toFixed(1)} s after the start${p.first_sample_done_s !== null ? `, first sample recorded at ${p.first_sample_done_s.toFixed(1)} s` : ''}`);
  const k = runtime?.pool?.stats();
  if (k) {
    const rss = k.idleRssMib.length ? `; idle kernels ${Math.min(...k.idleRssMib).toFixed(0)}–${Math.max(...k.idleRssMib).toFixed(0)} MiB resident` : '';
    lines.push(`  kernels: ${k.started} started, ${k.reused} reuses (reset in place), replaced: ${k.restartedTainted} tainted, ${k.restartedMemory} over kernel_idle_max_mb, ${k.resetFailed} failed resets${rss}`);
  }
  const m = model.stats();
  const limited = m.rateLimited ? `, ${m.rateLimited} × HTTP 429 (limit now ${m.endpoints.map((e) => e.effectiveLimit).join('/')})` : '';
  lines.push(`  model: ${m.calls} calls, ${m.retries} retries, ${m.failures} failed; at most ${m.capacity} in flight, ${m.waits} calls waited ${(m.waitedMs / 1000).toFixed(1)} s in all for a slot${limited}`);
  if (cache && cache.artifacts > 0) {
    const rate = cache.hit_rate === null ? 'n/a' : `${(100 * cache.hit_rate).toFixed(0)}%`;
    lines.push(`  perception cache: ${cache.hits} hits, ${cache.misses} misses over ${cache.artifacts} perception results (hit rate ${rate})${cache.unknown ? `, ${cache.unknown} without a cache status` : ''}`);
  }
  return lines.join('\n');
}

