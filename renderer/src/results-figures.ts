/**
 * The Results tab's charts as plotly.js figures (data + layout), built from a run's `RunResults`
 * (shared/results.ts). Pure functions, no DOM and no plotly runtime: components/charts.tsx renders them.
 *
 * Every figure has a fixed width and height derived from its data only, so a chart has the same size on
 * every screen and in every export (PNG and SVG). Scores are shown in percent.
 */
import type { Data, Layout } from 'plotly.js-dist-min';
import type { BenchmarkBreakdown, RunResults } from '../../shared/results.ts';

/** A figure and its size in CSS pixels (the export size too). */
export interface Figure {
  data: Data[];
  layout: Partial<Layout>;
  width: number;
  height: number;
}

/** The workbench's dark theme (renderer/src/styles.css :root). */
export const CHART_COLORS = {
  run: '#5aa2ff',
  overall: '#3f78cc',
  paper: '#e5c07b',
  numeric: '#7bd88f',
  steps: '#b77de0',
  termination: '#e08a5a',
  text: '#e4e6eb',
  muted: '#8b93a3',
  grid: '#2c313c',
  background: '#1d2027',
} as const;

const pct = (x: number | null): number | null => (x === null ? null : 100 * x);
const clamp = (x: number, lo: number, hi: number) => Math.max(lo, Math.min(hi, x));

function layout(title: string, width: number, height: number, extra: Partial<Layout> = {}): Partial<Layout> {
  return {
    title: { text: title, font: { size: 14 }, x: 0.02, xanchor: 'left', y: 0.98, yref: 'container', yanchor: 'top' },
    width,
    height,
    autosize: false,
    margin: { l: 56, r: 20, t: 76, b: 70 },
    paper_bgcolor: CHART_COLORS.background,
    plot_bgcolor: CHART_COLORS.background,
    font: { family: "'DejaVu Sans', sans-serif", size: 12, color: CHART_COLORS.text },
    legend: { orientation: 'h', x: 0, y: 1.02, yanchor: 'bottom', xanchor: 'left', bgcolor: 'rgba(0,0,0,0)' },
    ...extra,
  };
}

const axis = (title: string, extra: Record<string, unknown> = {}) => ({ title: { text: title }, gridcolor: CHART_COLORS.grid, zerolinecolor: CHART_COLORS.grid, automargin: true, ...extra });

/** A note in the middle of an empty chart. */
function emptyNote(text: string): Partial<Layout> {
  return {
    annotations: [{ text, showarrow: false, xref: 'paper', yref: 'paper', x: 0.5, y: 0.5, font: { color: CHART_COLORS.muted, size: 13 } }],
    xaxis: { visible: false },
    yaxis: { visible: false },
  };
}

interface BarRow {
  label: string;
  score: number | null;
  ci95: [number, number] | null;
  n: number;
  scored: number;
  paper: number | null;
}

/** The bars of the score chart: each benchmark, or for a run of one benchmark its overall and its question types. */
export function scoreBarRows(r: RunResults): { rows: BarRow[]; title: string } {
  if (r.benchmarks.length === 1) {
    const b = r.benchmarks[0]!;
    return {
      title: `${b.title}: overall and per question type`,
      rows: [
        { label: 'overall', score: b.score, ci95: b.ci95, n: b.n, scored: b.scored, paper: b.paper },
        ...b.by_question_type.map((g) => ({ label: g.name, score: g.score, ci95: g.ci95, n: g.n, scored: g.scored, paper: null })),
      ],
    };
  }
  return { title: 'Score per benchmark', rows: r.benchmarks.map((b: BenchmarkBreakdown) => ({ label: b.title, score: b.score, ci95: b.ci95, n: b.n, scored: b.scored, paper: b.paper })) };
}

