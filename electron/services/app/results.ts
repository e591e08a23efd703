/**
 * A run's results for the workbench's Results tab (`runResults`, shared/results.ts, docs/workbench.md "Results"):
 * the official breakdown from the run's `results.json` when it is there and current, else the same breakdown
 * computed live from `samples.jsonl` (mean per-sample score per group, 95% percentile bootstrap interval), plus
 * the numeric-task scores, steps per sample and termination counts the charts show.
 *
 * Sources: results.json is written by python-eval/spatial_eval/results.py (`build_results`); the paper's numbers
 * and categories come from python-eval/spatial_eval/reference/paper_results.json (the same table the Python side
 * puts into results.json).
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import {
  type BenchmarkBreakdown,
  type Ci95,
  type PaperCategory,
  type PaperReference,
  PaperReferenceSchema,
  type ResultGroup,
  type ResultsFile,
  ResultsFileSchema,
  type RunResults,
} from '../../../shared/results.ts';
import { type RunInfo, RunProgressSchema, type SampleResult, TerminationSchema } from '../../../shared/run.ts';
import { appRoot } from '../paths.ts';
import { PROGRESS_JSON } from '../runs/layout.ts';

/** The file `spatialclaw eval` / `score` writes (official scoring). */
export const RESULTS_JSON = 'results.json';
/** Resamples of the live bootstrap (as results.py's default). */
export const BOOTSTRAP_RESAMPLES = 1000;
/** Seed of the live bootstrap: the same samples always give the same interval. */
export const BOOTSTRAP_SEED = 0;
/** A `finishing` progress snapshot older than this no longer means "results.json is coming" (a crashed scorer). */
const PENDING_MAX_AGE_MS = 10 * 60_000;

export const LIVE_LABEL = 'live, per-sample mean';

// ---------------------------------------------------------------------------------------------------
// Statistics

