/**
 * A run's Results tab: per benchmark, category and question type the score, n and 95% CI next to the paper's
 * numbers (`runResults`, shared/results.ts), and charts of them (plotly.js, components/charts.tsx): scores with CI
 * error bars, a radar over categories, numeric-answer scores, steps per sample and termination reasons.
 *
 * While the run is live (this host's question or another process's `spatialclaw run` / `eval`), and while an eval
 * run's results.json is being written, it asks the host again every 2 s and updates the tables and charts in place.
 */
import { type ReactNode, useEffect, useMemo, useState } from 'react';
import type { BenchmarkBreakdown, Ci95, ResultGroup, RunResults } from '../../../shared/results.ts';
import { type ShownError, toShownError } from '../api.ts';
import { uiStore, useApi, useUi } from '../context.tsx';
import { resultsFigures } from '../results-figures.ts';
import { PlotlyChart } from './charts.tsx';
import { ErrorBox } from './common.tsx';

/** How often a live run's results are fetched again. */
export const RESULTS_REFRESH_MS = 2000;

const pct = (x: number | null): string => (x === null ? '—' : (100 * x).toFixed(1));
const ci = (c: Ci95): string => (c ? `${pct(c[0])}–${pct(c[1])}` : '—');
const count = (g: { n: number; scored: number }): string => (g.scored === g.n ? String(g.n) : `${g.scored}/${g.n}`);

function GroupRows({ level, groups }: { level: string; groups: ResultGroup[] }) {
  if (groups.length === 0) return null;
  return (
    <>
      <tr className="results-level">
        <th colSpan={5} scope="rowgroup">
          by {level}
        </th>
      </tr>
      {groups.map((g) => (
        <tr key={g.name}>
          <th scope="row" className="results-group">
            {g.name}
          </th>
          <td>{count(g)}</td>
          <td>{pct(g.score)}</td>
          <td>{ci(g.ci95)}</td>
          <td className="muted">—</td>
        </tr>
      ))}
    </>
  );
}

/** One benchmark: its overall row, then its categories and question types. */
function BenchmarkTable({ b }: { b: BenchmarkBreakdown }) {
  return (
    <div className="results-benchmark">
      <table className="results-breakdown" aria-label={`Results of ${b.title}`}>
        <caption>
          {b.title}
          {b.name && b.name !== b.title ? <span className="muted"> ({b.name})</span> : null}
          {b.paper_category ? <span className="muted"> · {b.paper_category}</span> : null}
        </caption>
        <thead>
          <tr>
            <th scope="col"></th>
            <th scope="col" title="samples (scored/all when some have no score)">n</th>
            <th scope="col">score %</th>
            <th scope="col">95% CI</th>
            <th scope="col" title="the paper's SpatialClaw number (Gemma 4-31B)">paper %</th>
          </tr>
        </thead>
        <tbody>
          <tr className="results-overall">
            <th scope="row">overall</th>
            <td>{count(b)}</td>
            <td>{pct(b.score)}</td>
            <td>{ci(b.ci95)}</td>
            <td>{pct(b.paper)}</td>
          </tr>
          <GroupRows level="category" groups={b.by_category} />
          <GroupRows level="question type" groups={b.by_question_type} />
        </tbody>
      </table>
      {b.notes.length ? <p className="muted small results-bench-notes">{b.notes.join('; ')}</p> : null}
    </div>
  );
}

/** The paper's benchmark categories over the run's benchmarks, and the mean over the paper's benchmarks. */
function PaperCategoriesTable({ r }: { r: RunResults }) {
  if (r.paper_categories.length === 0 && !r.mean) return null;
  return (
    <table className="results-breakdown" aria-label="Results by the paper's categories">
      <caption>
        By the paper&apos;s categories
        <span className="results-caption-note muted small">unweighted means of the benchmarks&apos; scores; the paper&apos;s column over the same benchmarks</span>
      </caption>
      <thead>
        <tr>
          <th scope="col"></th>
          <th scope="col">benchmarks</th>
          <th scope="col">n</th>
          <th scope="col">score %</th>
          <th scope="col">paper %</th>
        </tr>
      </thead>
      <tbody>
        {r.paper_categories.map((c) => (
          <tr key={c.name}>
            <th scope="row" title={c.benchmarks.join(', ')}>
              {c.name}
            </th>
            <td>
              {c.benchmarks.length} of {c.of}
            </td>
            <td>{c.n}</td>
            <td>{pct(c.score)}</td>
            <td>{pct(c.paper)}</td>
          </tr>
        ))}
        {r.mean ? (
          <tr className="results-overall">
            <th scope="row">mean of benchmarks</th>
            <td>
              {r.mean.count} of {r.mean.of}
            </td>
            <td></td>
            <td>{pct(r.mean.value)}</td>
            <td title={r.mean.complete ? undefined : "the paper's average is over all 20 benchmarks: not comparable with a subset"}>
              {pct(r.mean.paper)}
              {r.mean.complete ? '' : ' (all 20)'}
            </td>
          </tr>
        ) : null}
      </tbody>
    </table>
  );
}

