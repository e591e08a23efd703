import { useVirtualizer } from '@tanstack/react-virtual';
import { useEffect, useMemo, useRef } from 'react';
import { describeProgress, type RunProgress, SAMPLE_PHASE_WORDS, type SampleResult, SamplePhaseSchema } from '../../../shared/run.ts';
import type { RunDetail, RunQuery } from '../../../shared/workbench.ts';
import { useApi, useRuns, useRunsStore, useUi, uiStore } from '../context.tsx';
import { ErrorBox, fmtDate, fmtSeconds } from './common.tsx';
import { SampleView } from './Timeline.tsx';

function RunsList() {
  const store = useRunsStore();
  const runs = useRuns((s) => s.runs);
  const filters = useRuns((s) => s.filters);
  const error = useRuns((s) => s.runsError);
  const loading = useRuns((s) => s.runsLoading);
  useEffect(() => {
    void store.getState().loadRuns();
  }, [store]);
  const models = useMemo(() => [...new Set((runs ?? []).map((r) => r.model).filter((m): m is string => !!m))].sort(), [runs]);
  const setF = (f: Partial<RunQuery>) => store.getState().setFilters(f);
  return (
    <section aria-label="Runs list">
      <div className="filters row" role="search">
        <input aria-label="Search runs" placeholder="search id, model, dataset" value={filters.search ?? ''} onChange={(e) => setF({ search: e.target.value })} />
        <select aria-label="Status filter" value={filters.status ?? ''} onChange={(e) => setF({ status: (e.target.value || undefined) as RunQuery['status'] })}>
          <option value="">any status</option>
          <option value="running">running</option>
          <option value="finished">finished</option>
          <option value="interrupted">interrupted</option>
          <option value="failed">failed</option>
        </select>
        <input aria-label="Model filter" list="run-models" placeholder="model" value={filters.model ?? ''} onChange={(e) => setF({ model: e.target.value || undefined })} />
        <datalist id="run-models">
          {models.map((m) => (
            <option key={m} value={m} />
          ))}
        </datalist>
        <label className="inline">
          from <input type="date" aria-label="From date" value={filters.from ?? ''} onChange={(e) => setF({ from: e.target.value || undefined })} />
        </label>
        <label className="inline">
          to <input type="date" aria-label="To date" value={filters.to ?? ''} onChange={(e) => setF({ to: e.target.value || undefined })} />
        </label>
        <button onClick={() => void store.getState().loadRuns()} disabled={loading}>
          Refresh
        </button>
      </div>
      {error ? <ErrorBox error={error} title="Could not list runs" /> : null}
      {runs === null && !error ? <p className="muted">Loading runs…</p> : null}
      {runs && runs.length === 0 ? <p className="muted">No runs match. Ask a question or run a benchmark (spatialclaw run) to make one.</p> : null}
      {runs && runs.length > 0 ? (
        <table className="runs" aria-label="Runs">
          <thead>
            <tr>
              <th>Run</th>
              <th>Kind</th>
              <th>Status</th>
              <th>Model</th>
              <th>Created</th>
              <th>Samples</th>
            </tr>
          </thead>
          <tbody>
            {runs.map((r) => (
              <tr key={r.id}>
                <td>
                  <button className="link" onClick={() => uiStore.getState().openRun(r.id)}>
                    {r.id}
                  </button>
                </td>
                <td>{r.kind ?? '—'}</td>
                <td>
                  <span className={`badge status-${r.status}`}>{r.live ? 'live' : r.status}</span>
                  {r.error ? <span className="error small"> {r.error}</span> : null}
                </td>
                <td>{r.model ?? '—'}</td>
                <td>{fmtDate(r.created_at)}</td>
                <td>
                  {r.done} / {r.total_samples}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      ) : null}
    </section>
  );
}

const COLS = ['Sample', 'Question', 'Answer', 'Ground truth', 'Score', 'Steps', 'Time'];
const ROW_H = 34;

function SampleRow({ row, index }: { row: SampleResult | undefined; index: number }) {
  if (!row) {
    return (
      <div role="row" className="srow placeholder" aria-rowindex={index + 2}>
        <div role="cell" className="muted">
          #{index + 1} loading…
        </div>
      </div>
    );
  }
  return (
    <div role="row" className={`srow term-${row.termination}`} aria-rowindex={index + 2}>
      <div role="cell">
        <button className="link" onClick={() => uiStore.getState().openSample(row.id)}>
          {row.id}
        </button>
      </div>
      <div role="cell" className="q" title={row.question}>
        {row.question}
      </div>
      <div role="cell">{row.answer === null ? <span className="muted">—</span> : String(row.answer)}</div>
      <div role="cell">{row.ground_truth === null ? <span className="muted">—</span> : String(row.ground_truth)}</div>
      <div role="cell">{row.score === null ? '—' : row.score.toFixed(2)}</div>
      <div role="cell">{row.steps}</div>
      <div role="cell">{fmtSeconds(row.duration_s)}</div>
    </div>
  );
}

/** The samples of a run: virtualised rows, pages fetched with listSamples as they scroll into view. */
function SamplesTable() {
  const store = useRunsStore();
  const total = useRuns((s) => s.total);
  const pages = useRuns((s) => s.pages);
  const pageSize = useRuns((s) => s.pageSize);
  const scrollRef = useRef<HTMLDivElement>(null);
  const count = total ?? 0;
  // eslint-disable-next-line react-hooks/incompatible-library -- the virtualizer is read during render only
  const virtualizer = useVirtualizer({ count, getScrollElement: () => scrollRef.current, estimateSize: () => ROW_H, overscan: 10 });
  const items = virtualizer.getVirtualItems();
  const first = items[0]?.index ?? 0;
  const last = items.at(-1)?.index ?? 0;
  useEffect(() => {
    if (count > 0) void store.getState().ensureRows(first, last + 1);
  }, [store, first, last, count]);
  return (
    <div role="table" aria-label="Samples" aria-rowcount={count + 1} className="samples-table">
      <div role="rowgroup">
        <div role="row" className="srow shead" aria-rowindex={1}>
          {COLS.map((c) => (
            <div role="columnheader" key={c}>
              {c}
            </div>
          ))}
        </div>
      </div>
      <div role="rowgroup" className="samples-scroll" ref={scrollRef}>
        <div style={{ height: virtualizer.getTotalSize(), position: 'relative' }}>
          {items.map((v) => (
            <div key={v.key} className="vrow" style={{ height: ROW_H, transform: `translateY(${v.start}px)` }}>
              <SampleRow row={pages[Math.floor(v.index / pageSize)]?.[v.index % pageSize]} index={v.index} />
            </div>
          ))}
        </div>
        {total === 0 ? <p className="muted">No finished samples (yet, or matching the search).</p> : null}
      </div>
    </div>
  );
}

function RunDetailView({ runId }: { runId: string }) {
  const api = useApi();
  const store = useRunsStore();
  const detail = useRuns((s) => s.detail);
  const detailError = useRuns((s) => s.detailError);
  const samplesError = useRuns((s) => s.samplesError);
  const total = useRuns((s) => s.total);
  const filter = useRuns((s) => s.sampleFilter);
  useEffect(() => {
    void store.getState().openRun(runId);
  }, [store, runId]);
  // A live run: refresh the table when one of its samples finishes (at most every 2 s).
  useEffect(() => {
    let timer: ReturnType<typeof setTimeout> | null = null;
    const off = api.subscribe((e) => {
      if (e.type !== 'sample_done' || e.run_id !== runId || timer) return;
      timer = setTimeout(() => {
        timer = null;
        void store.getState().refreshRun();
      }, 2000);
    });
    return () => {
      off();
      if (timer) clearTimeout(timer);
    };
  }, [api, store, runId]);
  // A live run (this host's or another process's, e.g. `spatialclaw eval`): poll its detail for progress, and reload
  // the samples table when the done count moves.
  const live = detail?.live === true;
  const doneCount = detail?.done;
  useEffect(() => {
    if (!live) return;
    const t = setInterval(() => void store.getState().refreshDetail(), 1000);
    return () => clearInterval(t);
  }, [store, live]);
  // The done count this view last saw for its run (a new run starts over: its first count loads nothing extra).
  const seenDone = useRef<{ runId: string; done: number } | null>(null);
  const detailRun = detail?.id;
  useEffect(() => {
    if (doneCount === undefined || detailRun === undefined) return;
    const seen = seenDone.current;
    seenDone.current = { runId: detailRun, done: doneCount };
    if (seen && seen.runId === detailRun && seen.done !== doneCount) void store.getState().reloadSamples();
  }, [store, detailRun, doneCount]);
  const cfgModel = detail?.info.config['model'];
  const modelName = cfgModel && typeof cfgModel === 'object' && 'name' in cfgModel ? String((cfgModel as { name: unknown }).name) : null;
  return (
    <section className="run-detail" aria-label={`Run ${runId}`}>
      <div className="row">
        <button onClick={() => uiStore.getState().openRun(null)}>← All runs</button>
        <h3>{runId}</h3>
      </div>
      {detailError ? <ErrorBox error={detailError} title="Could not open the run" /> : null}
      {detail ? (
        <p className="run-summary">
          <span className={`badge status-${detail.info.status}`}>{detail.live ? 'live' : detail.info.status}</span> {detail.done} / {detail.info.total_samples} samples done
          {detail.accuracy !== null ? ` · ${detail.results ? 'mean per-sample score' : 'mean score'} ${detail.accuracy.toFixed(3)}` : ''}
          {modelName ? ` · model ${modelName}` : ''} · created {fmtDate(detail.info.created_at)}
        </p>
      ) : null}
      {detail?.live && detail.progress ? <ProgressPanel progress={detail.progress} /> : null}
      {detail?.results ? <ResultsTable results={detail.results} /> : null}
      <div className="filters row">
        <input aria-label="Search samples" placeholder="search question or id" value={filter.search} onChange={(e) => store.getState().setSampleFilter({ search: e.target.value })} />
        <select aria-label="Sort samples" value={filter.sort} onChange={(e) => store.getState().setSampleFilter({ sort: e.target.value as typeof filter.sort })}>
          <option value="index">in order</option>
          <option value="score">by score</option>
          <option value="steps">by steps</option>
          <option value="duration">by time</option>
        </select>
        <span className="muted small">{total === null ? 'loading…' : `${total} samples`}</span>
      </div>
      {samplesError ? <ErrorBox error={samplesError} title="Could not load samples" /> : null}
      <SamplesTable />
    </section>
  );
}

/** A batch in flight: the same line the CLI prints, bars for samples done and kernels ready, and where samples are. */
function ProgressPanel({ progress: p }: { progress: RunProgress }) {
  const k = p.kernels;
  return (
    <section className="run-progress" aria-label="Run progress">
      <p role="status" className="progress-line">{describeProgress(p)}</p>
      <div className="progress-bars">
        <label>
          samples {p.samples.done}/{p.samples.total}
          <progress max={Math.max(p.samples.total, 1)} value={p.samples.done} aria-label="Samples done" />
        </label>
        {k ? (
          <label>
            kernels {k.ready}/{k.target} ready{k.starting ? ` (${k.starting} starting)` : ''}
            <progress max={Math.max(k.target, 1)} value={k.ready} aria-label="Kernels ready" />
          </label>
        ) : null}
      </div>
      <ul className="phase-counts">
        {SamplePhaseSchema.options.map((ph) => (
          <li key={ph} className={p.samples.phases[ph] ? '' : 'muted'}>{p.samples.phases[ph] ?? 0} {SAMPLE_PHASE_WORDS[ph]}</li>
        ))}
      </ul>
      <p className="muted small">
        {p.stage} · {fmtSeconds(p.elapsed_s)} since start
        {p.first_model_call_s !== null ? ` · first model call at ${fmtSeconds(p.first_model_call_s)}` : ''}
        {k ? ` · ${k.started} kernels started, ${k.reused} reuses` : ''}
      </p>
    </section>
  );
}

const pct = (x: number | null): string => (x === null ? '—' : (100 * x).toFixed(1));

/** A benchmark run's results.json: each benchmark as its released evaluation aggregates it, next to the paper. */
function ResultsTable({ results }: { results: NonNullable<RunDetail['results']> }) {
  return (
    <table className="results-table" aria-label="Benchmark results">
      <caption>
        Results ({results.scoring} scoring, results.json) · mean over {results.mean.count} of the paper&apos;s {results.mean.of} benchmarks:{' '}
        {pct(results.mean.value)}%{results.mean.count < results.mean.of ? ' (not comparable with the paper\'s average)' : ''}
      </caption>
      <thead>
        <tr><th>benchmark</th><th>n</th><th>score %</th><th>95% CI</th><th>paper %</th></tr>
      </thead>
      <tbody>
        {results.benchmarks.map((b) => (
          <tr key={b.name}>
            <td title={b.name}>{b.title}</td>
            <td>{b.n}</td>
            <td>{pct(b.overall)}</td>
            <td>{b.ci95 ? `${pct(b.ci95[0])}–${pct(b.ci95[1])}` : '—'}</td>
            <td>{pct(b.paper)}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

/** Runs: the list → a run's samples → one sample's timeline and console. */
export function RunsView() {
  const runId = useUi((s) => s.openRunId);
  const sampleId = useUi((s) => s.openSampleId);
  if (runId && sampleId) {
    return (
      <div className="run-sample">
        <div className="row">
          <button onClick={() => uiStore.getState().openSample(null)}>← Back to run {runId}</button>
        </div>
        <SampleView key={`${runId}/${sampleId}`} runId={runId} sampleId={sampleId} />
      </div>
    );
  }
  if (runId) return <RunDetailView runId={runId} />;
  return <RunsList />;
}
