/**
 * The host's side of the benchmarks: loaders, scorers and results.json live in Python (`python-eval/spatial_eval`,
 * docs/benchmarks-eval.md); this module runs `python -m spatial_eval` and turns its output into SampleSpecs,
 * per-sample scores and results. The CLI (`spatialclaw datasets|eval|score`) and the workbench use it.
 */
import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { type SampleSpec, SampleSpecSchema } from '../../../shared/run.ts';
import { minimalChildEnv } from '../config/env.ts';
import { resolvePython, runPython } from '../python.ts';

export type ScoringName = 'official' | 'paper';
export const SCORINGS: readonly ScoringName[] = ['official', 'paper'];

/** One benchmark as `spatial_eval load` announces it. */
export interface BenchmarkLoad {
  name: string;
  title: string;
  /** Rows read from the snapshot. */
  total: number;
  /** Rows chosen (--limit / --subsample). */
  selected: number;
  /** Rows that could not become samples (see `problems`). */
  problems: number;
  /** Per-benchmark agent settings (`video_max_fps`, `num_key_frames`). */
  settings: Record<string, unknown>;
}

export interface RowProblem {
  benchmark: string;
  where: string;
  source_id: string | null;
  message: string;
}

export interface LoadedBenchmarks {
  benchmarks: BenchmarkLoad[];
  samples: SampleSpec[];
  problems: RowProblem[];
}

export interface SelectOptions {
  limit?: number | undefined;
  subsample?: number | undefined;
  seed?: number | undefined;
}

/** An error from `python -m spatial_eval`, with its message (it names the file, the benchmark and the fix). */
export class BenchError extends Error {
  override name = 'BenchError';
}

function failure(what: string, r: { code: number | null; stderr: string }): BenchError {
  const lines = r.stderr.trim().split('\n').filter(Boolean);
  const err = lines.find((l) => l.startsWith('error: '));
  return new BenchError(err ? err.slice('error: '.length) : `${what} failed (exit ${r.code}): ${lines.slice(-3).join(' ')}`);
}

/**
 * Read benchmarks (`all`, or `a,b`) from `dataRoot` as SampleSpecs, with the per-benchmark settings applied to the
 * inputs (`video_max_fps` → `max_fps`) and the sample (`num_key_frames` → `key_frames`).
 * @throws BenchError naming a missing dataset and its download command, or an unknown benchmark.
 */
export async function loadBenchmarks(spec: string, dataRoot: string, o: SelectOptions = {}): Promise<LoadedBenchmarks> {
  const args = ['-m', 'spatial_eval', 'load', '--benchmark', spec, '--data-root', dataRoot];
  if (o.limit) args.push('--limit', String(o.limit));
  if (o.subsample) args.push('--subsample', String(o.subsample), '--seed', String(o.seed ?? 42));
  const r = await runPython(resolvePython(), args, 30 * 60_000);
  if (r.code !== 0) throw failure('loading the benchmarks', r);
  const out: LoadedBenchmarks = { benchmarks: [], samples: [], problems: [] };
  const settings = new Map<string, Record<string, unknown>>();
  for (const line of r.stdout.split('\n')) {
    if (!line.trim()) continue;
    const m = JSON.parse(line) as { type: string } & Record<string, unknown>;
    if (m.type === 'benchmark') {
      const b = m as unknown as BenchmarkLoad;
      out.benchmarks.push(b);
      settings.set(b.name, b.settings ?? {});
    } else if (m.type === 'problem') out.problems.push(m as unknown as RowProblem);
    else if (m.type === 'sample') {
      const spec = SampleSpecSchema.parse(m['spec']);
      out.samples.push(applySettings(spec, settings.get(spec.benchmark ?? '') ?? {}));
    }
  }
  return out;
}

/** A benchmark's settings on one sample: `video_max_fps` on every video input, `num_key_frames` as `key_frames`. */
export function applySettings(sample: SampleSpec, settings: Record<string, unknown>): SampleSpec {
  const fps = typeof settings['video_max_fps'] === 'number' ? settings['video_max_fps'] : undefined;
  const keyFrames = typeof settings['num_key_frames'] === 'number' ? settings['num_key_frames'] : undefined;
  return {
    ...sample,
    inputs: sample.inputs.map((i) => (i.kind === 'video' && fps !== undefined && i.max_fps == null ? { ...i, max_fps: fps } : i)),
    ...(keyFrames !== undefined && sample.key_frames === undefined ? { key_frames: keyFrames } : {}),
  };
}