/** Bars with their 95% CI as error bars, and the paper's SpatialClaw numbers as diamonds beside them. */
export function scoreBarsFigure(r: RunResults): Figure {
  const { rows, title } = scoreBarRows(r);
  const width = clamp(160 + 64 * rows.length, 460, 1100);
  const height = 380;
  if (rows.length === 0) return { data: [], layout: layout(title, width, height, emptyNote('no finished samples yet')), width, height };
  const x = rows.map((b) => b.label);
  const y = rows.map((b) => pct(b.score));
  const data: Data[] = [
    {
      type: 'bar',
      name: r.source === 'live' ? 'this run (live, per-sample mean)' : 'this run',
      x,
      y,
      marker: { color: rows.map((b) => (b.label === 'overall' && r.benchmarks.length === 1 ? CHART_COLORS.overall : CHART_COLORS.run)) },
      error_y: {
        type: 'data',
        symmetric: false,
        array: rows.map((b) => (b.ci95 && b.score !== null ? 100 * (b.ci95[1] - b.score) : null)),
        arrayminus: rows.map((b) => (b.ci95 && b.score !== null ? 100 * (b.score - b.ci95[0]) : null)),
        color: CHART_COLORS.text,
        thickness: 1.2,
        width: 4,
      },
      customdata: rows.map((b) => [b.scored, b.n, b.ci95 ? `${(100 * b.ci95[0]).toFixed(1)}–${(100 * b.ci95[1]).toFixed(1)}` : '—']),
      hovertemplate: '%{x}: %{y:.1f}%<br>95% CI %{customdata[2]}<br>%{customdata[0]} scored of %{customdata[1]}<extra></extra>',
    } as Data,
  ];
  if (rows.some((b) => b.paper !== null)) {
    data.push({
      type: 'scatter',
      mode: 'markers',
      name: "paper (SpatialClaw, Gemma 4-31B)",
      x,
      y: rows.map((b) => pct(b.paper)),
      marker: { symbol: 'diamond', size: 12, color: CHART_COLORS.paper, line: { color: CHART_COLORS.background, width: 1 } },
      hovertemplate: '%{x}: paper %{y:.1f}%<extra></extra>',
    } as Data);
  }
  return {
    data,
    layout: layout(title, width, height, { xaxis: axis('', { type: 'category', tickangle: rows.length > 6 ? -30 : 0 }), yaxis: axis('score %', { range: [0, 105] }), bargap: 0.35 }),
    width,
    height,
  };
}

/** The radar's axes: what they are, their labels, the run's scores and the paper's (0..1; null where none). */
export interface RadarAxes {
  title: string;
  labels: string[];
  run: (number | null)[];
  paper: (number | null)[] | null;
}

/**
 * The radar's axes, the first of these with at least 3 axes (a radar needs 3): the paper's benchmark categories
 * (as the paper's figure groups its benchmarks; run vs the paper over the same benchmarks), the benchmarks (run vs
 * paper), the benchmarks' own categories, their question types. With fewer than 3 of each, the longest of them.
 */
export function radarAxes(r: RunResults): RadarAxes {
  const several = r.benchmarks.length > 1;
  const prefix = (b: BenchmarkBreakdown, name: string) => (several ? `${b.title} · ${name}` : name);
  const candidates: RadarAxes[] = [
    {
      title: "Score by the paper's benchmark category",
      labels: r.paper_categories.map((c) => c.name),
      run: r.paper_categories.map((c) => c.score),
      paper: r.paper_categories.map((c) => c.paper),
    },
    { title: 'Score by benchmark', labels: r.benchmarks.map((b) => b.title), run: r.benchmarks.map((b) => b.score), paper: r.benchmarks.map((b) => b.paper) },
    {
      title: 'Score by category',
      labels: r.benchmarks.flatMap((b) => b.by_category.map((g) => prefix(b, g.name))),
      run: r.benchmarks.flatMap((b) => b.by_category.map((g) => g.score)),
      paper: null,
    },
    {
      title: 'Score by question type',
      labels: r.benchmarks.flatMap((b) => b.by_question_type.map((g) => prefix(b, g.name))),
      run: r.benchmarks.flatMap((b) => b.by_question_type.map((g) => g.score)),
      paper: null,
    },
  ].map((c) => ({ ...c, paper: c.paper && c.paper.some((p) => p !== null) ? c.paper : null }));
  return candidates.find((c) => c.labels.length >= 3) ?? candidates.reduce((a, c) => (c.labels.length > a.labels.length ? c : a));
}

/** A radar of the run's scores (and the paper's, where it reports them) over {@link radarAxes}. */
export function radarFigure(r: RunResults): Figure {
  const axes = radarAxes(r);
  const width = 680;
  const height = 460;
  if (axes.labels.length === 0) return { data: [], layout: layout('Score by category', width, height, emptyNote('no finished samples yet')), width, height };
  // Close each polygon: the first axis again at the end.
  const closed = <T,>(xs: T[]): T[] => [...xs, xs[0]!];
  // Long labels would run off the chart: cut at 28 characters (the hover shows the whole label).
  const theta = closed(axes.labels.map((l) => (l.length > 28 ? `${l.slice(0, 27)}…` : l)));
  const data: Data[] = [
    {
      type: 'scatterpolar',
      name: r.source === 'live' ? 'this run (live)' : 'this run',
      r: closed(axes.run.map(pct)),
      theta,
      fill: 'toself',
      fillcolor: 'rgba(90,162,255,0.25)',
      line: { color: CHART_COLORS.run, width: 2 },
      marker: { size: 6 },
      customdata: closed(axes.labels),
      hovertemplate: '%{customdata}: %{r:.1f}%<extra></extra>',
    } as Data,
  ];
  if (axes.paper) {
    data.push({
      type: 'scatterpolar',
      name: 'paper (SpatialClaw, Gemma 4-31B)',
      r: closed(axes.paper.map(pct)),
      theta,
      line: { color: CHART_COLORS.paper, width: 2, dash: 'dash' },
      marker: { size: 6, symbol: 'diamond' },
      customdata: closed(axes.labels),
      hovertemplate: '%{customdata}: paper %{r:.1f}%<extra></extra>',
    } as Data);
  }
  return {
    data,
    layout: layout(axes.title, width, height, {
      margin: { l: 170, r: 170, t: 96, b: 50 },
      polar: {
        bgcolor: CHART_COLORS.background,
        // The radial scale between the first two spokes (clockwise from the top), clear of the axis labels.
        radialaxis: { range: [0, 100], ticksuffix: '%', tickvals: [25, 50, 75, 100], gridcolor: CHART_COLORS.grid, linecolor: CHART_COLORS.grid, angle: 90 - 180 / Math.max(axes.labels.length, 1), tickfont: { size: 10, color: CHART_COLORS.muted } },
        angularaxis: { gridcolor: CHART_COLORS.grid, linecolor: CHART_COLORS.grid, direction: 'clockwise', tickfont: { size: 11 } },
      },
    }),
    width,
    height,
  };
}

