/**
 * The Results tab's figures (renderer/src/results-figures.ts): what each plotly figure holds for a run's results
 * (bars with CI error bars and the paper's diamonds, the radar's axes, the histograms' bins, termination counts), and
 * that their sizes depend on the data only.
 */
import { describe, expect, it } from 'vitest';
import type { BenchmarkBreakdown, RunResults } from '../../shared/results.ts';
import { numericHistogramFigure, radarAxes, radarFigure, resultsFigures, scoreBarsFigure, stepsHistogramFigure, terminationFigure } from '../../renderer/src/results-figures.ts';

const bench = (name: string, title: string, score: number, paper: number | null, over: Partial<BenchmarkBreakdown> = {}): BenchmarkBreakdown => ({
  name, title, n: 10, scored: 10, score, ci95: [score - 0.1, score + 0.05], paper, reference: paper === null ? {} : { spatialclaw: paper }, paper_category: null,
  by_category: [], by_question_type: [], notes: [], ...over,
});

const results = (over: Partial<RunResults> = {}): RunResults => ({
  run_id: 'r1', source: 'results.json', label: 'official (results.json, official scoring)', scoring: 'official', live: false, scoring_pending: false, done: 20, total: 20,
  benchmarks: [
    bench('vsibench_debiased', 'VSI-Bench-U', 0.5, 0.485, {
      paper_category: 'Video & 4D',
      by_category: [{ name: 'configurational', n: 6, scored: 6, score: 0.6, ci95: null }, { name: 'measurement', n: 4, scored: 4, score: 0.35, ci95: null }],
      by_question_type: [{ name: 'object_counting', n: 5, scored: 5, score: 0.7, ci95: [0.5, 0.9] }, { name: 'room_size_estimation', n: 5, scored: 5, score: 0.3, ci95: null }],
    }),
    bench('blink', 'BLINK', 0.6, 0.734, { paper_category: 'General spatial', by_question_type: [{ name: 'Counting', n: 10, scored: 10, score: 0.6, ci95: [0.3, 0.9] }] }),
  ],
  paper_categories: [
    { name: 'Video & 4D', benchmarks: ['vsibench_debiased'], of: 6, n: 10, score: 0.5, paper: 0.485 },
    { name: 'General spatial', benchmarks: ['blink'], of: 3, n: 10, score: 0.6, paper: 0.734 },
  ],
  mean: { value: 0.55, count: 2, of: 20, complete: false, paper: 0.599 },
  numeric_scores: [1, 0.8, 0.8, 0.25, 0],
  steps: [1, 2, 2, 3, 7],
  terminations: [
    { reason: 'answered', count: 18 }, { reason: 'max_steps', count: 1 }, { reason: 'consecutive_failures', count: 0 }, { reason: 'stopped', count: 0 }, { reason: 'error', count: 1 },
  ],
  notes: [],
  ...over,
});

type Trace = Record<string, unknown> & { type?: string; x?: unknown[]; y?: unknown[]; r?: unknown[]; theta?: unknown[] };
const traces = (f: { data: unknown[] }) => f.data as Trace[];

describe('score bars', () => {
  it('shows each benchmark with its 95% CI as asymmetric error bars, and the paper as diamonds', () => {
    const f = scoreBarsFigure(results());
    const [bars, paper] = traces(f);
    expect(bars).toMatchObject({ type: 'bar', x: ['VSI-Bench-U', 'BLINK'], y: [50, 60], name: 'this run' });
    const err = bars!['error_y'] as { array: number[]; arrayminus: number[]; symmetric: boolean };
    expect(err.symmetric).toBe(false);
    expect(err.array[0]).toBeCloseTo(5, 9);
    expect(err.arrayminus[1]).toBeCloseTo(10, 9);
    expect(paper).toMatchObject({ type: 'scatter', mode: 'markers', x: ['VSI-Bench-U', 'BLINK'] });
    expect((paper!.y as number[])[0]).toBeCloseTo(48.5, 9);
    expect((paper!['marker'] as { symbol: string }).symbol).toBe('diamond');
  });

  it('shows one benchmark as its overall and its question types; the paper only at the overall', () => {
    const r = results({ benchmarks: [results().benchmarks[0]!], source: 'live', label: 'live, per-sample mean' });
    const [bars, paper] = traces(scoreBarsFigure(r));
    expect(bars!.x).toEqual(['overall', 'object_counting', 'room_size_estimation']);
    expect(bars!.y).toEqual([50, 70, 30]);
    expect(bars!.name).toMatch(/live, per-sample mean/);
    // No interval: no error bar (null), not a zero-length one.
    expect((bars!['error_y'] as { array: (number | null)[] }).array[2]).toBeNull();
    expect(paper!.y).toEqual([48.5, null, null]);
  });

  it('says so when there are no samples, and has no paper series without paper numbers', () => {
    const empty = scoreBarsFigure(results({ benchmarks: [] }));
    expect(empty.data).toEqual([]);
    expect(JSON.stringify(empty.layout)).toMatch(/no finished samples yet/);
    const noPaper = scoreBarsFigure(results({ benchmarks: [bench('a', 'A', 0.5, null), bench('b', 'B', 0.4, null)] }));
    expect(noPaper.data).toHaveLength(1);
  });
});

