/**
 * `runResults` (electron/services/app/results.ts) on run folders written by the real run store: the live breakdown
 * from samples.jsonl (per benchmark, category and question type; bootstrap intervals), the official breakdown from a
 * results.json written by the real producer (python-eval/spatial_eval/results.py `build_results`), stale and broken
 * results.json files, the paper's categories and average, the chart data, and the live / scoring-pending flags.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it, vi } from 'vitest';
import { RunResultsSchema, type RunResults } from '../../shared/results.ts';
import type { SampleResult, SampleSpec } from '../../shared/run.ts';
import { bootstrapMeanCi, hasNumericTruth, quantileSorted, readPaperReference, runResults } from '../../electron/services/app/results.ts';
import { createServices } from '../../electron/services/app/index.ts';
import { RunsService } from '../../electron/services/app/runs.ts';
import { RunWriter } from '../../electron/services/runs/writer.ts';
import { dispatch } from '../../electron/services/workbench/transport.ts';
import { WorkbenchHost } from '../../electron/services/workbench/host.ts';
import { ROOT } from '../helpers/cli.ts';

const PY = join(ROOT, '.venv', 'bin', 'python');

interface Row {
  id: string;
  benchmark: string;
  category?: string;
  question_type: string;
  gt: string | null;
  choices?: string[];
  score: number | null;
  steps: number;
  termination?: SampleResult['termination'];
}

/** Two benchmarks of the paper: VSI-Bench-U (numeric and multiple-choice tasks, with categories) and BLINK (none). */
const ROWS: Row[] = [
  { id: 'v1', benchmark: 'vsibench_debiased', category: 'configurational', question_type: 'object_counting', gt: '4', score: 1, steps: 2 },
  { id: 'v2', benchmark: 'vsibench_debiased', category: 'configurational', question_type: 'object_counting', gt: '6', score: 0.5, steps: 3 },
  { id: 'v3', benchmark: 'vsibench_debiased', category: 'measurement', question_type: 'object_abs_distance', gt: '2.9', score: 0.8, steps: 4 },
  { id: 'v4', benchmark: 'vsibench_debiased', category: 'measurement', question_type: 'object_abs_distance', gt: '1.5', score: 0.2, steps: 5 },
  { id: 'v5', benchmark: 'vsibench_debiased', category: 'measurement', question_type: 'object_abs_distance', gt: '3', score: 0, steps: 30, termination: 'max_steps' },
  { id: 'v6', benchmark: 'vsibench_debiased', category: 'configurational', question_type: 'object_rel_direction_hard', gt: 'A', choices: ['A. left', 'B. right'], score: 1, steps: 2 },
  { id: 'v7', benchmark: 'vsibench_debiased', category: 'configurational', question_type: 'object_rel_direction_hard', gt: 'B', choices: ['A. left', 'B. right'], score: 0, steps: 2 },
  { id: 'v8', benchmark: 'vsibench_debiased', category: 'configurational', question_type: 'object_rel_direction_hard', gt: 'A', choices: ['A. left', 'B. right'], score: 1, steps: 1 },
  { id: 'b1', benchmark: 'blink', question_type: 'Counting', gt: '(A)', choices: ['(A) 1', '(B) 2'], score: 1, steps: 1 },
  { id: 'b2', benchmark: 'blink', question_type: 'Counting', gt: '(B)', choices: ['(A) 1', '(B) 2'], score: 1, steps: 2 },
  { id: 'b3', benchmark: 'blink', question_type: 'Counting', gt: '(A)', choices: ['(A) 1', '(B) 2'], score: 0, steps: 0, termination: 'error' },
  { id: 'b4', benchmark: 'blink', question_type: 'Jigsaw', gt: '(A)', choices: ['(A) x', '(B) y'], score: 0, steps: 3 },
  { id: 'b5', benchmark: 'blink', question_type: 'Jigsaw', gt: '(B)', choices: ['(A) x', '(B) y'], score: 1, steps: 3 },
  { id: 'b6', benchmark: 'blink', question_type: 'Jigsaw', gt: null, choices: ['(A) x', '(B) y'], score: null, steps: 2 },
];

const spec = (r: Row): SampleSpec => ({
  id: r.id, question: `question ${r.id}`, inputs: [{ kind: 'images', path: '/nowhere' }], question_type: r.question_type, benchmark: r.benchmark,
  source_id: r.id, ...(r.category ? { category: r.category } : {}), ...(r.choices ? { choices: r.choices } : {}), ...(r.gt !== null ? { answer: r.gt } : {}),
});