/** `spatial_eval list --json`: every benchmark and the state of its data under `dataRoot`. */
export async function listDatasets(dataRoot?: string): Promise<{ data_root: string | null; benchmarks: Record<string, unknown>[] }> {
  const r = await runPython(resolvePython(), ['-m', 'spatial_eval', 'list', '--json', ...(dataRoot ? ['--data-root', dataRoot] : [])], 30 * 60_000);
  if (r.code !== 0) throw failure('listing the benchmarks', r);
  return JSON.parse(r.stdout) as { data_root: string | null; benchmarks: Record<string, unknown>[] };
}

/**
 * Run `python -m spatial_eval <args>` with its output passed through (the CLI's `datasets` and `score` commands).
 * Returns the exit code.
 */
export function passThrough(args: string[]): Promise<number> {
  return new Promise((resolvePromise) => {
    const child = spawn(resolvePython(), ['-m', 'spatial_eval', ...args], { stdio: ['ignore', 'inherit', 'inherit'], env: minimalChildEnv() });
    child.on('error', (e) => {
      console.error(`spatialclaw: could not start Python: ${e.message}`);
      resolvePromise(1);
    });
    child.on('close', (code) => resolvePromise(code ?? 1));
  });
}

/** Score a finished (or partial) run folder and write results.json; returns the readable table (or the JSON). */
export async function scoreRun(runDir: string, o: { scoring?: ScoringName; dataRoot?: string; json?: boolean; resamples?: number } = {}): Promise<string> {
  const args = ['-m', 'spatial_eval', 'score-run', runDir, '--scoring', o.scoring ?? 'official'];
  if (o.dataRoot) args.push('--data-root', o.dataRoot);
  if (o.json) args.push('--json');
  if (o.resamples !== undefined) args.push('--resamples', String(o.resamples));
  const r = await runPython(resolvePython(), args, 30 * 60_000);
  if (r.code !== 0) throw failure(`scoring ${runDir}`, r);
  return r.stdout;
}

/**
 * The benchmark's per-sample score of each answer as samples finish (`spatial_eval serve-scorer`, one child per
 * run): the run's `samples.jsonl` carries the same score `score` and results.json use.
 */
export class LiveScorer {
  private child: ChildProcessWithoutNullStreams | null = null;
  private waiting: ((line: string) => void)[] = [];
  private ready: Promise<void> | null = null;
  private chain: Promise<unknown> = Promise.resolve();

  constructor(private readonly spec: string, private readonly dataRoot: string, readonly scoring: ScoringName) {}

  /** Start the child and wait until it has read the benchmarks. @throws BenchError when it cannot. */
  start(): Promise<void> {
    this.ready ??= new Promise<void>((resolvePromise, reject) => {
      const child = spawn(resolvePython(), ['-m', 'spatial_eval', 'serve-scorer', '--benchmark', this.spec, '--data-root', this.dataRoot, '--scoring', this.scoring], { env: minimalChildEnv() });
      this.child = child;
      let stderr = '';
      child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
      const rl = createInterface({ input: child.stdout });
      let first = true;
      rl.on('line', (line) => {
        if (first) {
          first = false;
          resolvePromise();
          return;
        }
        this.waiting.shift()?.(line);
      });
      child.on('error', (e) => reject(new BenchError(`could not start the scorer: ${e.message}`)));
      child.on('close', (code) => {
        if (first) reject(failure('starting the scorer', { code, stderr }));
        for (const w of this.waiting.splice(0)) w(JSON.stringify({ score: null, error: `scorer exited (${code}): ${stderr.trim().split('\n').at(-1) ?? ''}` }));
        this.child = null;
      });
    });
    return this.ready;
  }

  /** The score of `answer` for the sample `id` (null: unscored, or the scorer failed; never throws). */
  score(id: string, answer: string | number | null): Promise<number | null> {
    const next = this.chain.then(async () => {
      await this.start();
      if (!this.child) return null;
      const line = await new Promise<string>((resolvePromise) => {
        this.waiting.push(resolvePromise);
        this.child!.stdin.write(`${JSON.stringify({ id, answer })}\n`);
      });
      const r = JSON.parse(line) as { score: number | null; error?: string };
      return typeof r.score === 'number' ? r.score : null;
    }).catch(() => null);
    this.chain = next;
    return next;
  }

  async close(): Promise<void> {
    const c = this.child;
    if (!c) return;
    c.stdin.end();
    await new Promise<void>((resolvePromise) => {
      const t = setTimeout(() => {
        c.kill();
        resolvePromise();
      }, 5000);
      c.on('close', () => {
        clearTimeout(t);
        resolvePromise();
      });
    });
  }
}