describe('radar', () => {
  it("uses the paper's categories when the run spans 3 or more, run vs paper, as a closed polygon", () => {
    const r = results({
      paper_categories: [
        { name: 'Single-image', benchmarks: ['erqa'], of: 4, n: 5, score: 0.6, paper: 0.613 },
        { name: 'Multi-view', benchmarks: ['mmsi'], of: 3, n: 5, score: 0.4, paper: 0.513 },
        { name: 'General spatial', benchmarks: ['blink'], of: 3, n: 5, score: 0.7, paper: 0.734 },
      ],
    });
    expect(radarAxes(r)).toMatchObject({ title: "Score by the paper's benchmark category", labels: ['Single-image', 'Multi-view', 'General spatial'] });
    const [run, paper] = traces(radarFigure(r));
    expect(run).toMatchObject({ type: 'scatterpolar', theta: ['Single-image', 'Multi-view', 'General spatial', 'Single-image'], fill: 'toself' });
    expect(run!.r).toEqual([60, 40, 70, 60]);
    expect((paper!.r as number[])[1]).toBeCloseTo(51.3, 9);
  });

  it('falls back to benchmarks, then categories, then question types, whichever first gives 3 axes', () => {
    const three = results({ benchmarks: [bench('a', 'A', 0.1, 0.2), bench('b', 'B', 0.3, null), bench('c', 'C', 0.5, null)], paper_categories: [] });
    expect(radarAxes(three)).toMatchObject({ title: 'Score by benchmark', labels: ['A', 'B', 'C'], run: [0.1, 0.3, 0.5], paper: [0.2, null, null] });
    // Two benchmarks, 2 categories in all, 3 question types: question types, prefixed with the benchmark.
    expect(radarAxes(results())).toMatchObject({
      title: 'Score by question type',
      labels: ['VSI-Bench-U · object_counting', 'VSI-Bench-U · room_size_estimation', 'BLINK · Counting'],
      paper: null,
    });
    const oneBench = results({
      benchmarks: [bench('vsibench', 'VSI-Bench', 0.5, null, { by_category: ['configurational', 'measurement', 'spatiotemporal'].map((name) => ({ name, n: 1, scored: 1, score: 0.5, ci95: null })) })],
      paper_categories: [],
    });
    expect(radarAxes(oneBench)).toMatchObject({ title: 'Score by category', labels: ['configurational', 'measurement', 'spatiotemporal'] });
    expect(radarFigure(results({ benchmarks: [], paper_categories: [] })).data).toEqual([]);
    // A long label is cut on the chart; the hover keeps it whole.
    const [q] = traces(radarFigure(results()));
    expect((q!.theta as string[])[1]).toBe('VSI-Bench-U · room_size_est…');
    expect((q!['customdata'] as string[])[1]).toBe('VSI-Bench-U · room_size_estimation');
  });
});

describe('histograms and terminations', () => {
  it('bins numeric-answer scores by 0.1 around 0..1, and steps by one', () => {
    const [h] = traces(numericHistogramFigure(results()));
    expect(h).toMatchObject({ type: 'histogram', x: [1, 0.8, 0.8, 0.25, 0], xbins: { start: -0.05, end: 1.05, size: 0.1 } });
    const [s] = traces(stepsHistogramFigure(results()));
    expect(s).toMatchObject({ type: 'histogram', x: [1, 2, 2, 3, 7], xbins: { start: -0.5, end: 7.5, size: 1 } });
    const none = numericHistogramFigure(results({ numeric_scores: [] }));
    expect(JSON.stringify(none.layout)).toMatch(/no scored sample has a numeric ground truth/);
  });

  it('counts every termination reason', () => {
    const [t] = traces(terminationFigure(results()));
    expect(t).toMatchObject({ type: 'bar', x: ['answered', 'max_steps', 'consecutive_failures', 'stopped', 'error'], y: [18, 1, 0, 0, 1] });
  });

  it('sizes every figure from its data alone, the same on every call', () => {
    const a = resultsFigures(results());
    const b = resultsFigures(results());
    expect(a.map((c) => c.id)).toEqual(['scores', 'radar', 'numeric', 'steps', 'terminations']);
    expect(a.map((c) => [c.figure.width, c.figure.height])).toEqual(b.map((c) => [c.figure.width, c.figure.height]));
    for (const c of a) {
      expect(c.figure.layout.width).toBe(c.figure.width);
      expect(c.figure.layout.height).toBe(c.figure.height);
      expect(c.figure.layout.autosize).toBe(false);
    }
    // More bars, a wider chart, up to a bound.
    const many = results({ benchmarks: Array.from({ length: 20 }, (_, i) => bench(`b${i}`, `B${i}`, 0.5, null)) });
    expect(scoreBarsFigure(many).width).toBeGreaterThan(scoreBarsFigure(results()).width);
    expect(scoreBarsFigure(many).width).toBeLessThanOrEqual(1100);
  });
});