const resultOf = (r: Row): SampleResult => ({
  id: r.id, question: `question ${r.id}`, ...(r.choices ? { choices: r.choices } : {}), answer: r.score === 1 ? r.gt : 'wrong', answer_source: 'return_answer',
  ground_truth: r.gt, score: r.score, scoring: 'official', question_type: r.question_type, benchmark: r.benchmark, source_id: r.id,
  ...(r.category ? { category: r.category } : {}), termination: r.termination ?? 'answered', steps: r.steps, parse_failures: 0,
  usage: { prompt_tokens: 1, completion_tokens: 1 }, model_calls: r.steps, duration_s: 1, error: r.termination === 'error' ? 'boom' : null,
  started_at: '2026-01-01T00:00:00.000Z', finished_at: '2026-01-01T00:00:01.000Z',
});

/** An eval-like run written by the real store; `open` leaves the writer holding it (a live run). */
async function writeRun(runs: string, id: string, rows: Row[], open = false): Promise<{ dir: string; writer: RunWriter }> {
  const dir = join(runs, id);
  const writer = await RunWriter.create(dir, { config: { kind: 'eval', benchmarks: ['vsibench_debiased', 'blink'], model: { name: 'scripted' } }, versions: {}, total_samples: ROWS.length });
  for (const r of rows) {
    const s = writer.startSample(spec(r));
    s.event({ type: 'sample_start', t: '2026-01-01T00:00:00.000Z', step: 0, sample: spec(r), executor: 'code' });
    await s.finish(resultOf(r));
  }
  if (!open) await writer.finish('finished');
  return { dir, writer };
}

/** results.json for the rows by the real producer (build_results), as `spatialclaw score` writes it. */
function writeOfficialResults(dir: string, rows: Row[], finished: number): void {
  const input = rows.map((r) => ({ ...r, pred: r.score === 1 ? r.gt : 'wrong' }));
  execFileSync(PY, ['-c', [
    'import json, sys',
    'from spatial_eval.types import Sample, Scored',
    'from spatial_eval.results import build_results',
    'rows = json.loads(sys.stdin.read())',
    'items = [Scored(Sample(r["benchmark"], r["id"], "q", [{"kind": "images", "path": "/a.png"}], r["gt"], choices=r.get("choices"), question_type=r["question_type"], category=r.get("category")), r["pred"], r["score"]) for r in rows]',
    'res = build_results(items, "official", n_resamples=200, run={"dir": sys.argv[1], "finished_samples": int(sys.argv[2]), "total_samples": len(rows), "status": "finished"})',
    'json.dump(res, open(sys.argv[1] + "/results.json", "w"))',
  ].join('\n'), dir, String(finished)], { input: JSON.stringify(input) });
}

const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
const byName = <T extends { name: string | null }>(xs: T[], name: string): T => {
  const x = xs.find((g) => g.name === name);
  if (!x) throw new Error(`no ${name} in ${xs.map((g) => g.name).join(', ')}`);
  return x;
};

describe('bootstrapMeanCi', () => {
  it('is deterministic, null below 2 values, a point for constant values, and brackets the mean', () => {
    const xs = Array.from({ length: 50 }, (_, i) => (i % 3 === 0 ? 1 : 0));
    const ci = bootstrapMeanCi(xs)!;
    expect(bootstrapMeanCi(xs)).toEqual(ci);
    expect(ci[0]).toBeLessThan(mean(xs));
    expect(ci[1]).toBeGreaterThan(mean(xs));
    expect(bootstrapMeanCi([1])).toBeNull();
    expect(bootstrapMeanCi([])).toBeNull();
    expect(bootstrapMeanCi([0.5, 0.5, 0.5])).toEqual([0.5, 0.5]);
    expect(quantileSorted([1, 2, 3, 4], 0.5)).toBe(2.5); // numpy's linear interpolation
    expect(quantileSorted([0, 10], 0.025)).toBeCloseTo(0.25, 12);
  });

  it("agrees with scipy.stats.bootstrap's percentile interval to within resampling noise", () => {
    const xs = Array.from({ length: 300 }, (_, i) => ((i * 7919) % 10) / 10);
    const out = execFileSync(PY, ['-c', [
      'import json, sys, numpy as np',
      'from scipy.stats import bootstrap',
      'x = np.asarray(json.loads(sys.stdin.read()))',
      'r = bootstrap((x,), np.mean, n_resamples=1000, method="percentile", random_state=0)',
      'print(json.dumps([r.confidence_interval.low, r.confidence_interval.high]))',
    ].join('\n')], { input: JSON.stringify(xs), encoding: 'utf8' });
    const [lo, hi] = JSON.parse(out) as [number, number];
    const ci = bootstrapMeanCi(xs)!;
    // The interval is about ±0.033 wide here; two independent 1000-resample estimates of its ends differ by far less than 0.01.
    expect(Math.abs(ci[0] - lo)).toBeLessThan(0.01);
    expect(Math.abs(ci[1] - hi)).toBeLessThan(0.01);
  });
});