/** The scores of numeric-answer samples (MRA and alike), in bins of 0.1 centred on 0, 0.1, …, 1. */
export function numericHistogramFigure(r: RunResults): Figure {
  const width = 460;
  const height = 320;
  const title = `Scores of numeric-answer samples (n = ${r.numeric_scores.length})`;
  if (r.numeric_scores.length === 0) return { data: [], layout: layout(title, width, height, emptyNote('no scored sample has a numeric ground truth')), width, height };
  return {
    data: [
      {
        type: 'histogram',
        name: 'samples',
        x: r.numeric_scores,
        xbins: { start: -0.05, end: 1.05, size: 0.1 },
        marker: { color: CHART_COLORS.numeric, line: { color: CHART_COLORS.background, width: 1 } },
        hovertemplate: 'score %{x}: %{y} samples<extra></extra>',
      } as Data,
    ],
    layout: layout(title, width, height, { showlegend: false, xaxis: axis('score (0..1)', { range: [-0.05, 1.05], dtick: 0.1 }), yaxis: axis('samples', { rangemode: 'tozero' }), bargap: 0.05 }),
    width,
    height,
  };
}

/** Cells run per sample, one bin per step count. */
export function stepsHistogramFigure(r: RunResults): Figure {
  const width = 460;
  const height = 320;
  const title = `Steps per sample (n = ${r.steps.length})`;
  if (r.steps.length === 0) return { data: [], layout: layout(title, width, height, emptyNote('no finished samples yet')), width, height };
  const max = r.steps.reduce((a, b) => Math.max(a, b), 0);
  return {
    data: [
      {
        type: 'histogram',
        name: 'samples',
        x: r.steps,
        xbins: { start: -0.5, end: max + 0.5, size: 1 },
        marker: { color: CHART_COLORS.steps, line: { color: CHART_COLORS.background, width: 1 } },
        hovertemplate: '%{x} steps: %{y} samples<extra></extra>',
      } as Data,
    ],
    layout: layout(title, width, height, { showlegend: false, xaxis: axis('steps (cells run)', { range: [-0.5, max + 0.5], tick0: 0, dtick: max > 20 ? 5 : 1 }), yaxis: axis('samples', { rangemode: 'tozero' }), bargap: 0.05 }),
    width,
    height,
  };
}

/** Why samples ended: a bar per termination reason (every reason, zeros included). */
export function terminationFigure(r: RunResults): Figure {
  const width = 460;
  const height = 320;
  const total = r.terminations.reduce((a, t) => a + t.count, 0);
  return {
    data: [
      {
        type: 'bar',
        name: 'samples',
        x: r.terminations.map((t) => t.reason),
        y: r.terminations.map((t) => t.count),
        text: r.terminations.map((t) => String(t.count)),
        textposition: 'outside',
        cliponaxis: false,
        marker: { color: r.terminations.map((t) => (t.reason === 'answered' ? CHART_COLORS.numeric : CHART_COLORS.termination)) },
        hovertemplate: '%{x}: %{y} samples<extra></extra>',
      } as Data,
    ],
    layout: layout(`Termination reasons (n = ${total})`, width, height, { showlegend: false, xaxis: axis('', { type: 'category' }), yaxis: axis('samples', { rangemode: 'tozero' }) }),
    width,
    height,
  };
}

/** Every chart of the Results tab, in the order shown. `id` names its test id and export file. */
export function resultsFigures(r: RunResults): { id: string; label: string; figure: Figure }[] {
  return [
    { id: 'scores', label: 'Scores with 95% CI', figure: scoreBarsFigure(r) },
    { id: 'radar', label: 'Score radar', figure: radarFigure(r) },
    { id: 'numeric', label: 'Numeric-answer scores', figure: numericHistogramFigure(r) },
    { id: 'steps', label: 'Steps per sample', figure: stepsHistogramFigure(r) },
    { id: 'terminations', label: 'Termination reasons', figure: terminationFigure(r) },
  ];
}