export interface ResultsViewProps {
  runId: string;
  /** The run is being written (RunDetail.live): refresh every 2 s. */
  live: boolean;
  /** Finished samples as the parent last saw them: a change fetches the results again at once. */
  done: number;
}

/** The Results tab of a run. */
export function ResultsView({ runId, live, done }: ResultsViewProps) {
  const api = useApi();
  const [data, setData] = useState<RunResults | null>(null);
  const [failure, setFailure] = useState<{ runId: string; error: ShownError } | null>(null);
  const [tick, setTick] = useState(0);

  // On open, on each refresh tick, when the done count moves, and when the run stops being live (its last samples,
  // its results.json). Replies are kept by run id: one for a run no longer open is never shown.
  useEffect(() => {
    api.call('runResults', { run_id: runId }).then(
      (r) => {
        // Unchanged results keep their object, so the charts are not redrawn.
        setData((old) => (old && JSON.stringify(old) === JSON.stringify(r) ? old : r));
        setFailure((f) => (f?.runId === r.run_id ? null : f));
      },
      (e: unknown) => setFailure({ runId, error: toShownError(e) }),
    );
  }, [api, runId, done, live, tick]);

  const shown = data && data.run_id === runId ? data : null;
  const error = failure?.runId === runId ? failure.error : null;
  const refreshing = live || shown?.live === true || shown?.scoring_pending === true;
  useEffect(() => {
    if (!refreshing) return;
    const t = setInterval(() => setTick((k) => k + 1), RESULTS_REFRESH_MS);
    return () => clearInterval(t);
  }, [refreshing]);

  const charts = useMemo(() => (shown ? resultsFigures(shown) : []), [shown]);

  return (
    <section className="results-view" aria-label="Results">
      {error ? <ErrorBox error={error} title="Could not load the results" /> : null}
      {!shown && !error ? <p className="muted">Loading results…</p> : null}
      {shown ? (
        <>
          <p className={`results-source results-source-${shown.source === 'live' ? 'live' : 'official'}`} data-testid="results-source">
            <strong>{shown.source === 'live' ? 'Live, per-sample mean' : 'Official'}</strong>: {shown.label}
            {' · '}
            {shown.done} / {shown.total} samples
            {refreshing ? <span className="muted"> · {shown.scoring_pending ? 'results.json is being written…' : 'updating every 2 s'}</span> : null}
          </p>
          {shown.source === 'live' ? (
            <p className="muted small results-caveat">
              Scores here are means of the per-sample scores with 95% bootstrap intervals, computed from samples.jsonl. A benchmark&apos;s official number
              (results.json, written when <code>spatialclaw eval</code> ends or by <code>spatialclaw score</code>) follows its released aggregation and can differ.
            </p>
          ) : null}
          {shown.notes.length ? (
            <ul className="results-notes" aria-label="Notes on the results">
              {shown.notes.map((n) => (
                <li key={n}>{n}</li>
              ))}
            </ul>
          ) : null}
          <div className="results-tables">
            <PaperCategoriesTable r={shown} />
            {shown.benchmarks.map((b) => (
              <BenchmarkTable key={b.name ?? ''} b={b} />
            ))}
            {shown.benchmarks.length === 0 ? <p className="muted">No finished samples yet.</p> : null}
          </div>
          <div className="results-charts">
            {charts.map((c) => (
              <PlotlyChart key={c.id} figure={c.figure} label={c.label} testId={`results-chart-${c.id}`} filename={`${runId}-${c.id}`} />
            ))}
          </div>
        </>
      ) : null}
    </section>
  );
}

const TABS = [
  { id: 'samples', label: 'Samples' },
  { id: 'results', label: 'Results' },
] as const;

/**
 * A run's tabs, "Samples | Results": `children` (the samples view) or {@link ResultsView}. The open tab lives in
 * the UI store (`runTab`), so it stays when another run is opened.
 */
export function RunTabs({ runId, live, done, children }: ResultsViewProps & { children: ReactNode }) {
  const tab = useUi((s) => s.runTab);
  return (
    <>
      <div className="results-tabs" role="tablist" aria-label="Run views">
        {TABS.map((t) => (
          <button key={t.id} role="tab" id={`run-tab-${t.id}`} aria-selected={tab === t.id} aria-controls={`run-tabpanel-${t.id}`} onClick={() => uiStore.getState().setRunTab(t.id)}>
            {t.label}
          </button>
        ))}
      </div>
      <div role="tabpanel" id={`run-tabpanel-${tab}`} aria-labelledby={`run-tab-${tab}`} className={`results-tabpanel results-tabpanel-${tab}`}>
        {tab === 'results' ? <ResultsView runId={runId} live={live} done={done} /> : children}
      </div>
    </>
  );
}