/**
 * mulberry32: a 32-bit seeded generator of uniform numbers in [0, 1). Deterministic for a seed; used only to draw
 * bootstrap resamples, where its statistical quality is ample.
 */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** The `p` quantile (0..1) of ascending `sorted` with linear interpolation (numpy's default, "type 7"). */
export function quantileSorted(sorted: ArrayLike<number>, p: number): number {
  if (sorted.length === 0) throw new Error('quantile of no values');
  const h = (sorted.length - 1) * p;
  const lo = Math.floor(h);
  const hi = Math.min(lo + 1, sorted.length - 1);
  return sorted[lo]! + (h - lo) * (sorted[hi]! - sorted[lo]!);
}

/**
 * A 95% percentile bootstrap interval of the mean of `values` (0..1 scores): `resamples` resamples of the values
 * with replacement, the 2.5th and 97.5th percentiles of their means (as `scipy.stats.bootstrap(method="percentile")`
 * computes it, with a different random stream). Null with fewer than 2 values; `[v, v]` when all values equal `v`.
 */
export function bootstrapMeanCi(values: readonly number[], resamples = BOOTSTRAP_RESAMPLES, seed = BOOTSTRAP_SEED): Ci95 {
  const n = values.length;
  if (n < 2 || resamples <= 0) return null;
  const first = values[0]!;
  if (values.every((v) => v === first)) return [first, first];
  const rand = seededRandom(seed);
  const means = new Float64Array(resamples);
  for (let b = 0; b < resamples; b++) {
    let sum = 0;
    for (let i = 0; i < n; i++) sum += values[Math.floor(rand() * n)]!;
    means[b] = sum / n;
  }
  means.sort();
  return [quantileSorted(means, 0.025), quantileSorted(means, 0.975)];
}

const mean = (xs: readonly number[]): number | null => (xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : null);

/** Mean score and bootstrap interval of a group of samples (unscored ones excluded from both). */
function liveGroup(name: string, samples: readonly SampleResult[]): ResultGroup {
  const scores = samples.map((s) => s.score).filter((x): x is number => x !== null);
  return { name, n: samples.length, scored: scores.length, score: mean(scores), ci95: bootstrapMeanCi(scores) };
}

function groupBy(samples: readonly SampleResult[], key: (s: SampleResult) => string | null | undefined): ResultGroup[] {
  const groups = new Map<string, SampleResult[]>();
  for (const s of samples) {
    const k = key(s);
    if (k === null || k === undefined || k === '') continue;
    let g = groups.get(k);
    if (!g) groups.set(k, (g = []));
    g.push(s);
  }
  return [...groups.keys()].sort(byCodePoint).map((k) => liveGroup(k, groups.get(k)!));
}

/** Sort strings by code point, as Python's `sorted` does (results.json's group order). */
const byCodePoint = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

// ---------------------------------------------------------------------------------------------------
// The paper's reference table

/** Where the paper's numbers are kept (shipped with the Python side). */
export function paperReferencePath(): string {
  return join(appRoot(), 'python-eval', 'spatial_eval', 'reference', 'paper_results.json');
}

let cachedReference: { path: string; value: PaperReference | Error } | null = null;

/**
 * The paper's reference table, read once per path. @returns the table, or an Error naming the file and what is
 * wrong with it (the Results tab then shows the run without the paper's categories, and says why).
 */
export function readPaperReference(path = paperReferencePath()): PaperReference | Error {
  if (cachedReference?.path === path) return cachedReference.value;
  let value: PaperReference | Error;
  try {
    const parsed = PaperReferenceSchema.safeParse(JSON.parse(readFileSync(path, 'utf8')));
    value = parsed.success ? parsed.data : new Error(`${path} is not the paper's reference table (${parsed.error.issues[0]?.path.join('.')}: ${parsed.error.issues[0]?.message})`);
  } catch (e) {
    value = new Error(`cannot read the paper's reference table ${path}: ${e instanceof Error ? e.message : String(e)}`);
  }
  cachedReference = { path, value };
  return value;
}

interface PaperRow {
  key: string;
  name: string;
  category: string;
  /** Index in the paper's table. */
  order: number;
  /** Each method's number, 0..1. */
  reference: Record<string, number>;
}

function paperRows(ref: PaperReference | null): Map<string, PaperRow> {
  const rows = new Map<string, PaperRow>();
  ref?.benchmarks.forEach((b, order) => {
    const reference: Record<string, number> = {};
    for (const m of ref.methods) {
      const v = b[m];
      if (typeof v === 'number') reference[m] = Math.round((v / 100) * 1e6) / 1e6;
    }
    rows.set(b.key, { key: b.key, name: b.name, category: b.category, order, reference });
  });
  return rows;
}

// ---------------------------------------------------------------------------------------------------
// The breakdown

/** Whether a sample's ground truth is a number (a numeric answer, scored by MRA or alike): no choices, and a number or a decimal literal. */
export function hasNumericTruth(s: Pick<SampleResult, 'ground_truth' | 'choices'>): boolean {
  if (s.choices && s.choices.length > 0) return false;
  const gt = s.ground_truth;
  if (typeof gt === 'number') return Number.isFinite(gt);
  return typeof gt === 'string' && /^\s*[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?\s*$/.test(gt);
}

/** The last line per sample id (a resumed run may have recorded a sample again), in order of first appearance. */
export function lastPerSample(rows: readonly SampleResult[]): SampleResult[] {
  const byId = new Map<string, SampleResult>();
  for (const r of rows) byId.set(r.id, r);
  return [...byId.values()];
}

/** Benchmarks in the paper's order, then others by name, then the samples without a benchmark. */
function benchmarkOrder(paper: Map<string, PaperRow>): (a: string | null, b: string | null) => number {
  const rank = (k: string | null) => (k === null ? [2, 0, ''] : paper.has(k) ? [0, paper.get(k)!.order, k] : [1, 0, k]) as [number, number, string];
  return (a, b) => {
    const ra = rank(a);
    const rb = rank(b);
    return ra[0] - rb[0] || ra[1] - rb[1] || byCodePoint(ra[2], rb[2]);
  };
}

function liveBenchmarks(samples: readonly SampleResult[], paper: Map<string, PaperRow>, untitled: string): BenchmarkBreakdown[] {
  const byBench = new Map<string | null, SampleResult[]>();
  for (const s of samples) {
    const k = s.benchmark ?? null;
    let g = byBench.get(k);
    if (!g) byBench.set(k, (g = []));
    g.push(s);
  }
  return [...byBench.keys()].sort(benchmarkOrder(paper)).map((name) => {
    const items = byBench.get(name)!;
    const whole = liveGroup(name ?? untitled, items);
    const row = name === null ? undefined : paper.get(name);
    return {
      name,
      title: name === null ? untitled : (row?.name ?? name),
      n: whole.n,
      scored: whole.scored,
      score: whole.score,
      ci95: whole.ci95,
      paper: row?.reference['spatialclaw'] ?? null,
      reference: row?.reference ?? {},
      paper_category: row?.category ?? null,
      by_category: groupBy(items, (s) => s.category),
      by_question_type: groupBy(items, (s) => s.question_type),
      notes: [],
    };
  });
}

function fileBenchmarks(file: ResultsFile, paper: Map<string, PaperRow>): BenchmarkBreakdown[] {
  const groups = (g: ResultsFile['benchmarks'][string]['by_category']): ResultGroup[] =>
    Object.keys(g)
      .sort(byCodePoint)
      .map((k) => ({ name: k, n: g[k]!.n, scored: g[k]!.scored, score: g[k]!.mean, ci95: g[k]!.ci95 }));
  return Object.keys(file.benchmarks)
    .sort(benchmarkOrder(paper))
    .map((name) => {
      const b = file.benchmarks[name]!;
      const row = paper.get(name);
      return {
        name,
        title: b.title,
        n: b.n,
        scored: b.scored,
        score: b.overall,
        ci95: b.ci95,
        paper: b.reference['spatialclaw'] ?? null,
        reference: b.reference,
        paper_category: row?.category ?? null,
        by_category: groups(b.by_category),
        by_question_type: groups(b.by_question_type),
        notes: b.notes,
      };
    });
}

/** The paper's categories over the run's benchmarks: unweighted means of benchmark scores, run and paper alike. */
function paperCategories(benchmarks: readonly BenchmarkBreakdown[], ref: PaperReference | null): PaperCategory[] {
  if (!ref) return [];
  const rows = paperRows(ref);
  const names = [...new Set(ref.benchmarks.map((b) => b.category))];
  const out: PaperCategory[] = [];
  for (const cat of names) {
    const inCat = ref.benchmarks.filter((b) => b.category === cat).map((b) => b.key);
    const present = benchmarks.filter((b) => b.name !== null && inCat.includes(b.name));
    if (present.length === 0) continue;
    const scored = present.filter((b) => b.score !== null);
    const paper = present.map((b) => rows.get(b.name!)?.reference['spatialclaw']).filter((x): x is number => x !== undefined);
    out.push({
      name: cat,
      benchmarks: present.map((b) => b.name!),
      of: inCat.length,
      n: present.reduce((a, b) => a + b.n, 0),
      score: mean(scored.map((b) => b.score!)),
      paper: paper.length === present.length ? mean(paper) : null,
    });
  }
  return out;
}

function liveMean(benchmarks: readonly BenchmarkBreakdown[], ref: PaperReference | null): RunResults['mean'] {
  if (!ref) return null;
  const keys = new Set(ref.benchmarks.map((b) => b.key));
  const present = benchmarks.filter((b) => b.name !== null && keys.has(b.name) && b.score !== null);
  if (present.length === 0) return null;
  const paper = ref.averages['spatialclaw'];
  return {
    value: mean(present.map((b) => b.score!)),
    count: present.length,
    of: keys.size,
    complete: present.length === keys.size,
    paper: paper === undefined ? null : paper / 100,
  };
}

/**
 * The run's results.json, parsed. @returns null when there is none; an Error naming the file and the first invalid
 * field when it cannot be read (the tab then shows the live numbers and that message).
 */
export function readResultsFile(dir: string): ResultsFile | Error | null {
  const path = join(dir, RESULTS_JSON);
  if (!existsSync(path)) return null;
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(path, 'utf8'));
  } catch (e) {
    return new Error(`${path} is not valid JSON (${e instanceof Error ? e.message : String(e)})`);
  }
  const parsed = ResultsFileSchema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    return new Error(`${path} is not a spatialclaw-results/1 file (${issue?.path.join('.') || 'top level'}: ${issue?.message})`);
  }
  return parsed.data;
}

