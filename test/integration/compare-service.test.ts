/**
 * The workbench's `compareRuns` through the real host (validation, the service, `python -m spatial_eval compare-many`)
 * on run folders written by the real RunWriter: each pair's numbers equal `spatialclaw compare BASELINE RUN --json`'s,
 * the per-sample table holds every run's answer and each pair's flip, and runs that cannot be compared are refused
 * with the reason and the fix.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RunComparison, RunComparisonSchema, type RunPair } from '../../shared/compare.ts';
import type { SampleResult } from '../../shared/run.ts';
import { RunWriter } from '../../electron/services/runs/writer.ts';
import { WorkbenchHost } from '../../electron/services/workbench/host.ts';
import { dispatch, type HostFailure } from '../../electron/services/workbench/transport.ts';
import { spatialclaw } from '../helpers/cli.ts';

const TASKS = ['Counting', 'Relative_Depth'];

/** A BLINK-like sample result: `score` 1 answers the ground truth "(A)", 0 answers `wrong`. */
const result = (bench: string, i: number, score: number | null, wrong = '(B)'): SampleResult => ({
  id: `${bench}-val_${i}`, question: `${bench} question ${i}?`, answer: score === null ? null : score >= 0.5 ? '(A)' : wrong, answer_source: 'return_answer',
  ground_truth: score === null ? null : '(A)', score, scoring: 'official', question_type: TASKS[i % 2]!, benchmark: bench, source_id: `val_${i}`,
  termination: 'answered', steps: 1, parse_failures: 0, usage: { prompt_tokens: 10, completion_tokens: 5 }, model_calls: 1, duration_s: 1, error: null,
  started_at: '2026-12-05T10:00:00.000Z', finished_at: '2026-12-05T10:00:01.000Z',
});

/** A run folder of `bench` samples: index -> score (null: no ground truth). */
async function writeRun(dir: string, bench: string, scores: (number | null)[], opts: { first?: number; wrong?: string } = {}): Promise<void> {
  const w = await RunWriter.create(dir, { config: { kind: 'eval', benchmarks: [bench] }, versions: {}, total_samples: scores.length });
  for (const [k, s] of scores.entries()) {
    const i = k + (opts.first ?? 0);
    const spec = { id: `${bench}-val_${i}`, question: `${bench} question ${i}?`, inputs: [{ kind: 'images' as const, path: '/x.png' }], benchmark: bench, source_id: `val_${i}` };
    const sw = w.startSample(spec);
    sw.event({ type: 'sample_start', t: '2026-12-05T10:00:00.000Z', step: 0, sample: spec, executor: 'code' });
    await sw.finish(result(bench, i, s, opts.wrong));
  }
  await w.finish('finished');
}

async function cli(root: string, a: string, b: string, resamples?: number): Promise<Record<string, unknown>> {
  const r = await spatialclaw(['compare', join(root, a), join(root, b), '--json', ...(resamples === undefined ? [] : ['--resamples', String(resamples)])]);
  expect(r.code, r.stderr).toBe(0);
  return JSON.parse(r.stdout) as Record<string, unknown>;
}