describe('hasNumericTruth', () => {
  it('is a number or a decimal literal without choices', () => {
    expect(hasNumericTruth({ ground_truth: 2.5 })).toBe(true);
    expect(hasNumericTruth({ ground_truth: ' -3 ' })).toBe(true);
    expect(hasNumericTruth({ ground_truth: '1e3' })).toBe(true);
    expect(hasNumericTruth({ ground_truth: 'A' })).toBe(false);
    expect(hasNumericTruth({ ground_truth: '3 m' })).toBe(false);
    expect(hasNumericTruth({ ground_truth: null })).toBe(false);
    expect(hasNumericTruth({ ground_truth: '3', choices: ['A. 3', 'B. 4'] })).toBe(false);
  });
});

describe('runResults on real run folders', () => {
  const runs = mkdtempSync(join(tmpdir(), 'run-results-'));
  const service = new RunsService(runs, () => false);
  const get = (id: string): RunResults => RunResultsSchema.parse(service.results(id));

  it('computes the live breakdown from samples.jsonl when there is no results.json', async () => {
    await writeRun(runs, 'live-eval', ROWS);
    const r = get('live-eval');
    expect(r).toMatchObject({ run_id: 'live-eval', source: 'live', scoring: 'official', live: false, scoring_pending: false, done: 14, total: 14 });
    expect(r.label).toMatch(/^live, per-sample mean/);
    expect(r.notes.join('\n')).toMatch(/no results\.json yet.*spatialclaw score/);
    // The paper's order: VSI-Bench-U (Video & 4D) before BLINK (General spatial).
    expect(r.benchmarks.map((b) => b.name)).toEqual(['vsibench_debiased', 'blink']);

    const v = byName(r.benchmarks, 'vsibench_debiased');
    const vScores = ROWS.filter((x) => x.benchmark === 'vsibench_debiased').map((x) => x.score!);
    expect(v).toMatchObject({ title: 'VSI-Bench-U', n: 8, scored: 8, paper: 0.485, paper_category: 'Video & 4D' });
    expect(v.score).toBeCloseTo(mean(vScores), 12);
    expect(v.reference).toMatchObject({ spatialclaw: 0.485, no_tool: 0.48 });
    expect(v.ci95![0]).toBeLessThan(v.score!);
    expect(v.ci95![1]).toBeGreaterThan(v.score!);
    expect(v.by_category.map((g) => g.name)).toEqual(['configurational', 'measurement']);
    expect(byName(v.by_category, 'configurational')).toMatchObject({ n: 5, scored: 5 });
    expect(byName(v.by_category, 'configurational').score).toBeCloseTo(3.5 / 5, 12);
    expect(byName(v.by_category, 'measurement').score).toBeCloseTo(1 / 3, 12);
    expect(v.by_question_type.map((g) => [g.name, g.n])).toEqual([['object_abs_distance', 3], ['object_counting', 2], ['object_rel_direction_hard', 3]]);
    expect(byName(v.by_question_type, 'object_counting').score).toBeCloseTo(0.75, 12);

    const b = byName(r.benchmarks, 'blink');
    // b6 has no ground truth: counted in n, not in scored, not in the mean.
    expect(b).toMatchObject({ title: 'BLINK', n: 6, scored: 5, paper: 0.734, paper_category: 'General spatial', by_category: [] });
    expect(b.score).toBeCloseTo(3 / 5, 12);
    expect(byName(b.by_question_type, 'Jigsaw')).toMatchObject({ n: 3, scored: 2, score: 0.5 });

    expect(r.paper_categories.map((c) => [c.name, c.benchmarks, c.of])).toEqual([['Video & 4D', ['vsibench_debiased'], 6], ['General spatial', ['blink'], 3]]);
    expect(byName(r.paper_categories, 'General spatial')).toMatchObject({ n: 6, paper: 0.734 });
    expect(r.mean).toMatchObject({ count: 2, of: 20, complete: false, paper: 0.599 });
    expect(r.mean!.value).toBeCloseTo((mean(vScores) + 0.6) / 2, 12);

    // Chart data: numeric-answer samples only (v1..v5), steps of every sample, every termination reason.
    expect(r.numeric_scores).toEqual([1, 0.5, 0.8, 0.2, 0]);
    expect(r.steps).toEqual(ROWS.map((x) => x.steps));
    expect(r.terminations).toEqual([
      { reason: 'answered', count: 12 }, { reason: 'max_steps', count: 1 }, { reason: 'consecutive_failures', count: 0 }, { reason: 'stopped', count: 0 }, { reason: 'error', count: 1 },
    ]);
    // The same samples give the same intervals on every call (seeded), also after the cache is dropped.
    service.forget(join(runs, 'live-eval'));
    expect(get('live-eval')).toEqual(r);
  });

  it("shows a results.json written by the real producer as it is, with the paper's categories over its overalls", async () => {
    const { dir } = await writeRun(runs, 'scored-eval', ROWS);
    writeOfficialResults(dir, ROWS, ROWS.length);
    const file = JSON.parse(readFileSync(join(dir, 'results.json'), 'utf8')) as {
      benchmarks: Record<string, { overall: number; ci95: [number, number] | null; n: number; scored: number; by_category: Record<string, { n: number; scored: number; mean: number; ci95: [number, number] | null }>; by_question_type: Record<string, { n: number; mean: number; ci95: [number, number] | null }>; notes: string[] }>;
      mean_over_benchmarks: { value: number };
    };
    const r = get('scored-eval');
    expect(r).toMatchObject({ source: 'results.json', label: 'official (results.json, official scoring)', scoring: 'official', scoring_pending: false, notes: [] });
    for (const name of ['vsibench_debiased', 'blink']) {
      const b = byName(r.benchmarks, name);
      const f = file.benchmarks[name]!;
      expect(b).toMatchObject({ n: f.n, scored: f.scored, score: f.overall, ci95: f.ci95, notes: f.notes });
      expect(b.by_category).toEqual(Object.entries(f.by_category).map(([k, g]) => ({ name: k, n: g.n, scored: g.scored, score: g.mean, ci95: g.ci95 })));
      expect(b.by_question_type.map((g) => [g.name, g.n, g.score, g.ci95])).toEqual(Object.entries(f.by_question_type).map(([k, g]) => [k, g.n, g.mean, g.ci95]));
    }
    expect(byName(r.benchmarks, 'blink').paper).toBe(0.734);
    // VSI-Bench-U's official overall is its released aggregate (a mean of task means), not the per-sample mean.
    const vOfficial = file.benchmarks['vsibench_debiased']!.overall;
    expect(byName(r.paper_categories, 'Video & 4D').score).toBe(vOfficial);
    expect(r.mean).toMatchObject({ value: file.mean_over_benchmarks.value, count: 2, of: 20, complete: false, paper: 0.599 });
    expect(r.numeric_scores).toEqual([1, 0.5, 0.8, 0.2, 0]);
  }, 60_000);

  it('falls back to the live means, and says why, when results.json is stale or broken', async () => {
    const { dir } = await writeRun(runs, 'stale-eval', ROWS);
    writeOfficialResults(dir, ROWS.slice(0, 10), 10);
    const stale = get('stale-eval');
    expect(stale.source).toBe('live');
    expect(stale.notes.join('\n')).toMatch(/results\.json covers 10 of the 14 finished samples.*spatialclaw score/);
    expect(byName(stale.benchmarks, 'blink').n).toBe(6);

    writeFileSync(join(dir, 'results.json'), JSON.stringify({ format: 'spatialclaw-results/1', scoring: 'official', benchmarks: { blink: { title: 'BLINK' } } }));
    const broken = get('stale-eval');
    expect(broken.source).toBe('live');
    expect(broken.notes.join('\n')).toMatch(/results\.json is not a spatialclaw-results\/1 file \(benchmarks\.blink\.n: /);
    writeFileSync(join(dir, 'results.json'), '{"format": "spatialclaw-results/1", ');
    expect(get('stale-eval').notes.join('\n')).toMatch(/results\.json is not valid JSON/);
  }, 60_000);

  it('flags a run a writer holds open as live, and an eval being scored as pending', async () => {
    const { dir, writer } = await writeRun(runs, 'open-eval', ROWS.slice(0, 3), true);
    const open = get('open-eval');
    expect(open).toMatchObject({ live: true, scoring_pending: false, done: 3, total: 14, source: 'live' });
    expect(open.notes.join('\n')).not.toMatch(/no results\.json yet/);
    await writer.finish('finished');
    const progress = (stage: string) => JSON.stringify({ t: new Date().toISOString(), elapsed_s: 3, stage, kernels: null, samples: { total: 14, done: 14, phases: { kernel: 0, preparing: 0, model: 0, cell: 0 } }, first_model_call_s: 1, first_sample_done_s: 2 });
    writeFileSync(join(dir, 'progress.json'), progress('finishing'));
    expect(get('open-eval')).toMatchObject({ live: false, scoring_pending: true });
    // A `finishing` snapshot from long ago is a scorer that died: not pending any more.
    const old = new Date(Date.now() - 3600_000);
    utimesSync(join(dir, 'progress.json'), old, old);
    expect(get('open-eval').scoring_pending).toBe(false);
    writeFileSync(join(dir, 'progress.json'), progress('done'));
    expect(get('open-eval').scoring_pending).toBe(false);
  });

  it('groups the samples of a run without benchmarks under the dataset, and uses the last line of a re-run sample', async () => {
    const dir = join(runs, 'plain-run');
    const w = await RunWriter.create(dir, { config: { kind: 'run', dataset: '/data/rooms.jsonl' }, versions: {}, total_samples: 2 });
    await w.finish('finished');
    const plain = (id: string, score: number, qt: string): SampleResult => ({ ...resultOf({ id, benchmark: 'x', question_type: qt, gt: '2', score, steps: 1 }), benchmark: undefined, scoring: undefined, source_id: undefined });
    writeFileSync(join(dir, 'samples.jsonl'), [plain('a', 0, 'count'), plain('b', 1, 'size'), plain('a', 1, 'count')].map((x) => `${JSON.stringify(x)}\n`).join(''));
    const r = get('plain-run');
    expect(r).toMatchObject({ source: 'live', scoring: null, label: 'live, per-sample mean', done: 2, paper_categories: [], mean: null });
    expect(r.benchmarks).toHaveLength(1);
    expect(r.benchmarks[0]).toMatchObject({ name: null, title: 'rooms.jsonl', n: 2, scored: 2, score: 1, paper: null, paper_category: null });
    expect(r.benchmarks[0]!.by_question_type.map((g) => g.name)).toEqual(['count', 'size']);
    expect(r.numeric_scores).toEqual([1, 1]);
  });

  it("names the reference table when it cannot be read, and still shows the run", async () => {
    const { dir } = await writeRun(runs, 'no-reference', ROWS.slice(8));
    const missing = readPaperReference(join(runs, 'absent.json'));
    expect(missing).toBeInstanceOf(Error);
    const r = runResults({ runId: 'no-reference', dir, info: JSON.parse(readFileSync(join(dir, 'run.json'), 'utf8')), rows: ROWS.slice(8).map(resultOf), live: false, reference: missing });
    expect(r.notes.join('\n')).toMatch(/cannot read the paper's reference table .*absent\.json/);
    expect(r).toMatchObject({ paper_categories: [], mean: null });
    expect(r.benchmarks[0]).toMatchObject({ name: 'blink', title: 'blink', paper: null, n: 6 });
  });

  it('is a method of the workbench contract: validated args, a result that matches its schema, a clear error for an unknown run', async () => {
    await writeRun(runs, 'via-host', ROWS.slice(0, 4));
    vi.stubEnv('SPATIALCLAW_HOME', mkdtempSync(join(tmpdir(), 'run-results-home-')));
    const services = createServices({ runsRoot: runs });
    try {
      const host = await WorkbenchHost.create({ services });
      const ok = await dispatch(host.handlers, 'runResults', { run_id: 'via-host' });
      expect(ok.ok).toBe(true);
      expect(RunResultsSchema.parse(ok.ok ? ok.value : null)).toMatchObject({ run_id: 'via-host', done: 4, source: 'live' });
      const unknown = await dispatch(host.handlers, 'runResults', { run_id: 'no-such-run' });
      expect(unknown.ok ? null : unknown.failure).toMatchObject({ status: 400, body: { error: expect.stringMatching(/^no run no-such-run in /), fix: expect.stringMatching(/listRuns/) } });
      const extra = await dispatch(host.handlers, 'runResults', { run_id: 'via-host', scoring: 'paper' });
      expect(extra.ok ? null : extra.failure.status).toBe(400);
    } finally {
      await services.close();
      vi.unstubAllEnvs();
    }
  });
});