/** An eval run whose samples are done and whose results.json is being written (progress stage `finishing`, recent). */
function scoringPending(dir: string, info: RunInfo, live: boolean, hasResults: boolean, now: number): boolean {
  if (live || hasResults || info.config['kind'] !== 'eval') return false;
  const path = join(dir, PROGRESS_JSON);
  if (!existsSync(path)) return false;
  try {
    const p = RunProgressSchema.safeParse(JSON.parse(readFileSync(path, 'utf8')));
    return p.success && p.data.stage === 'finishing' && now - statSync(path).mtimeMs < PENDING_MAX_AGE_MS;
  } catch {
    return false; // replaced while being read: the next poll sees it
  }
}

export interface RunResultsInput {
  runId: string;
  dir: string;
  info: RunInfo;
  /** samples.jsonl in file order (repeated ids allowed: the last line wins). */
  rows: readonly SampleResult[];
  live: boolean;
  /** The paper's table (default: readPaperReference()). */
  reference?: PaperReference | Error;
  /** Clock for the scoring-pending check (ms since the epoch). */
  now?: number;
}

/** Memo of the live breakdown per samples.jsonl parse (the rows array is replaced when the file changes). */
const liveMemo = new WeakMap<object, { untitled: string; ref: PaperReference | null; benchmarks: BenchmarkBreakdown[] }>();

