/**
 * Compare: two to six runs of the same benchmark, the first the baseline (issue 15, "Compare runs"). Pick the runs
 * (checkboxes here or on the Runs list, then Compare), and see per run against the baseline: the paired summary
 * (samples in common, right → wrong and wrong → right counts, McNemar's exact p, the score difference with its 95%
 * paired bootstrap interval), the same per category, and every sample's answers side by side with its flips, filtered
 * and searched; a row opens the sample of two runs side by side (two step timelines). The numbers come from the host's
 * `compareRuns` (python-eval spatial_eval/compare.py, the same as `spatialclaw compare`); nothing is computed here.
 */
import { useCallback, useEffect, useMemo, useRef, useState } from 'react';
import { COMPARE_MAX_RUNS, type CompareAnswer, type CompareSample, type FlipKind, type PairedStats, type RunComparison } from '../../../shared/compare.ts';
import type { RunRow } from '../../../shared/workbench.ts';
import { type ShownError, toShownError } from '../api.ts';
import { answerWords, asBaseline, FLIP_FILTERS, FLIP_WORDS, type FlipFilter, filterSamples, fmtCi, fmtP, fmtPct, fmtPoints, toggleId } from '../compare.ts';
import { useApi, useUi, uiStore } from '../context.tsx';
import { ErrorBox } from './common.tsx';
import { RunsTable } from './RunsTable.tsx';
import { SampleView } from './Timeline.tsx';

/** Rows of the per-sample table rendered at first, and added by "Show more". */
const PAGE = 200;

const answerClass = (a: CompareAnswer | null): string => (!a || a.correct === null ? 'unscored' : a.correct ? 'right' : 'wrong');

/** The flip from run `from` to run `to` of a sample: the host's for baseline pairs, else from the two answers. */
function flipBetween(s: CompareSample, from: number, to: number): FlipKind | null {
  if (from === 0 && to > 0) return s.flips[to - 1] ?? null;
  const a = s.runs[from];
  const b = s.runs[to];
  if (!a || !b || a.correct === null || b.correct === null) return null;
  return a.correct === b.correct ? 'same' : a.correct ? 'right_to_wrong' : 'wrong_to_right';
}

function FlipLabel({ flip }: { flip: FlipKind | null }) {
  if (!flip) return <span className="compare-flip none">—</span>;
  return (
    <span className={`compare-flip ${flip}`}>
      {flip === 'right_to_wrong' ? '▼ ' : flip === 'wrong_to_right' ? '▲ ' : ''}
      {FLIP_WORDS[flip]}
    </span>
  );
}

// ---------------------------------------------------------------------------------------------------
// Picking runs

function RunPicker({ picked, onCompare, busy, stale }: { picked: string[]; onCompare: (ids: string[]) => void; busy: boolean; stale: boolean }) {
  const api = useApi();
  const [runs, setRuns] = useState<RunRow[] | null>(null);
  const [error, setError] = useState<ShownError | null>(null);
  const [search, setSearch] = useState('');
  const [tick, setTick] = useState(0);
  useEffect(() => {
    let cancelled = false;
    api.call('listRuns', {}).then(
      (r) => {
        if (cancelled) return;
        setRuns(r);
        setError(null);
      },
      (e: unknown) => !cancelled && setError(toShownError(e)),
    );
    return () => {
      cancelled = true;
    };
  }, [api, tick]);
  const shown = useMemo(() => {
    const q = search.trim().toLowerCase();
    return (runs ?? []).filter((r) => !q || `${r.id} ${r.model ?? ''} ${r.kind ?? ''}`.toLowerCase().includes(q));
  }, [runs, search]);
  const set = (ids: string[]) => uiStore.getState().setCompareRuns(ids);
  const tooMany = picked.length > COMPARE_MAX_RUNS;
  return (
    <section className="compare-picker" aria-label="Pick runs">
      <div className="row">
        <input aria-label="Search runs to compare" placeholder="search id, model, kind" value={search} onChange={(e) => setSearch(e.target.value)} />
        <button onClick={() => setTick((t) => t + 1)}>Refresh</button>
        <button className="primary" disabled={busy || picked.length < 2 || tooMany} onClick={() => onCompare(picked)}>
          {busy ? 'Comparing…' : `Compare ${picked.length} runs`}
        </button>
        {picked.length < 2 ? <span className="muted small">pick two or more runs of the same benchmark</span> : null}
        {tooMany ? <span className="error small">at most {COMPARE_MAX_RUNS} runs at once</span> : null}
        {stale ? <span className="muted small">the selection changed: Compare again to update</span> : null}
      </div>
      {picked.length ? (
        <ol className="compare-picked" aria-label="Runs picked, baseline first">
          {picked.map((id, i) => (
            <li key={id}>
              <code>{id}</code> {i === 0 ? <span className="badge">baseline</span> : <button className="link" onClick={() => set(asBaseline(picked, id))}>make baseline</button>}{' '}
              <button className="chip-x" aria-label={`Remove ${id}`} onClick={() => set(toggleId(picked, id))}>
                ×
              </button>
            </li>
          ))}
        </ol>
      ) : null}
      {error ? <ErrorBox error={error} title="Could not list runs" /> : null}
      {runs === null && !error ? <p className="muted">Loading runs…</p> : null}
      {runs && runs.length === 0 ? <p className="muted">No runs yet. Run a benchmark twice (spatialclaw eval) to compare the runs.</p> : null}
      {shown.length ? (
        <div className="compare-picker-scroll">
          <RunsTable runs={shown} picked={picked} onPick={(id) => set(toggleId(picked, id))} label="Runs to compare" />
        </div>
      ) : null}
    </section>
  );
}

