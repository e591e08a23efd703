import { useEffect, useMemo } from 'react';
import { describeProgress, type RunProgress, SAMPLE_PHASE_WORDS, SamplePhaseSchema } from '../../../shared/run.ts';
import type { RunDetail, RunQuery } from '../../../shared/workbench.ts';
import { useApi, useRuns, useRunsStore, useTriageStore, useUi, uiStore } from '../context.tsx';
import { COMPARE_MAX_RUNS } from '../../../shared/compare.ts';
import { toggleId } from '../compare.ts';
import { ErrorBox, fmtDate, fmtSeconds } from './common.tsx';
import { SampleView } from './Timeline.tsx';
import { AnnotationBar } from './Annotations.tsx';
import { ImportPanel } from './ImportPanel.tsx';
import { RunsTable } from './RunsTable.tsx';
import { TriageView, useTriageKeys } from './TriageView.tsx';
import { RunTabs } from './ResultsView.tsx';

function RunsList() {
  const store = useRunsStore();
  const runs = useRuns((s) => s.runs);
  const filters = useRuns((s) => s.filters);
  const error = useRuns((s) => s.runsError);
  const loading = useRuns((s) => s.runsLoading);
  const picked = useUi((s) => s.compareRunIds);
  useEffect(() => {
    void store.getState().loadRuns();
  }, [store]);
  const models = useMemo(() => [...new Set((runs ?? []).map((r) => r.model).filter((m): m is string => !!m))].sort(), [runs]);
  const setF = (f: Partial<RunQuery>) => store.getState().setFilters(f);
  return (
    <section aria-label="Runs list">
      <div className="filters row" role="search">
        <input
          aria-label="Search runs"
          className="run-search"
          placeholder="search id, model, dataset, benchmark, question text (3+ letters)"
          title="Matches the run id, model, dataset, kind and benchmark names, and (for 3 or more letters) the questions of the run's finished samples"
          value={filters.search ?? ''}
          onChange={(e) => setF({ search: e.target.value })}
        />
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
        <button onClick={() => uiStore.getState().setView('compare')} disabled={picked.length < 2 || picked.length > COMPARE_MAX_RUNS} title={`check 2 to ${COMPARE_MAX_RUNS} runs of the same benchmark`}>
          Compare selected ({picked.length})
        </button>
      </div>
      <ImportPanel />
      {error ? <ErrorBox error={error} title="Could not list runs" /> : null}
      {runs === null && !error ? <p className="muted">Loading runs…</p> : null}
      {runs && runs.length === 0 ? <p className="muted">No runs match. Ask a question or run a benchmark (spatialclaw run) to make one.</p> : null}
      {runs && runs.length > 0 ? (
        <RunsTable runs={runs} picked={picked} onPick={(id) => uiStore.getState().setCompareRuns(toggleId(picked, id))} onOpen={(id) => uiStore.getState().openRun(id)} label="Runs" />
      ) : null}
    </section>
  );
}

function RunDetailView({ runId }: { runId: string }) {
  const api = useApi();
  const store = useRunsStore();
  const detail = useRuns((s) => s.detail);
  const detailError = useRuns((s) => s.detailError);
  useEffect(() => {
    void store.getState().openRun(runId);
  }, [store, runId]);
  // A live sample of this host finished: fetch the detail at once (the triage list follows the done count).
  useEffect(() => {
    let timer: ReturnType<typeof setTimeout> | null = null;
    const off = api.subscribe((e) => {
      if (e.type !== 'sample_done' || e.run_id !== runId || timer) return;
      timer = setTimeout(() => {
        timer = null;
        void store.getState().refreshDetail();
      }, 500);
    });
    return () => {
      off();
      if (timer) clearTimeout(timer);
    };
  }, [api, store, runId]);
  // A live run (this host's or another process's, e.g. `spatialclaw eval`): poll its detail for progress; the
  // triage view reloads its samples when the done count moves.
  const live = detail?.live === true;
  useEffect(() => {
    if (!live) return;
    const t = setInterval(() => void store.getState().refreshDetail(), 1000);
    return () => clearInterval(t);
  }, [store, live]);
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
      <RunTabs runId={runId} live={live} done={detail?.done ?? 0}>
        <TriageView runId={runId} live={live} done={detail?.done} />
      </RunTabs>
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
  return runId ? <OpenRun runId={runId} sampleId={sampleId} /> : <RunsList />;
}

/** An open run: its detail and triage, or one of its samples; j/k and the tag keys work in both. */
function OpenRun({ runId, sampleId }: { runId: string; sampleId: string | null }) {
  const triage = useTriageStore();
  useEffect(() => {
    void triage.getState().open(runId);
    return () => void triage.getState().open(null);
  }, [triage, runId]);
  useTriageKeys(runId);
  if (sampleId) {
    return (
      <div className="run-sample">
        <div className="row">
          <button onClick={() => uiStore.getState().openSample(null)}>← Back to run {runId}</button>
          <span className="muted small">j / k: next / previous sample · 1–9: tag this sample</span>
        </div>
        <AnnotationBar runId={runId} sampleId={sampleId} step={null} compact />
        <SampleView key={`${runId}/${sampleId}`} runId={runId} sampleId={sampleId} />
      </div>
    );
  }
  return <RunDetailView runId={runId} />;
}