/**
 * The Results tab's data for one run (shared/results.ts `RunResults`).
 *
 * - results.json present, valid and current (its `run.finished_samples`, when given, equals the finished samples):
 *   its benchmarks, categories and question types as written (`source: 'results.json'`).
 * - otherwise: the same levels computed from the per-sample scores (`source: 'live'`, label "live, per-sample
 *   mean"), with a note saying why when a results.json exists but was not used.
 *
 * The charts' data (numeric-task scores, steps, terminations) always come from samples.jsonl.
 * @param memoKey an object that is the same while samples.jsonl is unchanged (the sample cache's rows array), so a
 *   live run polled every 2 s computes its bootstrap intervals once per change.
 */
export function runResults(input: RunResultsInput, memoKey?: object): RunResults {
  const { runId, dir, info, live } = input;
  const notes: string[] = [];
  const refOrError = input.reference ?? readPaperReference();
  const ref = refOrError instanceof Error ? null : refOrError;
  if (refOrError instanceof Error) notes.push(`${refOrError.message}; the paper's categories and averages are not shown`);
  const paper = paperRows(ref);
  const samples = lastPerSample(input.rows);
  const dataset = info.config['dataset'];
  const untitled = typeof dataset === 'string' && dataset ? dataset.split(/[\\/]/).pop()! : 'all samples';

  const file = readResultsFile(dir);
  let official: ResultsFile | null = null;
  if (file instanceof Error) notes.push(`${file.message}; showing the live per-sample means (rewrite it with: spatialclaw score ${dir})`);
  else if (file) {
    const covered = file.run?.finished_samples;
    if (covered !== undefined && covered !== samples.length) {
      notes.push(`results.json covers ${covered} of the ${samples.length} finished samples; showing the live per-sample means until it is rewritten (spatialclaw score ${dir})`);
    } else official = file;
  }

  let benchmarks: BenchmarkBreakdown[];
  let mean: RunResults['mean'];
  let label: string;
  let scoring: string | null;
  if (official) {
    benchmarks = fileBenchmarks(official, paper);
    const m = official.mean_over_benchmarks;
    mean = m.benchmarks.length ? { value: m.value, count: m.benchmarks.length, of: m.of, complete: m.complete, paper: m.reference['spatialclaw'] ?? null } : null;
    scoring = official.scoring;
    label = `official (results.json, ${official.scoring} scoring)`;
  } else {
    const memo = memoKey ? liveMemo.get(memoKey) : undefined;
    if (memo && memo.untitled === untitled && memo.ref === ref) benchmarks = memo.benchmarks;
    else {
      benchmarks = liveBenchmarks(samples, paper, untitled);
      if (memoKey) liveMemo.set(memoKey, { untitled, ref, benchmarks });
    }
    mean = liveMean(benchmarks, ref);
    const scorings = [...new Set(samples.map((s) => s.scoring).filter((x): x is string => !!x))];
    scoring = scorings.length === 1 ? scorings[0]! : null;
    label = scorings.length === 1 ? `${LIVE_LABEL} (${scorings[0]} per-sample scores)` : LIVE_LABEL;
    if (info.config['kind'] === 'eval' && !live && !file) notes.push(`no results.json yet: the official numbers are written when the eval ends, or by: spatialclaw score ${dir}`);
  }

  const counts = new Map<string, number>();
  for (const s of samples) counts.set(s.termination, (counts.get(s.termination) ?? 0) + 1);
  const pending = scoringPending(dir, info, live, official !== null, input.now ?? Date.now());
  return {
    run_id: runId,
    source: official ? 'results.json' : 'live',
    label,
    scoring,
    live,
    scoring_pending: pending,
    done: samples.length,
    total: info.total_samples,
    benchmarks,
    paper_categories: paperCategories(benchmarks, ref),
    mean,
    numeric_scores: samples.filter((s) => s.score !== null && hasNumericTruth(s)).map((s) => s.score!),
    steps: samples.map((s) => s.steps),
    terminations: TerminationSchema.options.map((reason) => ({ reason, count: counts.get(reason) ?? 0 })),
    notes,
  };
}