describe('compareRuns (workbench) against spatialclaw compare', () => {
  let root: string;
  let home: string;
  let host: WorkbenchHost;
  const prevHome = process.env.SPATIALCLAW_HOME;

  const call = async (args: unknown): Promise<RunComparison> => {
    const r = await dispatch(host.handlers, 'compareRuns', args);
    if (!r.ok) throw new Error(`compareRuns failed: ${JSON.stringify(r.failure)}`);
    return RunComparisonSchema.parse(r.value); // what the client checks
  };
  const refused = async (args: unknown): Promise<HostFailure> => {
    const r = await dispatch(host.handlers, 'compareRuns', args);
    expect(r.ok).toBe(false);
    return (r as { failure: HostFailure }).failure;
  };

  beforeAll(async () => {
    root = mkdtempSync(join(tmpdir(), 'sc-compare-svc-'));
    home = mkdtempSync(join(tmpdir(), 'sc-compare-home-'));
    process.env.SPATIALCLAW_HOME = home;
    // base right on 0-5, wrong on 6-11; b flips 0, 1 to wrong and 6, 7, 8 to right; c has no ground truth for 2 and
    // lacks 10-11, and answers an MRA-like 0.6 (correct) and 0.4 (wrong).
    await writeRun(join(root, 'base'), 'blink', [1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0]);
    await writeRun(join(root, 'b'), 'blink', [0, 0, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0], { wrong: '(C)' });
    await writeRun(join(root, 'c'), 'blink', [0.6, 0.4, null, 1, 1, 1, 0, 1, 0, 0]);
    await writeRun(join(root, 'vsi'), 'vsibench', [1, 0, 1]);
    await writeRun(join(root, 'elsewhere'), 'blink', [1, 0, 1], { first: 100 });
    host = await WorkbenchHost.create({ runsRoot: root });
  });
  afterAll(async () => {
    await host?.close();
    if (prevHome === undefined) delete process.env.SPATIALCLAW_HOME;
    else process.env.SPATIALCLAW_HOME = prevHome;
    rmSync(home, { recursive: true, force: true });
    rmSync(root, { recursive: true, force: true });
  });

  it('gives each pair the numbers of spatialclaw compare --json, the baseline first', async () => {
    const c = await call({ run_ids: ['base', 'b', 'c'], resamples: 500 });
    expect(c.baseline).toBe('base');
    expect(c.resamples).toBe(500);
    expect(c.runs).toEqual([
      { id: 'base', benchmarks: ['blink'], samples: 12, scored: 12 },
      { id: 'b', benchmarks: ['blink'], samples: 12, scored: 12 },
      { id: 'c', benchmarks: ['blink'], samples: 10, scored: 9 },
    ]);
    expect(c.pairs.map((p) => [p.a, p.b])).toEqual([['base', 'b'], ['base', 'c']]);
    for (const [k, other] of ['b', 'c'].entries()) {
      const expected = await cli(root, 'base', other, 500);
      expect(c.pairs[k]).toEqual({ ...expected, a: 'base', b: other });
    }
    const b: RunPair = c.pairs[0]!;
    expect(b).toMatchObject({ n_common: 12, a_only_correct: 2, b_only_correct: 3, n_discordant: 5, mcnemar_p: 1 });
    expect(b.delta).toBeCloseTo(1 / 12, 12);
    expect(b.flips).toEqual({ right_to_wrong: ['blink-val_0', 'blink-val_1'], wrong_to_right: ['blink-val_6', 'blink-val_7', 'blink-val_8'] });
    expect(Object.keys(b.per_task)).toEqual(['blink/Counting', 'blink/Relative_Depth']);
    expect(b.per_task['blink/Counting']).toMatchObject({ n_common: 6, a_only_correct: 1, b_only_correct: 2, n_discordant: 3 });
    expect(c.pairs[1]).toMatchObject({ n_common: 9, a_only_samples: 2, b_only_samples: 0, a_only_correct: 1, b_only_correct: 1 });
  });

  it('lists every sample with each run\'s answer and each pair\'s flip', async () => {
    const c = await call({ run_ids: ['base', 'b', 'c'], resamples: 0 });
    expect(c.samples.map((s) => s.id)).toEqual(Array.from({ length: 12 }, (_, i) => `blink-val_${i}`));
    const at = (i: number) => c.samples[i]!;
    expect(at(0)).toEqual({
      id: 'blink-val_0', benchmark: 'blink', question_type: 'Counting', task: 'blink/Counting', question: 'blink question 0?', ground_truth: '(A)',
      runs: [{ answer: '(A)', score: 1, correct: true }, { answer: '(C)', score: 0, correct: false }, { answer: '(A)', score: 0.6, correct: true }],
      flips: ['right_to_wrong', 'same'],
    });
    expect(at(1).flips).toEqual(['right_to_wrong', 'right_to_wrong']); // c's 0.4 is wrong
    expect(at(2).flips).toEqual(['same', null]); // no ground truth in c
    expect(at(7).flips).toEqual(['wrong_to_right', 'wrong_to_right']);
    expect(at(11).runs[2]).toBeNull(); // c never recorded it
    expect(at(11).flips).toEqual(['same', null]);
    // No resamples: no interval, the rest unchanged.
    expect(c.pairs[0]!.delta_ci95).toBeNull();
    expect(c.pairs[0]!.mcnemar_p).toBe(1);
  });

  it('uses the CLI\'s default resamples, so the default interval is the CLI\'s too', async () => {
    const c = await call({ run_ids: ['base', 'b'] });
    expect(c.resamples).toBe(9999);
    const expected = await cli(root, 'base', 'b');
    expect(c.pairs[0]!.delta_ci95).toEqual(expected['delta_ci95']);
    expect(c.pairs[0]!.delta_ci95).not.toBeNull();
  }, 120_000);

  it('refuses runs of another benchmark, runs with no sample in common, unknown runs and bad selections', async () => {
    const other = await refused({ run_ids: ['base', 'vsi'] });
    expect(other.status).toBe(400);
    expect(other.body.error).toBe('runs base and vsi are of different benchmarks (base: blink; vsi: vsibench)');
    expect(other.body.fix).toMatch(/^compare runs of the same benchmark/);
    const disjoint = await refused({ run_ids: ['base', 'b', 'elsewhere'] });
    expect(disjoint.body.error).toBe('runs base and elsewhere have no scored sample in common (base: 12 samples, 12 scored; elsewhere: 3 samples, 3 scored)');
    expect(disjoint.body.fix).toMatch(/--limit, --subsample and --seed/);
    const unknown = await refused({ run_ids: ['base', 'nope'] });
    expect(unknown.body.error).toMatch(/^no run nope in /);
    expect(unknown.body.fix).toMatch(/listRuns/);
    const one = await refused({ run_ids: ['base'] });
    expect(one.status).toBe(400);
    expect(one.body.error).toMatch(/invalid arguments for compareRuns: run_ids: pick at least two runs to compare/);
    const twice = await refused({ run_ids: ['base', 'b', 'base'] });
    expect(twice.body.error).toMatch(/a run is listed twice/);
    const seven = await refused({ run_ids: ['base', 'b', 'c', 'vsi', 'elsewhere', 'x', 'y'] });
    expect(seven.body.error).toMatch(/compare at most 6 runs at once/);
  });
});