// ---------------------------------------------------------------------------------------------------
// The comparison

/** The stat cells shared by the summary and the per-category table. */
function StatCells({ s }: { s: PairedStats }) {
  return (
    <>
      <td>{s.n_common}</td>
      <td>{fmtPct(s.mean_a)}</td>
      <td>{fmtPct(s.mean_b)}</td>
      <td className={s.delta === null || s.delta === 0 ? '' : s.delta > 0 ? 'compare-up' : 'compare-down'}>{fmtPoints(s.delta)}</td>
      <td>{fmtCi(s.delta_ci95)}</td>
      <td>{s.a_only_correct}</td>
      <td>{s.b_only_correct}</td>
      <td>{s.n_discordant}</td>
      <td>{fmtP(s.mcnemar_p)}</td>
    </>
  );
}

const STAT_HEADS = ['n common', 'baseline %', 'run %', 'Δ points', '95% CI (paired bootstrap)', 'right → wrong', 'wrong → right', 'n discordant', 'McNemar p'];

export function Summary({ result }: { result: RunComparison }) {
  const base = result.baseline;
  return (
    <table className="compare-table" aria-label="Comparison summary">
      <caption>
        Against the baseline <code>{base}</code>: samples both runs scored, correct = score ≥ {result.correct_at}; Δ = run − baseline in percentage points, 95% CI from{' '}
        {result.resamples} paired bootstrap resamples; McNemar&apos;s exact test on the discordant samples.
      </caption>
      <thead>
        <tr>
          <th>run</th>
          {STAT_HEADS.map((h) => (
            <th key={h}>{h}</th>
          ))}
          <th>only in baseline / run</th>
        </tr>
      </thead>
      <tbody>
        {result.pairs.map((p) => (
          <tr key={p.b}>
            <td>
              <code>{p.b}</code>
            </td>
            <StatCells s={p} />
            <td>
              {p.a_only_samples} / {p.b_only_samples}
            </td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

export function PerCategory({ result, pair }: { result: RunComparison; pair: number }) {
  const p = result.pairs[pair];
  if (!p) return null;
  const rows = Object.entries(p.per_task);
  return (
    <table className="compare-table" aria-label="Per category">
      <caption>
        Per category (<code>{p.b}</code> against <code>{p.a}</code>): the same statistics on each category&apos;s samples.
      </caption>
      <thead>
        <tr>
          <th>category</th>
          {STAT_HEADS.map((h) => (
            <th key={h}>{h}</th>
          ))}
        </tr>
      </thead>
      <tbody>
        {rows.map(([task, s]) => (
          <tr key={task}>
            <td>{task}</td>
            <StatCells s={s} />
          </tr>
        ))}
      </tbody>
    </table>
  );
}

export function SampleTable({ result, rows, pair, onOpen }: { result: RunComparison; rows: CompareSample[]; pair: number; onOpen: (id: string) => void }) {
  // Remounted (key) when the filter changes, so each new filter starts at one page again.
  const [shown, setShown] = useState(PAGE);
  const pairs = result.pairs.length;
  return (
    <>
      <div className="compare-samples-scroll">
        <table className="compare-table compare-samples" aria-label="Per-sample answers">
          <thead>
            <tr>
              <th>sample</th>
              <th>category</th>
              <th>question</th>
              <th>ground truth</th>
              {result.runs.map((r, i) => (
                <th key={r.id}>
                  <code>{r.id}</code>
                  {i === 0 ? ' (baseline)' : ''}
                </th>
              ))}
              {result.pairs.map((p) => (
                <th key={p.b}>{pairs > 1 ? `flip to ${p.b}` : 'flip'}</th>
              ))}
            </tr>
          </thead>
          <tbody>
            {rows.slice(0, shown).map((s) => {
              const f = s.flips[pair] ?? null;
              return (
                <tr key={s.id} className={`compare-row flip-${f ?? 'none'}`} onClick={() => onOpen(s.id)}>
                  <td>
                    <button
                      className="link"
                      aria-label={`Open ${s.id} side by side`}
                      onClick={(e) => {
                        e.stopPropagation();
                        onOpen(s.id);
                      }}
                    >
                      {s.id}
                    </button>
                  </td>
                  <td>{s.task}</td>
                  <td className="compare-q" title={s.question ?? ''}>
                    {s.question ?? '—'}
                  </td>
                  <td>{s.ground_truth ?? '—'}</td>
                  {s.runs.map((a, i) => (
                    <td key={i} className={`compare-ans ${answerClass(a)}`}>
                      {answerWords(a)}
                    </td>
                  ))}
                  {s.flips.map((fl, i) => (
                    <td key={i}>
                      <FlipLabel flip={fl} />
                    </td>
                  ))}
                </tr>
              );
            })}
          </tbody>
        </table>
      </div>
      {rows.length > shown ? (
        <button onClick={() => setShown((n) => n + PAGE)}>
          Show {Math.min(PAGE, rows.length - shown)} more ({rows.length - shown} not shown)
        </button>
      ) : null}
    </>
  );
}

// ---------------------------------------------------------------------------------------------------
// One sample of two runs, side by side

export function SideBySide({ result, sample, sides, setSides, position, onStep, onBack }: {
  result: RunComparison;
  sample: CompareSample;
  sides: [number, number];
  setSides: (s: [number, number]) => void;
  position: { index: number; total: number };
  onStep: (delta: number) => void;
  onBack: () => void;
}) {
  const flip = flipBetween(sample, sides[0], sides[1]);
  return (
    <section className="compare-sxs" aria-label="Side by side">
      <div className="row">
        <button onClick={onBack}>← Back to the comparison</button>
        <button onClick={() => onStep(-1)} disabled={position.index <= 0}>
          ↑ Previous
        </button>
        <button onClick={() => onStep(1)} disabled={position.index < 0 || position.index >= position.total - 1}>
          ↓ Next
        </button>
        <span className="muted small">{position.index >= 0 ? `${position.index + 1} of ${position.total} samples shown in the table` : 'not in the filtered table'}</span>
      </div>
      <div className="compare-sxs-head row">
        <strong>{sample.id}</strong>
        <span className="muted">{sample.task}</span>
        <span>ground truth {sample.ground_truth ?? '—'}</span>
        <span data-testid="sxs-flip">
          <code>{result.runs[sides[0]]!.id}</code> → <code>{result.runs[sides[1]]!.id}</code>: <FlipLabel flip={flip} />
        </span>
      </div>
      <div className="compare-sxs-cols">
        {sides.map((ri, col) => {
          const run = result.runs[ri]!;
          const a = sample.runs[ri] ?? null;
          return (
            <section key={col} className="compare-sxs-col" aria-label={`${run.id}: ${sample.id}`}>
              <div className="row">
                <select
                  aria-label={col === 0 ? 'Left run' : 'Right run'}
                  value={ri}
                  onChange={(e) => {
                    const next: [number, number] = [...sides];
                    next[col] = Number(e.target.value);
                    setSides(next);
                  }}
                >
                  {result.runs.map((r, i) => (
                    <option key={r.id} value={i}>
                      {r.id}
                      {i === 0 ? ' (baseline)' : ''}
                    </option>
                  ))}
                </select>
                <span className={`compare-ans ${answerClass(a)}`} data-testid={`sxs-answer-${col}`}>
                  {answerWords(a)}
                </span>
              </div>
              {a ? <SampleView key={`${run.id}/${sample.id}`} runId={run.id} sampleId={sample.id} /> : <p className="muted">Run {run.id} did not record {sample.id}.</p>}
            </section>
          );
        })}
      </div>
    </section>
  );
}

// ---------------------------------------------------------------------------------------------------
// The view

export function CompareView() {
  const api = useApi();
  const picked = useUi((s) => s.compareRunIds);
  const [result, setResult] = useState<RunComparison | null>(null);
  const [error, setError] = useState<ShownError | null>(null);
  const [busy, setBusy] = useState(false);
  const [pair, setPair] = useState(0);
  const [filter, setFilter] = useState<FlipFilter>('all');
  const [search, setSearch] = useState('');
  const [open, setOpen] = useState<string | null>(null);
  const [sides, setSides] = useState<[number, number]>([0, 1]);
  const generation = useRef(0);

  const compare = useCallback(
    async (ids: string[]) => {
      const g = ++generation.current;
      setBusy(true);
      setError(null);
      try {
        const r = await api.call('compareRuns', { run_ids: ids });
        if (g !== generation.current) return;
        setResult(r);
        setPair(0);
        setOpen(null);
      } catch (e) {
        if (g === generation.current) setError(toShownError(e));
      } finally {
        if (g === generation.current) setBusy(false);
      }
    },
    [api],
  );
  // Arriving with runs picked ("Compare selected" on the Runs list): compare them at once.
  const first = useRef(picked);
  useEffect(() => {
    if (first.current.length >= 2 && first.current.length <= COMPARE_MAX_RUNS) void compare(first.current);
  }, [compare]);

  const rows = useMemo(() => (result ? filterSamples(result.samples, { pair, filter, search }) : []), [result, pair, filter, search]);
  const stale = !!result && result.runs.map((r) => r.id).join('\n') !== picked.join('\n');

  if (result && open) {
    const sample = result.samples.find((s) => s.id === open);
    if (sample) {
      const index = rows.findIndex((s) => s.id === open);
      return (
        <div className="compare">
          <SideBySide
            result={result}
            sample={sample}
            sides={sides}
            setSides={setSides}
            position={{ index, total: rows.length }}
            onStep={(d) => {
              const next = rows[index + d];
              if (next) setOpen(next.id);
            }}
            onBack={() => setOpen(null)}
          />
        </div>
      );
    }
  }

  return (
    <div className="compare">
      <RunPicker picked={picked} onCompare={(ids) => void compare(ids)} busy={busy} stale={stale} />
      {busy ? (
        <p role="status" className="muted">
          Comparing {picked.length} runs (McNemar&apos;s test and the paired bootstrap, per pair and category)…
        </p>
      ) : null}
      {error ? <ErrorBox error={error} title="Could not compare the runs" /> : null}
      {result ? (
        <section className="compare-result" aria-label="Comparison">
          <Summary result={result} />
          {result.pairs.length > 1 ? (
            <label className="inline">
              Run against the baseline{' '}
              <select aria-label="Run against the baseline" value={pair} onChange={(e) => setPair(Number(e.target.value))}>
                {result.pairs.map((p, i) => (
                  <option key={p.b} value={i}>
                    {p.b}
                  </option>
                ))}
              </select>
            </label>
          ) : null}
          <PerCategory result={result} pair={pair} />
          <div className="row compare-filters" role="search">
            <select aria-label="Show samples" value={filter} onChange={(e) => setFilter(e.target.value as FlipFilter)}>
              {FLIP_FILTERS.map((f) => (
                <option key={f.id} value={f.id}>
                  {f.label}
                </option>
              ))}
            </select>
            <input aria-label="Search samples" placeholder="search id, question, answers" value={search} onChange={(e) => setSearch(e.target.value)} />
            <span className="muted small" data-testid="compare-count">
              {rows.length} of {result.samples.length} samples
              {result.pairs.length > 1 ? ` (flips of ${result.pairs[pair]?.b ?? ''} against ${result.baseline})` : ''}
            </span>
          </div>
          <SampleTable
            key={`${pair}\n${filter}\n${search}`}
            result={result}
            rows={rows}
            pair={pair}
            onOpen={(id) => {
              setSides([0, pair + 1]);
              setOpen(id);
            }}
          />
        </section>
      ) : null}
    </div>
  );
}
